"""Chapter 6's positional-encoding explorer: the sinusoidal encodings, and what they say about distance.

Left, the encodings ``PE (max_len, d_model)`` with one position's row framed; right, how similar
that row is to every other one. The similarity depends only on the distance between the two
positions, which is what lets attention, blind to order, tell near from far.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from utils.positional import sinusoidal_positional_encoding
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets.live import live_view

__all__ = ["draw_positions", "positions_explorer"]


def draw_positions(position: int = 20, d_model: int = 32, max_len: int = 64, base: float = 10000.0,
                   fig: Figure | None = None) -> Figure:
    """Left: the sinusoidal encodings ``PE (max_len, d_model)``, the row of ``position`` framed.
    Right: how similar that row is to every other position, ``PE[pos] · PE[j] / (d_model / 2)``
    (1 at ``j = pos``), which depends only on the distance ``j - pos``."""
    if not 0 <= position < max_len:
        raise ValueError(f"position must be between 0 and {max_len - 1}, got {position}")
    pe = sinusoidal_positional_encoding(max_len, d_model, base, dtype=torch.float64)
    similarity = (pe @ pe[position]) / (d_model / 2)  # (max_len,)
    if fig is None:
        fig = plt.figure(figsize=(10, 3.6))
    fig.clear()
    ax_pe, ax_sim = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    image = ax_pe.imshow(pe.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax_pe.axhline(position - 0.5, color="gold", lw=2)
    ax_pe.axhline(position + 0.5, color="gold", lw=2)
    ax_pe.set(xlabel="dimension (even: sin, odd: cos)", ylabel="position", title=f"PE, d_model = {d_model}, base = {base:g}")
    fig.colorbar(image, ax=ax_pe, fraction=0.046, pad=0.04).set_label("PE value (sin or cos)")
    ax_sim.plot(range(max_len), similarity.numpy(), ".-", color="tab:blue")
    ax_sim.axvline(position, color="tab:red", lw=1, ls="--")
    ax_sim.set(xlabel="position j", ylabel="similarity", ylim=(-1.05, 1.05),
               title=f"PE[{position}] · PE[j] / (d_model/2)")
    fig.tight_layout()
    return fig


def positions_explorer(max_len: int = 64):
    """Sliders for the position, ``d_model`` and the base, redrawing :func:`draw_positions`.

    Returns a :class:`utils.static_explorer.LiveOrStatic`; the book shows a few positions and
    ``d_model`` values with the usual base 10000.
    """
    import ipywidgets as widgets

    controls = dict(
        position=widgets.IntSlider(value=20, min=0, max=max_len - 1, description="position"),
        d_model=widgets.Dropdown(options=[4, 8, 16, 32, 64, 128], value=32, description="d_model"),
        base=widgets.FloatLogSlider(value=10000, base=10, min=1, max=5, step=0.25, description="base"),
    )
    live = live_view(lambda **values: draw_positions(max_len=max_len, **values), controls)

    positions = sorted({p for p in (0, 5, 20, max_len - 1) if 0 <= p < max_len})

    def describe(position, d_model):
        return (f"Sinusoidal encodings of {max_len} positions with d_model = {d_model} and base 10000, row "
                f"{position} framed; its similarity to every other position is 1 at position {position} and "
                "depends only on the distance to it.")

    static = StaticExplorer(
        "Positional encodings: position and d_model (base 10000)",
        [("position", [(p, str(p)) for p in positions]), ("d_model", [(d, str(d)) for d in (8, 32, 128)])],
        draw=lambda position, d_model: draw_positions(position, d_model, max_len=max_len),
        describe=describe, default=(positions.index(20) if 20 in positions else 0, 1))
    return LiveOrStatic(live, static)
