"""Figures the chapters share: attention heatmaps and friends.

Every function draws on a Matplotlib ``Axes`` (a new one if none is given) and returns it, so a
notebook can arrange several panels. Inputs may be tensors on any device or NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

__all__ = ["to_numpy", "attention_heatmap", "weights_bar", "attention_grid", "token_weights",
           "accuracy_vs_length", "error_by_position", "compare_tokens",
           "attention_overlay", "caption_attention"]


def to_numpy(x) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64 if x.is_floating_point() else x.dtype).numpy()
    return np.asarray(x)


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


def accuracy_vs_length(curves, ax: Axes | None = None, title: str | None = None,
                       token_accuracy: bool = True, chance: float | None = None) -> Axes:
    """Exact match (solid) and per-token accuracy (dashed) against source length, one colour
    per model — chapter 1's plain encoder–decoder, chapter 4's attention decoder.

    Args:
        curves: ``label -> report``, where a report has ``lengths``, ``exact_match_by_length``
            and ``token_accuracy_by_length`` (a :class:`utils.training.Seq2SeqReport`).
        ax: where to draw; a new figure if None.
        title: text above.
        token_accuracy: also draw the per-token curves.
        chance: draw a dotted line at this per-token accuracy (e.g. ``1 / n_symbols``).
    """
    if not curves:
        raise ValueError("curves is empty: pass {label: report}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (label, report) in enumerate(curves.items()):
        color = f"C{i}"
        lengths = list(report.lengths)
        ax.plot(lengths, [report.exact_match_by_length[n] for n in lengths], "o-", color=color,
                label=f"{label}: exact match")
        if token_accuracy:
            ax.plot(lengths, [report.token_accuracy_by_length[n] for n in lengths], "s--",
                    color=color, markersize=4, alpha=0.8, label=f"{label}: per-token accuracy")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance (per token)")
    ax.set_xlabel("source length S")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    # beside the axes, not on them: with curves from 100% down to 0% no corner inside is free
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        ax.set_title(title)
    return ax


def error_by_position(rates, ax: Axes | None = None, title: str | None = None,
                      xlabel: str = "source position j") -> Axes:
    """Error rate at each position, one curve per label (e.g. per source length).

    Args:
        rates: ``label -> (N,)`` error rates; position ``j`` is drawn at ``x = j + 1``.
        ax: where to draw; a new figure if None.
        title, xlabel: text.
    """
    if not rates:
        raise ValueError("rates is empty: pass {label: error rates}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    for label, r in rates.items():
        r = to_numpy(r).reshape(-1)
        ax.plot(np.arange(1, len(r) + 1), r, ".-", label=str(label))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error rate")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def compare_tokens(target: Sequence[str], prediction: Sequence[str], ax: Axes | None = None,
                   title: str | None = None, labels: Sequence[str] = ("target", "prediction")) -> Axes:
    """Two rows of cells: the target tokens above, the predicted tokens below, each predicted
    token green where it matches the target and red where it does not (missing ones are blank
    and red; extra ones red).

    Args:
        target, prediction: token lists (without ``<eos>``).
        ax: where to draw; a new figure if None.
        title: text above.
        labels: the two rows' names.
    """
    n = max(len(target), len(prediction), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(0.32 * n + 1.6, 16), 1.4))
    ok = np.array([i < len(prediction) and i < len(target) and prediction[i] == target[i]
                   for i in range(n)])
    colours = np.ones((2, n, 3))
    colours[0, : len(target)] = (0.92, 0.92, 0.92)
    colours[1] = np.where(ok[:, None], (0.74, 0.90, 0.74), (0.97, 0.66, 0.66))
    ax.imshow(colours, aspect="auto")
    for row, tokens in enumerate((target, prediction)):
        for i, tok in enumerate(tokens):
            ax.text(i, row, tok, ha="center", va="center", fontsize=9)
    ax.set_yticks([0, 1], labels=list(labels))
    ax.set_xticks(range(n), labels=[str(i + 1) for i in range(n)], fontsize=7)
    ax.set_xlabel("output position t")
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# ----------------------------------------------------------------------------------------------
# Chapter 3: attention over the regions of an image
# ----------------------------------------------------------------------------------------------
def attention_overlay(image, weights, grid: tuple[int, int], ax: Axes | None = None,
                      title: str | None = None, box=None, window: int = 8, stride: int = 4,
                      mark_max: bool = True, cmap: str = "autumn") -> Axes:
    """Draw attention over an image: each region's weight spread over its pixel window.

    The image is drawn in grey; on top, a colour whose opacity grows with the attention that
    covers each pixel (windows overlap, so a pixel collects the weights of every window that
    holds it).

    Args:
        image: ``(H, W)`` or ``(1, H, W)``.
        weights: ``(L,)`` with ``L = rows · cols``, regions row by row.
        grid: ``(rows, cols)``.
        ax: where to draw; a new figure if None.
        title: text above.
        box: optional ``(top, left, bottom, right)`` outlined in green: where the named digit is.
        window, stride: the regions' size and the step between them, in pixels.
        mark_max: outline the most attended region's window with a dashed cyan square.
    """
    img = to_numpy(image).squeeze()
    w = to_numpy(weights).reshape(-1)
    rows, cols = grid
    if img.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W), got shape {to_numpy(image).shape}")
    if len(w) != rows * cols:
        raise ValueError(f"weights has {len(w)} entries but the grid {grid} has {rows * cols} regions")
    heat = np.zeros(img.shape, dtype=float)
    for i, wi in enumerate(w):
        r, c = divmod(i, cols)
        heat[r * stride:r * stride + window, c * stride:c * stride + window] += wi
    if ax is None:
        _, ax = plt.subplots(figsize=(0.12 * img.shape[1] + 0.5, 0.12 * img.shape[0] + 0.5))
    ax.imshow(img, cmap="gray", vmin=0.0, vmax=max(1.0, float(img.max())), interpolation="nearest")
    level = heat / max(float(heat.max()), 1e-12)
    colours = plt.get_cmap(cmap)(level)  # (H, W, 4)
    colours[..., 3] = 0.45 * level  # opacity follows the attention; the digit stays visible
    ax.imshow(colours, interpolation="nearest")

    def outline(top, left, bottom, right, **style):
        ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                   fill=False, **style))

    if box is not None:
        outline(*[float(v) for v in to_numpy(box).reshape(-1)], edgecolor="lime", linewidth=1.5)
    if mark_max:
        r, c = divmod(int(np.argmax(w)), cols)
        outline(r * stride, c * stride, r * stride + window, c * stride + window,
                edgecolor="cyan", linewidth=1.2, linestyle="--")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def caption_attention(image, weights, words: Sequence[str], grid: tuple[int, int], boxes=None,
                      axes=None, label: str | None = None, **overlay) -> np.ndarray:
    """One panel per emitted word: where the model looked when it said it.

    Args:
        image: ``(H, W)`` or ``(1, H, W)``.
        weights: ``(T, L)`` attention at each step.
        words: ``T`` words emitted.
        grid: ``(rows, cols)``.
        boxes: optional ``(T, 4)`` box of the digit each step should name.
        axes: ``T`` axes to draw on; a new row of panels if None.
        label: text before each panel's title (e.g. the model's name).
        overlay: more arguments for :func:`attention_overlay`.

    Returns:
        The axes, as an array.
    """
    w = to_numpy(weights)
    if w.ndim != 2 or len(w) != len(words):
        raise ValueError(f"weights must be (T, L) with T = {len(words)} words, got shape {w.shape}")
    if axes is None:
        _, axes = plt.subplots(1, len(words), figsize=(2.2 * len(words), 1.4))
    axes = np.atleast_1d(axes)
    for t, ax in enumerate(axes):
        box = None if boxes is None else to_numpy(boxes)[t]
        title = f"{label + ': ' if label else ''}step {t + 1}, says {words[t]!r}"
        attention_overlay(image, w[t], grid, ax=ax, title=title, box=box, **overlay)
    return axes
