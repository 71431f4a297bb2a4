"""A verdict a learner can trust: the same verdict on a re-run, a clear message when a name was
reused, and a numeric mismatch that says how far off it is, so it is never taken for rounding."""

import subprocess
import sys
from pathlib import Path

import torch

from utils.attention import masked_softmax as course_masked_softmax
from utils.checks.attention import check_masked_softmax
from utils.checks.core import compare_outputs

ROOT = Path(__file__).resolve().parent.parent


def test_a_name_reused_for_a_number_says_so():
    verdict = check_masked_softmax(0.25, verbose=False)
    assert not verdict.passed
    assert "got a float" in verdict.message and "later cell" in verdict.message and "run your exercise cell again" in verdict.message


def test_the_course_version_under_the_exercise_name_says_how_that_happens():
    verdict = check_masked_softmax(course_masked_softmax, verbose=False)
    assert not verdict.passed and "course's own implementation" in verdict.message
    assert "imported the course's version under its name" in verdict.message


def test_a_numeric_mismatch_gives_its_relative_error_and_is_not_called_rounding():
    got, expected = torch.tensor([1.0, 0.408448, 3.0]), torch.tensor([1.0, 0.40695, 3.0])
    problem = compare_outputs(got, expected)
    assert "differs at index (1,)" in problem and "0.4% of the expected value" in problem
    assert "1 of 3 values wrong" in problem and "not rounding" in problem
    assert compare_outputs(expected + 1e-7, expected) is None          # rounding passes
    near_zero = compare_outputs(torch.tensor([0.01]), torch.tensor([0.0]))
    assert "off by 0.01" in near_zero                                   # no percentage of zero


def test_every_check_cell_is_run_again_after_the_last_cell():
    """The collection adds, after a notebook's last cell, a re-run of each check cell: 3 in chapter 2."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval", "-p", "no:cacheprovider",
                          "-p", "no:xdist", "solutions/02_attention_as_weighted_average.ipynb"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    again = [line for line in ids if "again, after the last cell" in line]
    assert [line.split("::")[1] for line in again] == ["Cell 13 again, after the last cell",
                                                      "Cell 18 again, after the last cell",
                                                      "Cell 21 again, after the last cell"], out.stdout[-2000:]
    assert ids[-3:] == again                                            # after every other cell


def test_attend_is_judged_with_the_course_masked_softmax_so_one_mistake_costs_one_exercise():
    """Chapter 2: a learner's attend calls their own masked_softmax; a wrong masked_softmax must not
    fail attend too, and the learner's name is theirs again after the check."""
    from utils.checks.attention import check_attend

    namespace: dict = {"torch": torch}
    exec("def masked_softmax(scores, mask=None):\n"          # wrong: forgets the mask
         "    return torch.softmax(scores, dim=-1)\n"
         "def attend(scores, value, mask=None):\n"
         "    weights = masked_softmax(scores, mask)\n"
         "    return weights @ value, weights\n", namespace)
    wrong = namespace["masked_softmax"]
    assert check_attend(namespace["attend"], verbose=False).passed
    assert namespace["masked_softmax"] is wrong
    assert not check_masked_softmax(wrong, verbose=False).passed
