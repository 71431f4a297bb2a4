"""Chapter 5's local-attention explorer: Luong's window ``[p_t − w, p_t + w]`` beside global attention.

Global attention spreads its weights over every source position; local attention keeps only the
window around ``p_t``, and local-p also multiplies by a Gaussian of ``σ = w/2`` centred there.
The learner moves the centre, widens the window and switches the Gaussian, and sees how much
weight is left and where.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from utils.attention import masked_softmax
from utils.luong import gaussian_factor, local_weights
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets.live import live_view

__all__ = ["local_window_weights", "draw_local_window", "local_window_explorer"]


def local_window_weights(center: float = 7.5, w: int = 3, S: int = 20, gaussian: bool = True,
                         seed: int = 0) -> dict[str, torch.Tensor]:
    """Global and local weights over ``S`` positions for fixed seeded scores (the explorer's data).

    Returns a dict with ``scores``, ``global`` (softmax over all ``S``), ``align`` (softmax inside
    ``[center − w, center + w]``), ``gaussian`` (``exp(−(s − center)² / (2σ²))``, ``σ = w/2``)
    and ``local`` (``align``, times ``gaussian`` if asked; not renormalised), each ``(S,)``.
    """
    if not 0 <= center <= S:
        raise ValueError(f"center must be between 0 and {S}, got {center}")
    scores = torch.randn(S, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    p = torch.tensor([[float(center)]], dtype=torch.float64)  # (B=1, T=1)
    align = local_weights(scores.view(1, 1, S), p, w, gaussian=False)[0, 0]
    factor = gaussian_factor(p, S, w / 2.0)[0, 0]
    return {"scores": scores, "global": masked_softmax(scores), "align": align, "gaussian": factor,
            "local": align * factor if gaussian else align}


def draw_local_window(center: float = 7.5, w: int = 3, S: int = 20, gaussian: bool = True,
                      seed: int = 0, fig: Figure | None = None) -> Figure:
    """Top: global attention over all ``S`` positions. Bottom: local attention — the window
    ``[p_t − w, p_t + w]`` shaded, the Gaussian ``σ = w/2`` dashed, the local weights as bars."""
    weights = local_window_weights(center, w, S, gaussian, seed)
    if fig is None:
        fig = plt.figure(figsize=(9, 4.4))
    fig.clear()
    ax_g, ax_l = fig.subplots(2, 1, sharex=True)
    s = np.arange(S)
    ax_g.bar(s, weights["global"].numpy(), color="tab:gray")
    ax_g.set(ylabel="weight", title="global: softmax over every source position", ylim=(0, 1))
    ax_l.axvspan(center - w, center + w, color="tab:orange", alpha=0.15, label=f"window [p_t − w, p_t + w], w = {w}")
    ax_l.bar(s, weights["local"].numpy(), color="tab:blue", label="local weights" + (" (align × Gaussian)" if gaussian else " (align)"))
    if gaussian:
        fine = np.linspace(0, S - 1, 400)
        ax_l.plot(fine, np.exp(-(fine - center) ** 2 / (2 * (w / 2) ** 2)), "--", color="tab:red",
                  label="Gaussian, σ = w/2")
    ax_l.axvline(center, color="tab:red", lw=1)
    ax_l.set(xlabel="source position s", ylabel="weight", ylim=(0, 1.05),
             title=f"local, p_t = {center:g}: weights sum to {float(weights['local'].sum()):.2f}")
    ax_l.set_xticks(s)
    ax_l.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def local_window_explorer(S: int = 20):
    """Sliders for the window centre ``p_t`` and half-width ``w``, and a Gaussian switch,
    redrawing :func:`draw_local_window` over a source of ``S`` positions.

    Returns a :class:`utils.static_explorer.LiveOrStatic`; the book shows three centres, three
    widths, with and without the Gaussian.
    """
    import ipywidgets as widgets

    controls = dict(
        center=widgets.FloatSlider(value=7.5, min=0, max=S, step=0.5, description="centre p_t"),
        w=widgets.IntSlider(value=3, min=1, max=S // 2, description="half-width w"),
        gaussian=widgets.Checkbox(value=True, description="Gaussian (local-p)"),
    )
    live = live_view(lambda **values: draw_local_window(S=S, **values), controls)

    def describe(center, w, gaussian):
        weights = local_window_weights(center, w, S, gaussian)
        local, glob = weights["local"], weights["global"]
        inside = [i for i in range(S) if float(local[i]) > 0]
        span = f"positions {inside[0]} to {inside[-1]}" if inside else "no position"
        return (f"p_t = {center:g}, w = {w}, Gaussian {'on' if gaussian else 'off'}: the local weights are non-zero "
                f"at {span}, largest at {int(local.argmax())} ({float(local.max()):.2f}), summing to "
                f"{float(local.sum()):.2f}; global attention's largest weight is at {int(glob.argmax())}.")

    centres = [c for c in (3.0, 7.5, 15.0) if c <= S]
    static = StaticExplorer(
        "Local attention window: centre p_t, half-width w, Gaussian",
        [("centre p_t", [(c, f"{c:g}") for c in centres]), ("half-width w", [(d, str(d)) for d in (1, 3, 5)]),
         ("Gaussian (local-p)", [(True, "on"), (False, "off")])],
        draw=lambda center, w, gaussian: draw_local_window(center, w, S, gaussian), describe=describe,
        default=(centres.index(7.5) if 7.5 in centres else 0, 1, 0))
    return LiveOrStatic(live, static)
