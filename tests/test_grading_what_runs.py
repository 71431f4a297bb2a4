"""Grading decides by what runs: which cells a grading run executes (grading.needed), and which of
the course's functions ran inside a learner's answer (utils.checks.record.CourseCodeWatch)."""

from __future__ import annotations

import contextlib
import io
import sys
import threading

import nbformat
import pytest
import torch

from grading.judge import judge
from grading.needed import cells_to_run, defined_and_used
from grading.references import OWN_IMPLEMENTATION
from tools.notebooks import solution_paths
from utils.checks.record import Recorder
from utils.checks.submit import record


def honest_masked_softmax(scores, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.nan_to_num(weights, nan=0.0)


def via_vars(scores, mask=None):
    import utils.attention as hidden_name

    return vars(hidden_name)["masked_softmax"](scores, mask)


def via_globals(scores, mask=None):
    from utils.attention import attention_pool

    return attention_pool.__globals__["_masked_softmax"](scores, mask)  # the unchecked twin, underscored


def via_a_thread(scores, mask=None):
    import importlib

    box = {}
    module = importlib.import_module("utils." + "attention")
    worker = threading.Thread(target=lambda: box.setdefault("w", module.masked_softmax(scores, mask)))
    worker.start()
    worker.join()
    return box["w"]


def unwatching(scores, mask=None):
    sys.setprofile(None)  # switches the watch off, then does anything
    return honest_masked_softmax(scores, mask)


@pytest.mark.parametrize("cheat", [via_vars, via_globals, via_a_thread])
def test_the_course_implementation_is_refused_however_it_is_reached(cheat):
    verdict = judge(record("masked_softmax", cheat), "masked_softmax")
    assert not verdict.passed and "runs the course's own implementation" in verdict.message, verdict.message


def test_an_answer_that_switches_the_watch_off_is_refused():
    verdict = judge(record("masked_softmax", unwatching), "masked_softmax")
    assert not verdict.passed and "switched off" in verdict.message


def test_an_honest_answer_passes_and_the_watch_is_restored():
    before = sys.getprofile()
    verdict = judge(record("masked_softmax", honest_masked_softmax), "masked_softmax")
    assert verdict.passed, verdict.message
    assert sys.getprofile() is before and threading.getprofile() is None


def test_a_class_attribute_reaching_the_course_decoder_step_is_refused():
    from utils.bahdanau import BahdanauState

    def decoder_step(decoder, prev_token, s_prev, enc_out, keys, mask):
        step = vars(type(decoder))["step"]
        logits, state, weights = step(decoder, prev_token, BahdanauState(s_prev, keys), enc_out, mask)
        return logits, state.hidden, weights

    verdict = judge(record("decoder_step", decoder_step), "decoder_step")
    assert not verdict.passed and "BahdanauDecoder.step" in verdict.message, verdict.message


def test_the_watch_sees_only_the_course_and_not_the_checkers():
    import utils.attention as attention

    rec = Recorder(lambda s: attention.masked_softmax(s, None))
    rec(torch.randn(2, 3))
    assert "utils.attention:masked_softmax" in rec.calls[0]["ran"]
    assert all(not r.startswith("utils.checks") for r in rec.calls[0]["ran"])
    plain = Recorder(lambda s: torch.softmax(s, -1))
    plain(torch.randn(2, 3))
    assert plain.calls[0]["ran"] == []


def test_every_own_implementation_name_is_a_real_course_name():
    """A name that no longer exists in utils/ would silently empty the rule for its exercise."""
    import pathlib

    text = "\n".join(p.read_text() for p in pathlib.Path("utils").rglob("*.py") if "checks" not in p.parts)
    for exercise, names in OWN_IMPLEMENTATION.items():
        for name in names:
            assert f"def {name}(" in text or f"class {name}(" in text or f"class {name}:" in text, (exercise, name)


# ---------------------------------------------------------------- which cells grading runs
def test_defined_and_used():
    assert defined_and_used("x = f(y)\nz.w = 1\nt[0] = x") == ({"x", "z", "t"}, {"f", "y", "x", "z", "t"})
    assert defined_and_used("%timeit f()") is None and defined_and_used("def (") is None
    assert defined_and_used("import torch.nn as nn\nfrom a import b") == ({"nn", "b"}, set())


def test_only_the_graded_cells_and_what_they_use_run():
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "import torch",                                  # 0 used by the answer
        "model = train(torch)",                          # 1 training: nothing graded needs it
        "def helper(x):\n    return torch.relu(x)",      # 2 used by the answer
        "plot(model)",                                   # 3
        "def answer(x):\n    return helper(x)",          # 4 the answer cell
        "check(answer)",                                 # 5 the graded cell
        "%matplotlib inline",                            # 6 cannot be read: runs
    )]
    cells[4].metadata["nbgrader"] = {"solution": True, "grade_id": "ex-a"}
    cells[5].metadata["nbgrader"] = {"grade": True, "grade_id": "test-a"}
    assert cells_to_run(cells) == {0, 2, 4, 5, 6}


@pytest.mark.slow(seconds=10)   # runs each solution notebook's needed cells: about 50 s for all of them (measured with seven chapters)
@pytest.mark.parametrize("path", solution_paths(), ids=lambda p: p.name[:2])
def test_the_solutions_pass_every_graded_check_with_only_the_cells_grading_runs(path, monkeypatch):
    """What a grading run executes of the instructors' own solution is enough for full marks: each
    check cell's hidden test judges the answer here, with the grader's judge, and raises if wrong."""
    nb = nbformat.read(str(path), as_version=4)
    keep = cells_to_run(nb.cells)
    graded = [i for i, c in enumerate(nb.cells) if (c.metadata.get("nbgrader") or {}).get("grade")]
    assert graded and set(graded) <= keep
    skipped = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in keep]
    assert skipped, "grading would run every cell, training included"
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("COURSE_PROGRESS", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i in sorted(keep):
            exec(compile(nb.cells[i].source, f"{path.name} cell {i}", "exec"), namespace)
    assert out.getvalue().count("✅") >= len(graded), out.getvalue()[-2000:]
    assert "❌" not in out.getvalue(), out.getvalue()[-2000:]


# ---------------------------------------------------------------- who judges
def test_submit_judges_only_where_a_judge_is_named(monkeypatch, capsys):
    """The package learners get never looks for the instructors' judge: without ATTENTION_JUDGE
    (a learner's copy) it prints a notice, even here where grading/ exists; with it, it judges."""
    from utils.checks.submit import JUDGE_ENV, submit

    def wrong(scores, mask=None):
        return torch.softmax(scores, dim=0)

    monkeypatch.delenv(JUDGE_ENV, raising=False)
    submit("masked_softmax", wrong)
    assert "judged when your instructor grades" in capsys.readouterr().out
    monkeypatch.setenv(JUDGE_ENV, "grading.judge:judge")
    with pytest.raises(AssertionError, match="masked_softmax"):
        submit("masked_softmax", wrong)
    monkeypatch.setenv(JUDGE_ENV, "no_such_module:judge")
    with pytest.raises(RuntimeError, match="names no judge"):
        submit("masked_softmax", wrong)


def test_the_learners_package_does_not_touch_sys_path():
    import pathlib

    for path in pathlib.Path("utils").rglob("*.py"):
        assert "sys.path" not in path.read_text(), path
