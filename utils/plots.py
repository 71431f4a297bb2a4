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

__all__ = ["to_numpy", "attention_heatmap", "weights_bar"]


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
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
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
