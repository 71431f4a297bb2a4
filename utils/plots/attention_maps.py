"""Where attention goes: heatmaps of the weights ``α_{t,j}``, one query's weights as bars,
a grid of self-attention maps per layer and head, and sentences shaded token by token.

Chapters 2 to 7 draw their weights with these, and so do the explorers of :mod:`utils.widgets`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from utils.plots.arrays import to_numpy

__all__ = ["attention_heatmap", "weights_bar", "attention_grid", "token_weights"]


def attention_heatmap(
    weights,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "keys (source positions j)",
    ylabel: str = "queries (steps t)",
    annotate: bool = False,
    cmap: str = "viridis",
    colorbar: bool = True,
    colorbar_label: str = "attention weight",
) -> Axes:
    """Draw attention weights ``α_{t,j}`` as a heatmap, one row per query, one column per key.

    Args:
        weights: ``(T_q, T_k)``; a leading batch dimension of size 1 is dropped.
        x_labels: ``T_k`` labels for the keys (source tokens), or None.
        y_labels: ``T_q`` labels for the queries (output tokens), or None.
        ax: where to draw; a new figure if None.
        title, xlabel, ylabel: text.
        annotate: write each weight in its cell (for small maps).
        cmap: a Matplotlib colormap name.
        colorbar: add a colour bar.
        colorbar_label: what the colours measure, written along the colour bar.

    Returns:
        The ``Axes`` drawn on.
    """
    w = to_numpy(weights)
    while w.ndim > 2 and w.shape[0] == 1:
        w = w[0]
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (T_q, T_k), got shape {w.shape}")
    T_q, T_k = w.shape
    for name, labels, n in (("x_labels", x_labels, T_k), ("y_labels", y_labels, T_q)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels but weights have {n} along that axis")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.45 * T_k + 1.5), max(2.5, 0.4 * T_q + 1.0)))
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-12, float(w.max())), aspect="auto")
    ax.set_xticks(range(T_k), labels=list(x_labels) if x_labels is not None else None)
    ax.set_yticks(range(T_q), labels=list(y_labels) if y_labels is not None else None)
    if x_labels is not None and max((len(str(s)) for s in x_labels), default=0) > 2:
        ax.tick_params(axis="x", labelrotation=90)
    if annotate:
        for t in range(T_q):
            for j in range(T_k):
                ax.text(j, t, f"{w[t, j]:.2f}", ha="center", va="center",
                        color="white" if w[t, j] < 0.6 * w.max() else "black", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(colorbar_label)
    return ax


def weights_bar(weights, labels: Sequence[str] | None = None, ax: Axes | None = None,
                title: str | None = None, highlight_max: bool = True) -> Axes:
    """Draw one query's weights ``α_j`` as bars (they sum to one).

    Args:
        weights: ``(T_k,)``.
        labels: ``T_k`` labels.
        ax: where to draw; a new figure if None.
        title: text above.
        highlight_max: colour the largest weight differently.
    """
    w = to_numpy(weights).reshape(-1)
    if labels is not None and len(labels) != len(w):
        raise ValueError(f"labels has {len(labels)} entries but weights has {len(w)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.5))
    colors = ["tab:blue"] * len(w)
    if highlight_max and len(w):
        colors[int(np.argmax(w))] = "tab:orange"
    ax.bar(range(len(w)), w, color=colors)
    ax.set_xticks(range(len(w)), labels=list(labels) if labels is not None else None)
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight α")
    if title:
        ax.set_title(title)
    return ax


def attention_grid(weights, labels: Sequence[str] | None = None, title: str | None = None,
                   cmap: str = "viridis", cell_size: float = 2.2):
    """Draw self-attention maps per layer and head: one row per layer, one column per head.

    Args:
        weights: a list with one ``(H, T, T)`` tensor per layer (a leading batch of 1 is
            dropped), or one ``(L, H, T, T)`` tensor.
        labels: ``T`` token labels, used for both axes (queries down, keys across).
        title: a title above the grid.
        cmap: a Matplotlib colormap name.
        cell_size: inches per panel.

    Returns:
        The Matplotlib ``Figure``.
    """
    layers = [to_numpy(w) for w in weights]
    layers = [w[0] if w.ndim == 4 and w.shape[0] == 1 else w for w in layers]
    if not layers or any(w.ndim != 3 for w in layers):
        raise ValueError(f"weights must be L tensors of shape (H, T, T), got shapes {[w.shape for w in layers]}")
    L, H = len(layers), layers[0].shape[0]
    fig, axes = plt.subplots(L, H, figsize=(cell_size * H + 0.4, cell_size * L + 0.4), squeeze=False)
    top = max(1e-12, max(float(w.max()) for w in layers))
    for layer, w in enumerate(layers):
        for h in range(H):
            ax = axes[layer][h]
            attention_heatmap(w[h], x_labels=labels, y_labels=labels, ax=ax, cmap=cmap, colorbar=False,
                              title=f"layer {layer + 1}, head {h + 1}", xlabel="", ylabel="")
            ax.images[0].set_clim(0.0, top)  # every head on one scale, so that they compare
            ax.tick_params(labelsize=7)
            if labels is not None:
                ax.tick_params(axis="x", labelrotation=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.colorbar(axes[0][0].images[0], ax=axes, fraction=0.02, pad=0.02).set_label("attention weight")
    return fig


def token_weights(sentences: Sequence[Sequence[str]], weights, row_labels: Sequence[str] | None = None,
                  ax: Axes | None = None, title: str | None = None, cmap: str = "Oranges") -> Axes:
    """Draw sentences as rows of cells, each token shaded by its weight (e.g. attention pooling).

    Args:
        sentences: ``N`` token lists (any lengths).
        weights: ``N`` weight vectors, each at least as long as its sentence (padding beyond it
            is ignored), or an ``(N, T)`` tensor.
        row_labels: ``N`` labels drawn at the left (e.g. the true and predicted class).
        ax: where to draw; a new figure if None.
        title: text above.
        cmap: a Matplotlib colormap name; each row is scaled to its own largest weight.
    """
    if len(sentences) != len(weights):
        raise ValueError(f"{len(sentences)} sentences but {len(weights)} weight vectors")
    T = max(len(s) for s in sentences)
    grid = np.full((len(sentences), T), np.nan)
    for i, (tokens, w) in enumerate(zip(sentences, weights)):
        w = to_numpy(w).reshape(-1)
        if len(w) < len(tokens):
            raise ValueError(f"sentence {i} has {len(tokens)} tokens but only {len(w)} weights")
        grid[i, : len(tokens)] = w[: len(tokens)] / max(float(w[: len(tokens)].max()), 1e-12)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.78 * T + 1.5, 0.42 * len(sentences) + 0.6))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02).set_label("weight / the row's largest")
    for i, tokens in enumerate(sentences):
        for j, tok in enumerate(tokens):
            ax.text(j, i, tok, ha="center", va="center", fontsize=8,
                    color="white" if grid[i, j] > 0.7 else "black")
    ax.set_xticks([])
    if row_labels is not None and len(row_labels) != len(sentences):
        raise ValueError(f"{len(row_labels)} row labels but {len(sentences)} sentences")
    ax.set_yticks(range(len(sentences)) if row_labels is not None else [],
                  labels=list(row_labels) if row_labels is not None else None)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return ax
