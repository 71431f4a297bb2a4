"""What every explorer's live view shares: controls that redraw one figure whenever one moves.

Each explorer of :mod:`utils.widgets` passes its ``draw…`` function and its ipywidgets controls
to :func:`live_view`; the same ``draw…`` function draws the static frames of the book
(:class:`utils.static_explorer.StaticExplorer`), so JupyterLab and the book show one figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["live_view"]


def live_view(draw: Callable[..., Figure | None], controls: Mapping[str, Any],
              columns: Sequence[Sequence[str]] | None = None):
    """The controls above the figure ``draw(**values)``, redrawn whenever a control moves.

    Args:
        draw: called with one keyword argument per control (its name in ``controls``, its
            current value); returns a figure, which is shown and then closed so that figures
            never pile up, or None when there is nothing to draw (it may print why).
        controls: ``name -> widget`` (a slider, a menu, a text box …), in display order.
        columns: ``None`` for one row of controls, or the controls' names grouped into columns
            placed side by side (``[["angle", "length"], ["d_k"]]``).

    Returns:
        An ``ipywidgets.VBox``: its first child holds the controls, its second the figure.

    Raises:
        ValueError: if ``columns`` names a control that ``controls`` does not have.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def show(**values) -> None:
        fig = draw(**values)
        if fig is not None:
            display(fig)
            plt.close(fig)

    if columns is None:
        row = widgets.HBox(list(controls.values()))
    else:
        for name in (n for column in columns for n in column):
            if name not in controls:
                raise ValueError(f"columns name {name}, which is not a control (the controls are {list(controls)})")
        row = widgets.HBox([widgets.VBox([controls[n] for n in column]) for column in columns])
    out = widgets.interactive_output(show, dict(controls))
    return widgets.VBox([row, out])
