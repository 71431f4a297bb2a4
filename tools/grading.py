"""Prepare an nbgrader course directory from solutions/, so the standard nbgrader workflow works.

    python tools/grading.py prepare COURSE_DIR [--timeout 300] [--chapters 02 04]

makes COURSE_DIR/source/chNN/NN_slug.ipynb for every chapter (the solution notebooks, outputs
cleared) and COURSE_DIR/nbgrader_config.py. Then, from COURSE_DIR, with the course's virtual
environment on PATH (nbgrader runs `alembic`):

    nbgrader generate_assignment ch02        # release/ch02: equal in its cells to chapters/
    # collect submissions into submitted/<student>/ch02/
    nbgrader autograde ch02 --create         # runs each notebook, scores the graded check cells
    nbgrader generate_feedback ch02          # feedback/<student>/ch02/*.html
    nbgrader export                          # grades.csv

Each graded check cell carries hidden tests that nbgrader restores when autograding, so an
unsolved or wrong exercise scores zero while the others keep their points. A cell that runs
longer than --timeout seconds is interrupted; the rest of the notebook is still graded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.notebooks import CODE_STUB, solution_paths  # noqa: E402

CONFIG = '''# nbgrader configuration for "Attention, step by step" (written by tools/grading.py).
c = get_config()
c.CourseDirectory.course_id = "attention-step-by-step"
c.CourseDirectory.root = "."
# The same stub as the learner workbooks in chapters/.
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
# A cell that loops forever is interrupted after this many seconds; grading goes on.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
'''


def assignment_name(path: Path) -> str:
    """``solutions/02_attention….ipynb`` -> ``ch02``."""
    return f"ch{path.name[:2]}"


def prepare(course: Path, timeout: int = 300, chapters: list[str] | None = None) -> list[str]:
    """Write the course directory; return the assignment names it holds."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(code_stub=CODE_STUB, timeout=timeout))
    names = []
    for path in solution_paths():
        if chapters and path.name[:2] not in chapters:
            continue
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        target = course / "source" / assignment_name(path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        names.append(assignment_name(path))
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make an nbgrader course directory from solutions/")
    p.add_argument("course", type=Path)
    p.add_argument("--timeout", type=int, default=300, help="seconds a cell may run when autograding")
    p.add_argument("--chapters", nargs="*", help="two-digit chapter numbers (default: all)")
    args = parser.parse_args(argv)
    names = prepare(args.course, args.timeout, args.chapters)
    print(f"{args.course}: assignments {', '.join(names)}; next: cd {args.course} && nbgrader generate_assignment {names[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
