"""The notebook pipeline: execute, clean, generate learner workbooks, check they are in sync.

    python tools/notebooks.py execute solutions/02_attention_as_weighted_average.ipynb
    python tools/notebooks.py chapters            # every solution -> chapters/, executed
    python tools/notebooks.py chapters 02         # only notebooks whose name starts with 02
    python tools/notebooks.py check               # chapters/ in sync with solutions/? metadata clean?
    python tools/notebooks.py clean PATH...       # clean metadata in place

`solutions/` is the single source of truth. A learner workbook is made from a solution by
nbgrader's own preprocessors: ClearSolutions turns each ``### BEGIN SOLUTION`` … ``### END
SOLUTION`` region into ``raise NotImplementedError()``, ClearHiddenTests drops hidden tests, and
ClearOutput empties the outputs before the workbook is executed again, so that the book and the
learner see what the workbook really prints.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat
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
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip execution noise: fixed kernelspec, minimal language info, only allowed metadata."""
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


def main(argv: list[str] | None = None) -> int:
    # stored outputs never hold progress bars or PYTHONHASHSEED-dependent orders, however the
    # script is called (the Makefile exports the same two)
    os.environ.setdefault("COURSE_PROGRESS", "0")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("ATTENTION_JUDGE", "grading.judge:judge")   # the solutions judge their own answers
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute", help="execute notebooks in place, then clean them")
    p.add_argument("paths", nargs="+", type=Path)
    p = sub.add_parser("chapters", help="generate chapters/ from solutions/")
    p.add_argument("prefix", nargs="?", default=None)
    sub.add_parser("check", help="fail if chapters/ drifted from solutions/ or metadata is dirty")
    p = sub.add_parser("clean", help="clean notebook metadata in place")
    p.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)

    if args.command in ("execute", "chapters") and os.environ.get("COURSE_SEED_OFFSET", "0").strip() not in ("", "0"):
        parser.error("COURSE_SEED_OFFSET is set: stored outputs are made with the course's own seeds; "
                     "unset it (tools/robustness.py is the way to run the notebooks under other seeds)")
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
    elif args.command == "check":
        problems = sync_problems()
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
