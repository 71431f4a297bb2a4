"""The notebook pipeline: execute, clean, generate learner workbooks, check they are in sync.

    python tools/notebooks.py execute solutions/02_attention_as_weighted_average.ipynb
    python tools/notebooks.py chapters            # every solution -> chapters/, executed
    python tools/notebooks.py chapters 02         # only notebooks whose name starts with 02
    python tools/notebooks.py check               # chapters/ in sync with solutions/? metadata clean?
    python tools/notebooks.py clean PATH...       # clean metadata in place
    python tools/notebooks.py pair [PATH...]      # solutions/*.ipynb -> their text twins solutions/*.md
    python tools/notebooks.py sync [PATH...]      # edited solutions/*.md -> their .ipynb (outputs kept)

`solutions/` is the single source of truth. Each solution is a pair (``solutions/jupytext.toml``):
``NN_slug.md``, MyST Markdown, is the text an author edits and a reviewer reads; ``NN_slug.ipynb``
is the same cells executed, with the outputs nbval compares and the book shows (README, "How to
author a chapter", gives the workflow). A learner workbook is made from a solution by
nbgrader's own preprocessors: ClearSolutions turns each ``### BEGIN SOLUTION`` … ``### END
SOLUTION`` region into ``raise NotImplementedError()``, ClearHiddenTests drops hidden tests, and
ClearOutput empties the outputs before the workbook is executed again, so that the book and the
learner see what the workbook really prints.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from jupytext.config import load_jupytext_configuration_file
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from tools.nbrun import PatientClient  # replies polled: nbclient can miss one after a widget

ROOT = Path(__file__).resolve().parent.parent


SOLUTIONS = ROOT / "solutions"
CHAPTERS = ROOT / "chapters"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
# Notebook-level metadata we keep. Widget state is not stored: widgets need a live kernel, so
# the book shows each widget's default view as a plain figure instead (see WIDGET_TAGS).
ALLOWED_NB_METADATA = {"kernelspec", "language_info"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# A cell that displays a widget: nbval does not emulate the Output widget's capture (the display
# differs between front ends), and the book hides the output rather than show a dead widget.
WIDGET_TAGS = ("nbval-ignore-output", "remove-output")
# A widget that also carries its frames drawn ahead (utils.static_explorer) is shown in the book:
# its outputs are still not compared by nbval, but they are not removed.
STATIC_EXPLORER_TAGS = ("nbval-ignore-output",)


def widget_tags(cell) -> tuple[str, ...] | None:
    """The tags a cell's widget output needs, or None if it shows no widget."""
    outputs = [o.get("data", {}) for o in cell.get("outputs", [])]
    if not any(WIDGET_VIEW in d for d in outputs):
        return None
    return STATIC_EXPLORER_TAGS if any(WIDGET_VIEW in d and "text/html" in d for d in outputs) else WIDGET_TAGS


# Where nbclient stores the widgets' state (store_widget_state=True), and how one model names another.
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = "IPY_MODEL_"


def stable_widget_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every widget model an id made from where it is shown, in place; returns ``nb``.

    ipywidgets names each model with a random ``uuid4().hex``, so every run of a notebook rewrote
    the ``model_id`` line of each widget output although nothing had changed. Here the model a
    widget output shows (``{"model_id": …}`` under ``application/vnd.jupyter.widget-view+json``) is
    renamed ``cell<C>-output<O>`` (C, O: the cell's and the output's index, from 0), and the models
    it holds (its sliders, layouts, styles: ``"IPY_MODEL_<id>"`` strings in the saved state) are
    named after it in the order its state mentions them (keys sorted): ``cell<C>-output<O>-1``,
    ``…-2``, and their own children ``cell<C>-output<O>-2-1``, …, depth first (a model that two
    others hold keeps the first name it was given). A model that no output shows is
    named ``model<N>``, in the order of its state's content. The renaming is applied everywhere an
    id occurs: in the outputs, in the keys of the notebook's widget state (``metadata.widgets``, kept
    while executing, dropped by :func:`clean`) and in the references inside that state (an Output
    widget's captured outputs included), so every view still finds its model. Running the same
    code twice therefore gives the same ids, and the same JSON.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    names: dict[str, str] = {}

    def references(value) -> list[str]:
        """The model ids ``value`` mentions, in a fixed order (dict keys sorted, lists in order)."""
        found: list[str] = []
        if isinstance(value, dict):
            for key in sorted(value):
                if key == "model_id" and isinstance(value[key], str):
                    found.append(value[key])
                else:
                    found += references(value[key])
        elif isinstance(value, list):
            for item in value:
                found += references(item)
        elif isinstance(value, str) and value.startswith(MODEL_REF):
            found.append(value[len(MODEL_REF):])
        return found

    def name(model_id: str, new: str) -> None:
        if model_id in names:
            return
        names[model_id] = new
        children = [c for c in dict.fromkeys(references(state.get(model_id, {}))) if c != model_id]
        for k, child in enumerate(children, 1):
            name(child, f"{new}-{k}")

    for c, cell in enumerate(nb.cells):
        for o, output in enumerate(cell.get("outputs", [])):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and isinstance(view.get("model_id"), str):
                name(view["model_id"], f"cell{c}-output{o}")
    # models no output shows, ordered by their content with every id in it blanked out
    unshown = sorted((m for m in state if m not in names),
                     key=lambda m: json.dumps(_map_ids(state[m], lambda _: ""), sort_keys=True))
    for n, model_id in enumerate(unshown):
        name(model_id, f"model{n}")

    if state:
        renamed = {names[m]: _map_ids(model, lambda i: names.get(i, i)) for m, model in state.items()}
        nb.metadata.widgets[WIDGET_STATE].state = nbformat.from_dict(renamed)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and view.get("model_id") in names:
                view["model_id"] = names[view["model_id"]]
    return nb


def _map_ids(value, new_id):
    """A copy of a widget state ``value`` with each model id ``i`` it mentions replaced by
    ``new_id(i)``: in ``"IPY_MODEL_<i>"`` strings and in ``"model_id"`` entries (widget views)."""
    if isinstance(value, dict):
        return {k: new_id(v) if k == "model_id" and isinstance(v, str) else _map_ids(v, new_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_ids(item, new_id) for item in value]
    if isinstance(value, str) and value.startswith(MODEL_REF):
        return MODEL_REF + new_id(value[len(MODEL_REF):])
    return value


# Cell-level metadata we keep: tags (nbval, book), nbgrader, and slide types.
ALLOWED_CELL_METADATA = {"tags", "nbgrader", "slideshow", "editable", "deletable", "jupyter"}
# A cell whose output answers a "Predict first" question: the learner must not read the answer
# before running it. JupyterLab opens it with its output collapsed (``jupyter.outputs_hidden``;
# running the cell shows the new output), and the book hides it behind a button (``hide-output``).
REVEALS = "reveals-prediction"
REVEALS_TAGS = (REVEALS, "hide-output")
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
CELL_TIMEOUT = 600


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Save a notebook, validated; a solution's text twin is written with it (:func:`write_pair`)."""
    if is_paired(path):
        write_pair(nb, path)
        return
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip execution noise: fixed kernelspec, minimal language info, only allowed metadata,
    widget ids that do not change from run to run (:func:`stable_widget_ids`)."""
    stable_widget_ids(nb)
    nb.metadata = nbformat.NotebookNode(
        {k: v for k, v in nb.metadata.items() if k in ALLOWED_NB_METADATA}
    )
    nb.metadata.kernelspec = nbformat.NotebookNode(KERNELSPEC)
    nb.metadata.language_info = nbformat.NotebookNode(LANGUAGE_INFO)
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode(
            {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA}
        )
        cell.metadata.setdefault("slideshow", {"slide_type": slide_type(cell)})
        cell.metadata.pop("jupyter", None)
        if REVEALS in cell.metadata.get("tags", []):
            cell.metadata["tags"] = list(cell.metadata["tags"]) + [t for t in REVEALS_TAGS if t not in cell.metadata["tags"]]
            cell.metadata["jupyter"] = {"outputs_hidden": True}
        if cell.cell_type == "code":
            for output in cell.outputs:
                output.get("metadata", {}).pop("execution", None)
            needed = widget_tags(cell)
            if needed is not None:
                tags = [t for t in cell.metadata.get("tags", []) if t in needed or t not in WIDGET_TAGS]
                cell.metadata["tags"] = tags + [t for t in needed if t not in tags]
    return nb


def slide_type(cell) -> str:
    """A slide type from the notebook's structure, for `jupyter nbconvert --to slides`.

    A markdown cell with a ``#`` or ``##`` heading starts a slide, one with a ``###`` heading a
    subslide (below it), and every other cell continues the current one. An author's own
    ``slideshow`` metadata is kept.
    """
    lines = cell.source.splitlines() if cell.cell_type == "markdown" else []
    if any(line.startswith(("# ", "## ")) for line in lines):
        return "slide"
    if any(line.startswith("### ") for line in lines):
        return "subslide"
    return "-"


def metadata_problems(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """What :func:`clean` would change, as readable problems (empty list = clean)."""
    problems = []
    extra = set(nb.metadata) - ALLOWED_NB_METADATA
    if extra:
        problems.append(f"{name}: notebook metadata has {sorted(extra)}")
    if dict(nb.metadata.get("kernelspec", {})) != KERNELSPEC:
        problems.append(f"{name}: kernelspec is {dict(nb.metadata.get('kernelspec', {}))}")
    if dict(nb.metadata.get("language_info", {})) != LANGUAGE_INFO:
        problems.append(f"{name}: language_info is not the minimal one")
    stable = stable_widget_ids(copy.deepcopy(nb))
    for index, cell in enumerate(nb.cells):
        extra = set(cell.metadata) - ALLOWED_CELL_METADATA
        if extra:
            problems.append(f"{name}: cell {index} metadata has {sorted(extra)}")
        if "slideshow" not in cell.metadata:
            problems.append(f"{name}: cell {index} has no slide type (run the pipeline's clean)")
        reveals = REVEALS in cell.metadata.get("tags", [])
        if reveals != (dict(cell.metadata.get("jupyter", {})) == {"outputs_hidden": True}) or \
                reveals and not set(REVEALS_TAGS) <= set(cell.metadata.get("tags", [])):
            problems.append(f"{name}: cell {index}: only a '{REVEALS}' cell, and every one, is collapsed "
                            f"(jupyter.outputs_hidden) and tagged {REVEALS_TAGS} (run the pipeline's clean)")
        if cell.cell_type == "code":
            needed = widget_tags(cell)
            tags = set(cell.metadata.get("tags", []))
            if needed is not None and (not set(needed) <= tags or set(WIDGET_TAGS) - set(needed) & tags):
                problems.append(f"{name}: cell {index} shows a widget: its tags must be exactly {needed} of {WIDGET_TAGS}")
            for o, (output, expected) in enumerate(zip(cell.outputs, stable.cells[index].outputs)):
                model_id = output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id")
                if model_id != expected.get("data", {}).get(WIDGET_VIEW, {}).get("model_id"):
                    problems.append(f"{name}: cell {index} output {o}: widget model_id {model_id!r} is a random one "
                                    "(run the pipeline's clean)")
            if any(o.output_type == "error" for o in cell.outputs):
                problems.append(f"{name}: cell {index} has an error output")
            if cell.outputs and cell.execution_count is None:
                problems.append(f"{name}: cell {index} has outputs but was never run")
    return problems


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell top to bottom in a fresh kernel (working directory ``cwd``)."""
    client = PatientClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        store_widget_state=True,  # needed while executing (Output widgets); clean() drops it
    )
    client.execute()
    return nb


def learner_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner workbook's cells, before execution: solutions and hidden tests cleared."""
    nb = copy.deepcopy(solution)
    resources: dict = {}
    nb, resources = ClearSolutions(code_stub={"python": CODE_STUB}).preprocess(nb, resources)
    nb, resources = ClearHiddenTests().preprocess(nb, resources)
    nb, resources = ClearOutput().preprocess(nb, resources)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    return clean(nb)


def cell_signature(nb: nbformat.NotebookNode) -> list[tuple]:
    """What must agree between a generated and a committed workbook: cells, not outputs."""
    return [
        (c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k in ALLOWED_CELL_METADATA})
        for c in nb.cells
    ]


def solution_paths(prefix: str | None = None) -> list[Path]:
    paths = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if prefix is None or p.name.startswith(prefix)]


def sync_problems() -> list[str]:
    """Differences between chapters/ and what `make chapters` would generate (cells only)."""
    problems = []
    solution_names = {p.name for p in solution_paths()}
    chapter_names = {p.name for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb")}
    for name in sorted(solution_names - chapter_names):
        problems.append(f"chapters/{name} is missing: run `make chapters`")
    for name in sorted(chapter_names - solution_names):
        problems.append(f"chapters/{name} has no solution in solutions/")
    for path in solution_paths():
        target = CHAPTERS / path.name
        if not target.exists():
            continue
        expected = cell_signature(learner_version(read(path)))
        actual = cell_signature(read(target))
        if expected != actual:
            for i, (e, a) in enumerate(zip(expected, actual)):
                if e != a:
                    problems.append(f"chapters/{path.name}: cell {i} differs from the generated one")
                    break
            else:
                problems.append(f"chapters/{path.name}: {len(actual)} cells, expected {len(expected)}")
    return problems


# The text twins of the solutions (issue 25): jupytext pairs solutions/NN_slug.ipynb with
# solutions/NN_slug.md as solutions/jupytext.toml says, so that jupytext's own `--sync` and
# JupyterLab (saving a paired notebook writes both files) keep them together too.
JUPYTEXT_CONFIG = SOLUTIONS / "jupytext.toml"
TEXT_FORMAT = "md:myst"


def text_path(path: Path) -> Path:
    """The text twin of ``solutions/NN_slug.ipynb``: ``solutions/NN_slug.md`` (and back: a ``.md``
    path is returned unchanged)."""
    return path.with_suffix(".md")


def jupytext_config():
    """solutions/jupytext.toml, read by jupytext itself (pairing, metadata filter)."""
    return load_jupytext_configuration_file(str(JUPYTEXT_CONFIG))


def _derived_slideshow_dropped(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the slide types :func:`clean` derives from the cells themselves:
    only an author's own choice stays (and needs writing down). The copy goes through the JSON that
    :func:`write` saves (keys sorted), so a notebook gives the same text in memory and on disk."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("slideshow") == {"slide_type": slide_type(cell)}:
            del cell.metadata["slideshow"]
    return nb


def as_text(nb: nbformat.NotebookNode) -> str:
    """The text twin of a solution notebook: MyST Markdown, as jupytext writes it.

    Markdown cells are written as they are, separated by ``+++`` lines (``+++ {"tags": [...]}``
    when the cell has metadata); code cells become ```` ```{code-cell} ipython3 ```` blocks whose
    metadata (nbgrader's grade_id, points, locked, solution; tags) sits in a YAML block between
    ``---`` lines at their top. Outputs, execution counts and cell ids are not written: they live
    in the ``.ipynb`` (:func:`from_text` takes them from there). Nor is a slide type that
    :func:`clean` derives from the cell (a heading starts a slide), which would put four lines of
    noise on every cell.
    """
    return jupytext.writes(_derived_slideshow_dropped(nb), fmt=TEXT_FORMAT, config=jupytext_config())


def from_text(text: str, executed: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """The notebook a text twin describes, cleaned; with ``executed`` (its paired ``.ipynb``),
    each cell keeps that notebook's id, outputs and execution count.

    Cells are matched the way ``jupytext --sync`` matches them (same type and source first, then
    by position), so a cell whose text changed keeps its id, and its old outputs until the notebook
    is executed again; a new cell gets a new id and no outputs.
    """
    nb = jupytext.reads(text, fmt=TEXT_FORMAT, config=jupytext_config())
    if executed is not None:
        nb = combine_inputs_with_outputs(nb, executed, fmt=TEXT_FORMAT)
    return clean(nb)


def _text_view(nb: nbformat.NotebookNode) -> list[tuple]:
    """What a text twin holds of a notebook: each cell's type, source and metadata (derived slide
    types left out), so that a twin written by jupytext itself, slide types and all, still agrees."""
    return [(c.cell_type, c.source, dict(c.metadata)) for c in _derived_slideshow_dropped(nb).cells]


def pair_problems(paths: list[Path] | None = None) -> list[str]:
    """Every way the solutions and their text twins disagree (empty list = in sync).

    A solution without its ``.md``, a ``.md`` without its notebook, a pair whose cells differ
    (either file edited without the other: ``sync`` takes an edited ``.md`` into the notebook,
    ``pair`` an edited notebook into its ``.md``), and a ``.md`` that says the same as its notebook
    but not in the words ``pair`` writes (as after a plain ``jupytext --sync``).
    """
    paths = solution_paths() if paths is None else paths
    problems = []
    for path in paths:
        twin = text_path(path)
        if not twin.exists():
            problems.append(f"{shown(twin)} is missing: run `tools/notebooks.py pair`")
            continue
        text, nb = twin.read_text(encoding="utf-8"), read(path)
        expected = as_text(nb)
        if text == expected:
            continue
        if not twin_differs(path):
            problems.append(f"{shown(twin)}: same cells as its notebook, not written as `tools/notebooks.py pair` writes them: run it")
            continue
        pairs = zip([*text.splitlines(), None], [*expected.splitlines(), None])
        line = next((i for i, (a, b) in enumerate(pairs, 1) if a != b), 1)
        problems.append(f"{shown(twin)} and its .ipynb differ (line {line} of the .md): edited the .md? run "
                        f"`tools/notebooks.py sync {shown(twin)}` and execute it; edited the .ipynb? run `tools/notebooks.py pair`")
    if paths == solution_paths():
        for twin in sorted(SOLUTIONS.glob("[0-9][0-9]_*.md")):
            if not twin.with_suffix(".ipynb").exists():
                problems.append(f"{shown(twin)} has no notebook: run `tools/notebooks.py sync {shown(twin)}`, "
                                "then execute it")
    return problems


def write_pair(nb: nbformat.NotebookNode, path: Path) -> list[Path]:
    """Write a solution notebook and its text twin; returns the files whose content changed
    (an unchanged file is not rewritten, so running a command twice changes nothing)."""
    changed = []
    for target, content in ((path, nbformat.writes(nb) + "\n"), (text_path(path), as_text(nb))):
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            nbformat.validate(nb)
            target.write_text(content, encoding="utf-8")
            changed.append(target)
    return changed


def twin_differs(path: Path) -> bool:
    """Do a solution and its text twin hold different cells (one of them edited without the other)?
    A twin that only writes the same cells differently (slide types spelled out) does not count."""
    twin = text_path(path)
    if not twin.exists():
        return False
    in_text = jupytext.reads(twin.read_text(encoding="utf-8"), fmt=TEXT_FORMAT, config=jupytext_config())
    return _text_view(in_text) != _text_view(read(path))


def shown(path: Path) -> str:
    """``path`` as a message shows it: relative to the repository when it is inside."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def is_paired(path: Path) -> bool:
    """Is ``path`` a solution notebook (one with a text twin, or that should have one)?"""
    return path.resolve().parent == SOLUTIONS and path.suffix == ".ipynb" and path.name[:2].isdigit()


def main(argv: list[str] | None = None) -> int:
    # stored outputs never hold progress bars or PYTHONHASHSEED-dependent orders, however the
    # script is called (the Makefile exports the same two)
    os.environ.setdefault("COURSE_PROGRESS", "0")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("ATTENTION_JUDGE", "grading.judge:judge")   # the solutions judge their own answers
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute", help="execute notebooks in place, then clean them (a solution's .md is rewritten too)")
    p.add_argument("paths", nargs="+", type=Path)
    p = sub.add_parser("chapters", help="generate chapters/ from solutions/")
    p.add_argument("prefix", nargs="?", default=None)
    sub.add_parser("check", help="fail if chapters/ drifted from solutions/, a solution from its .md, or metadata is dirty")
    p = sub.add_parser("clean", help="clean notebook metadata in place")
    p.add_argument("paths", nargs="+", type=Path)
    p = sub.add_parser("pair", help="write each solution's text twin solutions/NN_slug.md from its .ipynb")
    p.add_argument("paths", nargs="*", type=Path, help="solutions/NN_slug.ipynb (default: every solution)")
    p = sub.add_parser("sync", help="take edited solutions/NN_slug.md files into their .ipynb (outputs and cell ids kept)")
    p.add_argument("paths", nargs="*", type=Path, help="solutions/NN_slug.md (default: every one)")
    args = parser.parse_args(argv)

    if args.command in ("execute", "chapters") and os.environ.get("COURSE_SEED_OFFSET", "0").strip() not in ("", "0"):
        parser.error("COURSE_SEED_OFFSET is set: stored outputs are made with the course's own seeds; "
                     "unset it (tools/robustness.py is the way to run the notebooks under other seeds)")
    if args.command in ("execute", "clean", "chapters"):
        # a solution whose .md says something else: running it would overwrite one of the two
        paths = solution_paths(args.prefix) if args.command == "chapters" else args.paths
        edited = [text_path(p) for p in paths if is_paired(p) and twin_differs(p)]
        if edited:
            for twin in edited:
                print(f"{shown(twin)} and its .ipynb differ: run `tools/notebooks.py sync {shown(twin)}` if you edited the .md, "
                      "`tools/notebooks.py pair` if you edited the .ipynb")
            return 1
    if args.command == "execute":
        for path in args.paths:
            print(f"executing {path}", flush=True)
            write(clean(execute(read(path), path.resolve().parent)), path)
    elif args.command == "chapters":
        CHAPTERS.mkdir(exist_ok=True)
        for path in solution_paths(args.prefix):
            target = CHAPTERS / path.name
            print(f"generating {target.relative_to(ROOT)}", flush=True)
            write(clean(execute(learner_version(read(path)), CHAPTERS)), target)
    elif args.command == "clean":
        for path in args.paths:
            write(clean(read(path)), path)
    elif args.command == "pair":
        for path in [p.with_suffix(".ipynb") for p in args.paths] or solution_paths():
            twin, text = text_path(path), as_text(read(path))
            if twin.exists() and twin.read_text(encoding="utf-8") == text:
                continue
            twin.write_text(text, encoding="utf-8")
            print(f"wrote {shown(twin)}")
    elif args.command == "sync":
        for twin in [text_path(p) for p in args.paths] or sorted(SOLUTIONS.glob("[0-9][0-9]_*.md")):
            if not twin.exists():
                parser.error(f"{twin} does not exist")
            path = twin.with_suffix(".ipynb")
            executed = read(path) if path.exists() else None
            nb = from_text(twin.read_text(encoding="utf-8"), executed)
            for changed in write_pair(nb, path):
                print(f"wrote {shown(changed)}")
            stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
                     (executed is None or c.source not in {e.source for e in executed.cells if e.cell_type == "code"})]
            if stale:
                print(f"{shown(path)}: code cells {stale} are new or changed since it was executed: run "
                      f"`tools/notebooks.py execute {shown(path)}`, then `tools/notebooks.py chapters {path.name[:2]}`")
    elif args.command == "check":
        problems = sync_problems() + pair_problems()
        for folder in (SOLUTIONS, CHAPTERS):
            for path in sorted(folder.glob("*.ipynb")):
                problems += metadata_problems(read(path), str(path.relative_to(ROOT)))
        for problem in problems:
            print(problem)
        print("in sync and clean" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
