"""Explorers that work in the static book: frames drawn ahead, switched by HTML and CSS alone.

The book has no kernel, so an ipywidgets explorer there is only a picture of its default view.
:class:`StaticExplorer` draws the explorer's figure (with the same Matplotlib ``draw_…``
function the widget uses) for every combination of a few values of its controls, while the
notebook runs, and embeds the frames as PNG images with native radio buttons:

* no JavaScript, no network, no kernel: the page needs nothing but a browser, and works offline
  and from an exported HTML file; the CSS rule that shows the chosen frame uses ``:has()``
  (every current browser); where that is missing, the default frame stays in view;
* the controls are ``<fieldset>``/``<legend>`` groups of ``<input type="radio">``: Tab reaches
  them, the arrow keys move through the values, screen readers announce them;
* every frame has alt text that says what it shows, computed from the same numbers.

Why not a plotting library with its own JavaScript (plotly, bokeh, altair/vega)? Their sliders
need a few megabytes of script per page (or a CDN, which breaks offline use), plotly's slider
cannot be reached with the keyboard, and they would redraw with other code than the figure the
chapter explains. Matplotlib draws the frames here exactly as in JupyterLab.

:class:`LiveOrStatic` bundles a live widget with its static version: JupyterLab shows the widget,
the book (which drops widget views, see ``_config.yml``) shows the frames.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt

__all__ = ["StaticExplorer", "LiveOrStatic"]


def _png(fig, dpi: int) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class StaticExplorer:
    """Every combination of the controls' values, drawn ahead.

    Args:
        title: what the explorer shows (its accessible name).
        controls: ``[(label, [(value, text), ...]), ...]``, in display order.
        draw: ``draw(*values) -> Figure``, one value per control.
        describe: ``describe(*values) -> str``, the frame's alt text.
        default: the index of each control's first-shown value.
        dpi: resolution of the frames (small: the page holds all of them).
    """

    def __init__(self, title: str, controls: Sequence[tuple[str, Sequence[tuple[Any, str]]]],
                 draw: Callable[..., Any], describe: Callable[..., str],
                 default: Sequence[int] | None = None, dpi: int = 50) -> None:
        self.title = title
        self.controls = [(label, list(values)) for label, values in controls]
        self.default = tuple(default) if default is not None else (0,) * len(self.controls)
        self.uid = "x" + hashlib.sha1(title.encode()).hexdigest()[:8]
        self.frames: dict[tuple[int, ...], tuple[str, str]] = {}
        for index in itertools.product(*(range(len(v)) for _, v in self.controls)):
            values = [self.controls[c][1][i][0] for c, i in enumerate(index)]
            self.frames[index] = (_png(draw(*values), dpi), describe(*values))

    def _repr_html_(self) -> str:
        u = self.uid
        rules = [f"#{u} .course-frame{{display:none}}", f"#{u} .course-frame.course-default{{display:block}}"]
        for index in self.frames:
            if index == self.default:
                continue
            chosen = "".join(f":has(#{u}-{c}-{i}:checked)" for c, i in enumerate(index))
            name = "-".join(map(str, index))
            rules.append(f"#{u}{chosen} .course-frame.course-default{{display:none}}")
            rules.append(f"#{u}{chosen} .course-frame.f-{name}{{display:block}}")
        parts = [f'<div class="course-explorer" id="{u}" role="group" aria-label="{html.escape(self.title)}">',
                 f"<style>{' '.join(rules)} #{u} fieldset{{display:inline-block;margin:0 1em 0.5em 0}} "
                 f"#{u} img{{max-width:100%;height:auto}}</style>",
                 f"<p><strong>{html.escape(self.title)}</strong> (drawn ahead: works without Python)</p>"]
        for c, (label, values) in enumerate(self.controls):
            parts.append(f"<fieldset><legend>{html.escape(label)}</legend>")
            for i, (_, text) in enumerate(values):
                checked = " checked" if i == self.default[c] else ""
                parts.append(f'<label><input type="radio" name="{u}-{c}" id="{u}-{c}-{i}"{checked}> '
                             f"{html.escape(text)}</label> ")
            parts.append("</fieldset>")
        parts.append('<div class="course-frames" aria-live="polite">')
        for index, (png, alt) in self.frames.items():
            name = "-".join(map(str, index))
            extra = " course-default" if index == self.default else ""
            parts.append(f'<img class="course-frame f-{name}{extra}" alt="{html.escape(alt)}" '
                         f'src="data:image/png;base64,{png}">')
        parts.append("</div></div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<{self.title}: {len(self.frames)} frames drawn ahead>"


class LiveOrStatic:
    """A live ipywidgets view for JupyterLab, with its :class:`StaticExplorer` for the book."""

    def __init__(self, widget, static: StaticExplorer) -> None:
        self.widget, self.static = widget, static

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        data["text/html"] = self.static._repr_html_()
        data.setdefault("text/plain", repr(self.static))
        return data

    def __getattr__(self, name: str):  # behave like the widget (children, observe, …)
        return getattr(self.widget, name)
