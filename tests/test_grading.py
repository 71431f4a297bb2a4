"""The standard nbgrader workflow on this repository, end to end.

For every chapter, `nbgrader generate_assignment` must produce the same cells as our learner
workbook in chapters/. On chapter 2, three submissions are autograded: the solutions filled in
(full marks), one exercise wrong (that item alone loses its points) and one exercise stuck in an
endless loop (interrupted after the timeout, that item scores zero, the rest are still graded).
Feedback is generated and the grades are exported to CSV.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.grading import assignment_name, prepare
from tools.notebooks import CHAPTERS, solution_paths

BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
GRADED = "02_attention_as_weighted_average.ipynb"  # the chapter whose grading path is driven whole
TIMEOUT = 20  # seconds a cell may run when autograding (chapter 2 needs about one)


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=ENV,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    names = prepare(course, timeout=TIMEOUT)
    for name in names:
        nbgrader(course, "generate_assignment", name, "--force")
    return course


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", solution_paths(), ids=lambda p: p.name)
def test_generate_assignment_equals_our_learner_workbook(course, path):
    released = nbformat.read(str(course / "release" / assignment_name(path) / path.name), as_version=4)
    ours = nbformat.read(str(CHAPTERS / path.name), as_version=4)
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in ours.cells]
    assert "BEGIN HIDDEN TESTS" not in "".join(c.source for c in released.cells)


def make_submission(course: Path, student: str, replace: dict[str, str]) -> None:
    """The released notebook with every exercise solved, then some answers replaced."""
    solution = {nbgrader_meta(c)["grade_id"]: c.source
                for c in nbformat.read(str(solution_paths("02")[0]), as_version=4).cells
                if nbgrader_meta(c).get("solution")}
    nb = nbformat.read(str(course / "release" / "ch02" / GRADED), as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution"):
            cell.source = replace.get(grade_id, solution[grade_id])
    target = course / "submitted" / student / "ch02" / GRADED
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


WRONG_MASKED_SOFTMAX = """
def masked_softmax(scores, mask=None):
    return torch.softmax(scores, dim=-1)   # forgets the mask
"""
ENDLESS_ADDITIVE_SCORE = """
while True:   # never finishes: autograding must interrupt it and go on
    pass
"""


@pytest.fixture(scope="module")
def graded(course) -> Path:
    make_submission(course, "complete", {})
    make_submission(course, "one_wrong", {"ex-masked-softmax": WRONG_MASKED_SOFTMAX})
    make_submission(course, "one_endless", {"ex-additive-score": ENDLESS_ADDITIVE_SCORE})
    nbgrader(course, "autograde", "ch02", "--create", "--force")
    return course


def scores(course: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(GRADED.removesuffix(".ipynb"), "ch02", student)
        return {g.name: g.score for g in notebook.grades}


def test_full_marks_for_the_solutions(graded):
    assert scores(graded, "complete") == {"test-additive-score": 3, "test-masked-softmax": 3, "test-attend": 2}


def test_a_wrong_exercise_loses_only_its_points(graded):
    assert scores(graded, "one_wrong") == {"test-additive-score": 3, "test-masked-softmax": 0, "test-attend": 2}


def test_an_endless_exercise_scores_zero_and_the_rest_are_graded(graded):
    assert scores(graded, "one_endless") == {"test-additive-score": 0, "test-masked-softmax": 3, "test-attend": 2}


def test_feedback_and_grade_export(graded):
    nbgrader(graded, "generate_feedback", "ch02", "--force")
    for student in ("complete", "one_wrong", "one_endless"):
        page = graded / "feedback" / student / "ch02" / GRADED.replace(".ipynb", ".html")
        assert page.exists() and "masked_softmax" in page.read_text()
    nbgrader(graded, "export", "--to", str(graded / "grades.csv"))
    with open(graded / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == "ch02"}
    assert {k: float(rows[k]["raw_score"]) for k in rows} == {"complete": 8.0, "one_wrong": 5.0, "one_endless": 5.0}
    assert all(float(r["max_score"]) == 8.0 for r in rows.values())
