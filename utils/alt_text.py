"""Alt text for every figure a notebook shows: a sentence that says what the figure draws.

A reader who cannot see a figure (a screen reader, an image that did not load) gets its title,
its panels, what each panel plots and what its axes and colour bars measure. The book writes the
text into the ``alt`` attribute of the image, from the PNG's metadata in the stored outputs.

Each chapter's first cell asks for it explicitly::

    from utils.alt_text import install_alt_text
    install_alt_text()

Importing a module of the course never changes the kernel: only this call does, and it changes
one thing, the way IPython turns a Matplotlib figure into a PNG (the PNG is the same; it gains
its alt text). Outside IPython, or with another backend than the inline one, it does nothing.
"""

from __future__ import annotations

import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["describe_figure", "install_alt_text"]


def _short_text(text: str, limit: int = 90) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_figure(fig: Figure) -> str:
    """Alt text for a Matplotlib figure, read from what it draws: its title, and for each panel
    the title, the axes' labels and what is plotted (curves and their legend, bars, an image
    and its colour bar's label).

    Example: ``"Figure: loss, 1 panel. Panel 1 'training': 2 curves (train, test); x axis: step."``
    """
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    parts = []
    suptitle = getattr(fig, "_suptitle", None)             # fig.suptitle(...) sets it; Matplotlib has no getter
    title = suptitle.get_text() if suptitle is not None else ""
    parts.append(f"Figure{': ' + _short_text(title) if title else ''}, {len(panels)} panel{'s' if len(panels) != 1 else ''}.")
    for n, ax in enumerate(panels, 1):
        what = []
        lines = [line for line in ax.get_lines() if line.get_visible() and np.size(line.get_xdata()) > 1]
        if lines:
            names = [label for line in lines if not (label := str(line.get_label())).startswith("_")]
            what.append(f"{len(lines)} curve{'s' if len(lines) != 1 else ''}" + (f" ({_short_text(', '.join(names), 80)})" if names else ""))
        n_bars = sum(len(c) for c in ax.containers if hasattr(c, "patches"))
        if n_bars:
            what.append(f"{n_bars} bars")
        if ax.images:
            array = ax.images[0].get_array()
            shape = array.shape if array is not None else ()
            what.append(f"a {shape[0]}×{shape[1]} colour map" if len(shape) >= 2 else "an image")
        if ax.collections and not what:
            what.append("points")
        text = f"Panel {n}" + (f" '{_short_text(ax.get_title())}'" if ax.get_title() else "")
        if what:
            text += ": " + ", ".join(what)
        axes = [f"{name} axis: {_short_text(label, 50)}" for name, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if label]
        if axes:
            text += "; " + "; ".join(axes)
        parts.append(text + ".")
    for bar in bars:
        label = bar.get_ylabel() or bar.get_xlabel()
        parts.append(f"A colour bar{': ' + _short_text(label, 50) if label else ''}.")
    return " ".join(parts)


def install_alt_text() -> None:
    """In IPython with the inline backend, attach :func:`describe_figure` to every figure shown,
    as the PNG's ``alt`` metadata (which the book and JupyterLab use as the image's alt text).

    Call it once, in a notebook's first cell; calling it again (the cell re-run) changes nothing.
    It wraps the inline backend's PNG formatter for ``Figure``, and registers one hook before each
    cell that wraps it again should something re-register the plain formatter (``%matplotlib
    inline`` does). The inline backend registers its formatter when the first figure is made, so
    a figure is made and closed here first; nothing is shown.
    """
    if "IPython" not in sys.modules or "inline" not in matplotlib.get_backend():
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    plt.close(plt.figure())  # activates the inline backend, which registers its formatters

    def wrap(*_) -> None:
        png = shell.display_formatter.formatters["image/png"]
        try:
            original = png.lookup_by_type(Figure)
        except KeyError:
            return
        if getattr(original, "_course_alt", False):
            return

        def with_alt(fig):
            data = original(fig)
            return (data, {"alt": describe_figure(fig)}) if data is not None else None

        # a mark on the function itself, so that a re-run cell finds it (mypy's Callable has no attributes)
        with_alt._course_alt = True  # type: ignore[attr-defined]
        with_alt.__wrapped__ = original  # type: ignore[attr-defined]
        png.for_type(Figure, with_alt)

    wrap()
    hooks = shell.events.callbacks["pre_run_cell"]
    if not any(getattr(hook, "_course_alt", False) for hook in hooks):
        wrap._course_alt = True  # type: ignore[attr-defined]  # the same mark, on the hook
        shell.events.register("pre_run_cell", wrap)
