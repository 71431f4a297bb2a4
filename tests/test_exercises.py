"""The one table of exercises (utils.checks.exercises.EXERCISES) against everything that derives
from it or must agree with it: the checkers, the instructors' answers, the notebooks."""

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from grading.references import ANSWERS, OWN_IMPLEMENTATION, REFERENCES
from utils.checks.exercises import EXERCISES
from utils.checks.submit import CHECKS, check_by_name

ROOT = Path(__file__).resolve().parent.parent
SUBMIT = re.compile(r'submit\(\s*"(\w+)"')


def graded_cells() -> dict[str, tuple[str, dict]]:
    """submit name -> (chapter, the graded cell's nbgrader metadata), over solutions/."""
    found: dict[str, tuple[str, dict]] = {}
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for name in SUBMIT.findall("".join(cell["source"])):
                assert name not in found, f"{name} submitted twice: {found[name][0]} and {path.name}"
                found[name] = (path.name[:2], cell["metadata"].get("nbgrader", {}))
    return found


def test_every_notebook_submits_exactly_the_table_with_its_chapter_and_points():
    cells = graded_cells()
    assert set(cells) == set(EXERCISES)   # every exercise of the table is in a notebook, and no other
    for name, (chapter, nbgrader) in cells.items():
        exercise = EXERCISES[name]
        assert chapter == exercise.chapter, name
        assert nbgrader.get("grade") is True and nbgrader.get("locked") is True, name
        assert nbgrader.get("points") == exercise.points, (name, nbgrader.get("points"), exercise.points)


def test_the_checks_derive_from_the_table_and_exist():
    assert CHECKS == {name: exercise.checker for name, exercise in EXERCISES.items()}
    for name, exercise in EXERCISES.items():
        module, function = exercise.checker.split(":")
        assert module.startswith("utils.checks.") and callable(getattr(importlib.import_module(module), function))
        assert check_by_name(name) is getattr(importlib.import_module(module), function)
        assert exercise.points > 0 and re.fullmatch(r"\d\d", exercise.chapter)
    with pytest.raises(KeyError, match="no exercise called"):
        check_by_name("not_an_exercise")


def test_the_instructors_answer_every_exercise_and_nothing_else():
    assert set(ANSWERS) == set(EXERCISES)
    assert set(OWN_IMPLEMENTATION) <= set(EXERCISES)
    assert REFERENCES == {key: fn for answer in ANSWERS.values() for key, fn in answer.references.items()}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_checker_asks_for_exactly_the_references_its_answer_holds(name):
    """A checker judges by name (core.run_check("NAME", ...) looks the reference up under NAME);
    the answer holds a reference for every name its checker asks for, and no other. An answer with
    no reference (hard_glimpse, a sampler) is judged by its cases' own expected values."""
    asked = set(re.findall(r'run_check\(\s*"(\w+)"', inspect.getsource(check_by_name(name))))
    held = set(ANSWERS[name].references)
    assert asked, name
    assert asked == held or (not held and asked == {name}), (name, asked, held)
