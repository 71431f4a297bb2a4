"""The solutions' text twins (solutions/NN_slug.md) and run-to-run noise in the notebooks.

Each solution notebook is paired with a MyST Markdown file that authors edit and reviewers read
(solutions/jupytext.toml). These tests check that every pair is in sync (so `make test` and
`make unit` fail when one side was edited without the other), that a notebook survives the trip to
text and back with its nbgrader metadata, tags, slide types and cell ids, that the book does not
take the text files for pages, and that widget model ids no longer change from run to run.
"""

import json
import re
import shutil
import uuid
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from jupytext.config import find_jupytext_configuration_file
from sphinx.util.matching import Matcher

import tools.notebooks as notebooks
from tools.notebooks import (
    CHAPTERS,
    JUPYTEXT_CONFIG,
    ROOT,
    SOLUTIONS,
    TEXT_FORMAT,
    WIDGET_STATE,
    WIDGET_VIEW,
    as_text,
    from_text,
    jupytext_config,
    metadata_problems,
    pair_problems,
    read,
    slide_type,
    stable_widget_ids,
    text_path,
    write_pair,
)

SOLUTION_PATHS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def cells_as_dicts(nb) -> list[dict]:
    """What must survive a round trip, cell by cell: type, source, id and every metadata entry."""
    return [{"type": c.cell_type, "source": c.source, "id": c.get("id"), "metadata": json.loads(json.dumps(c.metadata))}
            for c in nb.cells]


@pytest.fixture
def solution_copy(tmp_path):
    """Chapter 2's solution and its .md copied to a temporary folder: (ipynb path, md path)."""
    for path in (SOLUTIONS / "02_attention_as_weighted_average.ipynb", SOLUTIONS / "02_attention_as_weighted_average.md"):
        shutil.copy(path, tmp_path / path.name)
    path = tmp_path / "02_attention_as_weighted_average.ipynb"
    return path, text_path(path)


# --- the pairs -----------------------------------------------------------------------------------

def test_jupytext_pairs_the_solutions_and_only_them():
    config = jupytext_config()
    assert config.formats == ["ipynb,md:myst"]
    assert find_jupytext_configuration_file(str(SOLUTIONS)) == str(JUPYTEXT_CONFIG)
    found = find_jupytext_configuration_file(str(CHAPTERS))
    assert found is None or ROOT not in Path(found).parents, "chapters/ must not be paired"


def test_every_solution_is_in_sync_with_its_text():
    assert SOLUTION_PATHS
    problems = pair_problems()
    assert not problems, "\n".join(problems)
    assert sorted(SOLUTIONS.glob("[0-9][0-9]_*.md")) == [text_path(p) for p in SOLUTION_PATHS]


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_round_trip_through_text_keeps_cells_metadata_and_ids(path):
    nb = read(path)
    text = as_text(nb)
    assert "output_type" not in text and "image/png" not in text and "execution_count" not in text
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert grade_ids and all(f"grade_id: {g}\n" in text for g in grade_ids), "nbgrader metadata is written in the text"

    # the text alone: every cell's type, source and metadata (nbgrader, tags, slide types, collapsed
    # outputs) comes back; the ids cannot, since the text has no place for them
    alone = from_text(text)
    assert [{k: v for k, v in c.items() if k != "id"} for c in cells_as_dicts(alone)] == \
           [{k: v for k, v in c.items() if k != "id"} for c in cells_as_dicts(nb)]
    assert {c.id for c in alone.cells}.isdisjoint(c.id for c in nb.cells)

    # the text with its notebook beside it (what `sync` does): ids, outputs and all, byte for byte
    synced = from_text(text, nb)
    assert cells_as_dicts(synced) == cells_as_dicts(nb)
    assert nbformat.writes(synced) == nbformat.writes(nb)


def test_the_text_keeps_an_authors_own_slide_type_and_drops_the_derived_ones():
    nb = read(SOLUTIONS / "02_attention_as_weighted_average.ipynb")
    own = [i for i, c in enumerate(nb.cells) if c.metadata["slideshow"] != {"slide_type": slide_type(c)}]
    assert own, "chapter 2 has a cell whose slide type an author chose"
    text = as_text(nb)
    assert text.count("slide_type") == len(own)
    back = from_text(text)
    assert [c.metadata["slideshow"] for c in back.cells] == [c.metadata["slideshow"] for c in nb.cells]


def test_tags_and_collapsed_outputs_are_in_the_text():
    nb = read(SOLUTIONS / "01_why_attention.ipynb")
    text = as_text(nb)
    reads = jupytext.reads(text, fmt=TEXT_FORMAT, config=jupytext_config())
    for cell, back in zip(nb.cells, reads.cells):
        assert back.metadata.get("tags") == cell.metadata.get("tags")
        assert back.metadata.get("jupyter") == cell.metadata.get("jupyter")
        assert back.metadata.get("nbgrader") == cell.metadata.get("nbgrader")


def test_an_edited_cell_keeps_its_id_and_a_new_cell_gets_one(solution_copy):
    path, twin = solution_copy
    nb = read(path)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    text = twin.read_text(encoding="utf-8")
    heading = nb.cells[0].source.splitlines()[0]
    text = text.replace(heading, heading + " (edited)", 1)
    new_cell = "```{code-cell} ipython3\nprint('a new cell')\n```\n\n"
    marker = "```{code-cell} ipython3"
    text = text.replace(marker, new_cell + marker, 1)
    synced = from_text(text, nb)
    assert len(synced.cells) == len(nb.cells) + 1
    assert synced.cells[0].source.startswith(heading + " (edited)") and synced.cells[0].id == nb.cells[0].id
    new = synced.cells[first_code]
    assert new.source == "print('a new cell')" and new.outputs == [] and new.execution_count is None
    assert new.id not in {c.id for c in nb.cells}
    rest = synced.cells[:first_code] + synced.cells[first_code + 1:]
    assert [c.id for c in rest] == [c.id for c in nb.cells]
    assert [c.get("outputs") for c in rest[1:]] == [c.get("outputs") for c in nb.cells[1:]]
    assert metadata_problems(synced, "synced") == []


def test_the_check_fails_when_either_side_of_a_pair_is_edited(solution_copy):
    path, twin = solution_copy
    assert pair_problems([path]) == []
    original = twin.read_text(encoding="utf-8")

    twin.write_text(original.replace("## 1.", "## One.", 1), encoding="utf-8")     # the .md edited
    (problem,) = pair_problems([path])
    assert "differ" in problem and "sync" in problem and "pair" in problem
    twin.write_text(original, encoding="utf-8")

    nb = read(path)                                                                 # the .ipynb edited
    nb.cells[1].source += "\n# one more comment"
    nbformat.write(nb, str(path))
    (problem,) = pair_problems([path])
    assert "differ" in problem

    assert write_pair(nb, path) == [twin]                                          # `pair`: in sync again
    assert pair_problems([path]) == [] and write_pair(nb, path) == []              # and a second run changes nothing

    twin.unlink()
    (problem,) = pair_problems([path])
    assert "missing" in problem


def test_a_text_written_by_plain_jupytext_is_in_sync_but_not_canonical(solution_copy):
    path, twin = solution_copy
    twin.write_text(jupytext.writes(read(path), fmt=TEXT_FORMAT, config=jupytext_config()), encoding="utf-8")
    assert not notebooks.twin_differs(path)
    (problem,) = pair_problems([path])
    assert "not written as" in problem


def test_commands_refuse_an_edited_pair_and_sync_takes_the_text_in(solution_copy, monkeypatch, capsys):
    path, twin = solution_copy
    monkeypatch.setattr(notebooks, "SOLUTIONS", path.parent)
    twin.write_text(twin.read_text(encoding="utf-8").replace("plt.show()", "plt.show()  # edited", 1), encoding="utf-8")
    before = path.read_bytes()
    assert notebooks.main(["execute", str(path)]) == 1                     # refuses: it would lose the edit
    assert notebooks.main(["clean", str(path)]) == 1
    assert path.read_bytes() == before and "differ" in capsys.readouterr().out
    assert notebooks.main(["sync", str(twin)]) == 0
    out = capsys.readouterr().out
    assert "changed since it was executed" in out and "execute" in out
    assert "plt.show()  # edited" in "".join(c.source for c in read(path).cells)
    assert pair_problems([path]) == []
    assert notebooks.main(["sync", str(twin)]) == 0 and "wrote" not in capsys.readouterr().out    # idempotent


# --- the book -------------------------------------------------------------------------------------

def test_the_book_does_not_take_the_text_twins_for_pages():
    """The appendix's glob (solutions/[0-9]*) matches a .md as well as its .ipynb: Sphinx would find
    two files for one page. _config.yml excludes the twins; the notebooks stay in."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    excluded = Matcher(config["exclude_patterns"])
    for path in SOLUTION_PATHS:
        assert excluded(text_path(path).relative_to(ROOT).as_posix())
        assert not excluded(path.relative_to(ROOT).as_posix())
        assert not excluded((CHAPTERS / path.name).relative_to(ROOT).as_posix())
    for page in ("intro.md", "notation.md", "instructors.md", "bibliography.md"):
        assert not excluded(page)


# --- widget ids -----------------------------------------------------------------------------------

RANDOM_ID = re.compile(r"\b[0-9a-f]{32}\b")   # uuid4().hex, as ipywidgets names its models

def widget_notebook() -> nbformat.NotebookNode:
    """A notebook as nbclient leaves it after showing one widget: a VBox holding a slider and an
    Output widget that captured another widget's view, its state in the notebook's metadata, and a
    layout no output shows. Every model id is a fresh random uuid, as ipywidgets makes them."""
    ids = {name: uuid.uuid4().hex for name in ("box", "slider", "output", "inner", "layout", "orphan")}
    view = lambda m: {WIDGET_VIEW: {"model_id": ids[m], "version_major": 2, "version_minor": 0}, "text/plain": ["VBox(...)"]}
    state = {
        ids["box"]: {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_{ids['slider']}", f"IPY_MODEL_{ids['output']}"],
                                                          "layout": f"IPY_MODEL_{ids['layout']}"}},
        ids["slider"]: {"model_name": "IntSliderModel", "state": {"value": 3, "layout": f"IPY_MODEL_{ids['layout']}"}},
        ids["output"]: {"model_name": "OutputModel", "state": {"outputs": [
            {"output_type": "display_data", "metadata": {}, "data": view("inner")}]}},
        ids["inner"]: {"model_name": "ButtonModel", "state": {"description": "go"}},
        ids["layout"]: {"model_name": "LayoutModel", "state": {}},
        ids["orphan"]: {"model_name": "LayoutModel", "state": {"width": "50%"}},
    }
    nb = nbformat.v4.new_notebook(metadata={"widgets": {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}})
    nb.cells = [nbformat.v4.new_markdown_cell("# A widget", id="c0"),
                nbformat.v4.new_code_cell("explorer", id="c1", execution_count=1, outputs=[
                    nbformat.v4.new_output("stream", name="stdout", text="ready\n"),
                    nbformat.v4.new_output("display_data", data=view("box"))])]
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def test_the_same_widgets_made_twice_give_the_same_json():
    first, second = widget_notebook(), widget_notebook()
    assert nbformat.writes(first) != nbformat.writes(second)
    assert nbformat.writes(stable_widget_ids(first)) == nbformat.writes(stable_widget_ids(second))
    assert "IPY_MODEL_" in nbformat.writes(first)
    assert not RANDOM_ID.search(nbformat.writes(first)), "no random id is left"


def test_stable_widget_ids_keep_every_view_pointing_at_its_model():
    nb = stable_widget_ids(widget_notebook())
    state = nb.metadata.widgets[WIDGET_STATE].state
    assert nb.cells[1].outputs[1].data[WIDGET_VIEW].model_id == "cell1-output1"
    box = state["cell1-output1"]
    assert box.model_name == "VBoxModel"
    # what its state mentions, keys sorted, depth first: the slider (and the slider's layout), the output
    assert box.state.children == ["IPY_MODEL_cell1-output1-1", "IPY_MODEL_cell1-output1-2"]
    assert state["cell1-output1-1"].model_name == "IntSliderModel"
    assert state["cell1-output1-1"].state.layout == "IPY_MODEL_cell1-output1-1-1"
    assert box.state.layout == "IPY_MODEL_cell1-output1-1-1"                        # a shared model keeps its first name
    captured = state["cell1-output1-2"].state.outputs[0].data[WIDGET_VIEW].model_id
    assert captured == "cell1-output1-2-1" and state[captured].model_name == "ButtonModel"
    assert state["model0"].state.width == "50%"                                     # shown by no output
    text = json.dumps(state)
    references = {r.split('"')[0] for r in text.split("IPY_MODEL_")[1:]}
    assert references <= set(state), "every reference names a model of the state"
    again = nbformat.writes(nb)
    assert nbformat.writes(stable_widget_ids(nb)) == again, "a notebook already stable is left as it is"


def test_clean_makes_widget_ids_stable_and_the_check_catches_random_ones():
    first, second = notebooks.clean(widget_notebook()), notebooks.clean(widget_notebook())
    assert nbformat.writes(first) == nbformat.writes(second)
    assert "widgets" not in first.metadata                                          # clean drops the state, as before
    assert not [p for p in metadata_problems(first, "nb") if "model_id" in p]
    first.cells[1].outputs[1].data[WIDGET_VIEW].model_id = uuid.uuid4().hex
    (problem,) = [p for p in metadata_problems(first, "nb") if "model_id" in p]
    assert "cell 1 output 1" in problem and "random" in problem
