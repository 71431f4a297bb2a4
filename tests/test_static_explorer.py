"""Explorers in the static book: every frame drawn ahead, switched by radio buttons and CSS."""

import re

import matplotlib.pyplot as plt
import pytest

from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets import attention_explorer, local_window_explorer, online_softmax_explorer, positions_explorer


def tiny() -> StaticExplorer:
    def draw(a, b):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, a], [0, b])
        return fig
    return StaticExplorer("a <tiny> explorer", [("a", [(1, "one"), (2, "two")]), ("b", [(0, "zero"), (5, "five"), (9, "nine")])],
                          draw, lambda a, b: f"a line to ({a}, {b})", default=(1, 2))


def test_every_combination_is_drawn_with_its_alt_text():
    ex = tiny()
    assert set(ex.frames) == {(i, j) for i in range(2) for j in range(3)}
    page = ex._repr_html_()
    assert page.count("<img ") == 6 and page.count('alt="a line to (') == 6
    assert "&lt;tiny&gt;" in page and "<script" not in page


def test_controls_are_native_radio_groups_with_the_default_checked():
    page = tiny()._repr_html_()
    assert page.count("<fieldset>") == 2 and page.count("<legend>") == 2
    assert page.count('type="radio"') == 5
    checked = re.findall(r'id="(x\w+-\d-\d)" checked', page)
    assert [c[-3:] for c in checked] == ["0-1", "1-2"]
    assert re.findall(r'<img class="course-frame (f-\d-\d) course-default"', page) == ["f-1-2"]   # one default frame


def test_each_other_combination_has_a_rule_that_shows_it():
    ex = tiny()
    page = ex._repr_html_()
    for i, j in ex.frames:
        if (i, j) != ex.default:
            assert f":has(#{ex.uid}-0-{i}:checked):has(#{ex.uid}-1-{j}:checked) .course-frame.f-{i}-{j}{{display:block}}" in page


@pytest.mark.slow(seconds=22)   # every frame of four chapters' explorers, drawn
@pytest.mark.parametrize("make", [attention_explorer, positions_explorer, local_window_explorer, online_softmax_explorer])
def test_the_explorers_carry_their_static_version(make):
    shown = make()
    assert isinstance(shown, LiveOrStatic)
    bundle = shown._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle
    alts = [alt for _, alt in shown.static.frames.values()]
    assert len(alts) >= 8 and len(set(alts)) == len(alts), "every frame says what it shows"
    plt.close("all")


def test_every_figure_in_the_notebooks_has_alt_text():
    """Each PNG the notebooks show carries its alt text (utils.alt_text attaches it), which the book
    writes into the image's alt attribute."""
    import nbformat

    from tools.notebooks import CHAPTERS, solution_paths

    for path in solution_paths():
        for folder in (path.parent, CHAPTERS):
            nb = nbformat.read(str(folder / path.name), as_version=4)
            for i, cell in enumerate(nb.cells):
                for out in cell.get("outputs", []):
                    if "image/png" in out.get("data", {}):
                        alt = out.get("metadata", {}).get("image/png", {}).get("alt", "")
                        assert alt.startswith("Figure"), f"{folder.name}/{path.name} cell {i}: no alt text"
