"""Chapter 3: attention over the regions of an image. Each region's weight is spread over the
pixels of its window and laid over the image, one panel per word of the caption.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from utils.plots.arrays import to_numpy

__all__ = ["attention_overlay", "caption_attention"]


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
