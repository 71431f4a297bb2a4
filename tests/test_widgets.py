"""utils.widgets: one module per chapter's explorer, the names notebooks import unchanged, and the
one piece every explorer shares (controls that redraw a figure) tested on its own.

The explorers themselves are tested with the chapter they serve (test_bahdanau, test_captioning,
test_luong, test_self_attention_models, test_efficient_attention, test_static_explorer).
"""

import importlib

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

import utils.widgets

# chapter -> (module of utils.widgets, the public names it defines)
CHAPTERS = {
    2: ("weighted_average", ["EXPLORER_LABELS", "explorer_vectors", "explorer_weights", "draw_explorer",
                             "attention_explorer"]),
    3: ("glimpses", ["draw_glimpse_step", "glimpse_stepper"]),
    4: ("decoding", ["draw_decoding_step", "decoding_stepper"]),
    5: ("local_window", ["local_window_weights", "draw_local_window", "local_window_explorer"]),
    6: ("positions", ["draw_positions", "positions_explorer"]),
    8: ("online_softmax", ["online_softmax_trace", "draw_online_softmax", "online_softmax_explorer"]),
}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_each_chapters_explorer_has_its_own_module_and_keeps_its_import(chapter):
    module_name, names = CHAPTERS[chapter]
    module = importlib.import_module(f"utils.widgets.{module_name}")
    assert f"Chapter {chapter}" in module.__doc__.split("\n\n")[0], f"{module.__name__}: the docstring names its chapter"
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(utils.widgets, name) is getattr(module, name), name   # from utils.widgets import … still works
        if callable(getattr(module, name)):
            assert getattr(module, name).__module__ == module.__name__, name


def test_the_package_exports_exactly_the_explorers():
    assert sorted(utils.widgets.__all__) == sorted(n for _, names in CHAPTERS.values() for n in names)
    for module_name, _ in CHAPTERS.values():
        assert module_name in utils.widgets.__doc__, f"the package docstring's table lists {module_name}"


def test_live_view_redraws_when_a_control_moves_and_closes_each_figure():
    from utils.widgets.live import live_view

    calls = []

    def draw(a, b):
        calls.append((a, b))
        fig, ax = plt.subplots()
        ax.plot([0, a], [0, b])
        return fig

    plt.close("all")
    a, b = widgets.IntSlider(value=1), widgets.IntSlider(value=2)
    view = live_view(draw, {"a": a, "b": b})
    row, out = view.children
    assert list(row.children) == [a, b] and isinstance(out, widgets.Output)
    assert calls == [(1, 2)]                       # drawn once with the controls' first values
    a.value = 3
    assert calls == [(1, 2), (3, 2)]
    assert plt.get_fignums() == [], "each figure is closed once shown, so none piles up"

    columns = live_view(draw, {"a": a, "b": b}, columns=[["a"], ["b"]]).children[0]
    assert [list(column.children) for column in columns.children] == [[a], [b]]
    with pytest.raises(ValueError, match="columns name c, which is not a control"):
        live_view(draw, {"a": a, "b": b}, columns=[["a", "c"]])
    plt.close("all")


def test_live_view_shows_nothing_when_there_is_nothing_to_draw():
    from utils.widgets.live import live_view

    text = widgets.Text(value="")
    view = live_view(lambda source: None, {"source": text})   # e.g. an empty source box
    text.value = "abc"
    assert len(view.children) == 2
