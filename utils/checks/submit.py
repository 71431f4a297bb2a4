"""The hidden test of a graded exercise: record the learner's function for the grader.

A graded check cell ends with a hidden block (removed from learners' copies by nbgrader)::

    submit("masked_softmax", masked_softmax)

:func:`submit` runs the exercise's checker on its visible and hidden inputs with the learner's
function wrapped in a :class:`~utils.checks.record.Recorder`, and then:

* under ``nbgrader autograde`` with the course's configuration (``ATTENTION_GRADER=record`` in
  the kernel's environment), it puts the record in the cell's output; the grader judges it in its
  own process (``grading.nbgrader_plugins.JudgeRecords``), so nothing the learner's code patched
  in the kernel can change a score;
* where ``ATTENTION_JUDGE`` names a judge (the course's own repository sets it for the solutions
  its tests and tools run), it judges the record at once with that judge, and raises
  ``AssertionError`` if the answer is wrong;
* in a learner's copy, which has no judge, it only says that the grader judges this exercise.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

from utils.checks.core import recording
from utils.checks.record import FORMAT, Recorder

__all__ = ["submit", "record", "check_by_name", "CHECKS", "MIME", "GRADER_ENV", "JUDGE_ENV", "COURSE_JUDGE"]

MIME = "application/vnd.attention-step-by-step.grading+json"
GRADER_ENV = "ATTENTION_GRADER"
JUDGE_ENV = "ATTENTION_JUDGE"
COURSE_JUDGE = "grading.judge:judge"  # what the course's own runs set JUDGE_ENV to

# check name (as in submit("…")) -> "module:function"
CHECKS = {
    "context_budget": "utils.checks.seq2seq:check_context_budget",
    "masked_cross_entropy": "utils.checks.seq2seq:check_masked_cross_entropy",
    "decode_loop": "utils.checks.seq2seq:check_decode_loop",
    "position_error_rates": "utils.checks.seq2seq:check_position_error_rates",
    "additive_score": "utils.checks.attention:check_additive_score",
    "masked_softmax": "utils.checks.attention:check_masked_softmax",
    "attend": "utils.checks.attention:check_attend",
    "soft_glimpse": "utils.checks.glimpse:check_soft_glimpse",
    "hard_glimpse": "utils.checks.glimpse:check_hard_glimpse",
    "reinforce_surrogate": "utils.checks.glimpse:check_reinforce_surrogate",
    "alignment_scores": "utils.checks.bahdanau:check_alignment_scores",
    "attend_source": "utils.checks.bahdanau:check_attend_source",
    "decoder_step": "utils.checks.bahdanau:check_decoder_step",
    "general_score": "utils.checks.luong:check_general_score",
    "luong_step": "utils.checks.luong:check_luong_step",
    "local_p": "utils.checks.luong:check_local_p",
    "causal_attention": "utils.checks.self_attention:check_causal_attention",
    "split_merge_heads": "utils.checks.self_attention:check_split_merge_heads",
    "sinusoidal_encoding": "utils.checks.self_attention:check_sinusoidal_encoding",
    "decoder_masks": "utils.checks.transformer:check_decoder_masks",
    "cross_attention": "utils.checks.transformer:check_cross_attention",
    "attend_with_cache": "utils.checks.transformer:check_attend_with_cache",
    "online_softmax_merge": "utils.checks.efficient_attention:check_online_softmax_merge",
    "sliding_window_mask": "utils.checks.efficient_attention:check_sliding_window_mask",
    "linear_attention_step": "utils.checks.efficient_attention:check_linear_attention_step",
}


def check_by_name(name: str):
    """The checker function registered under ``name``."""
    if name not in CHECKS:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(sorted(CHECKS))}")
    module, function = CHECKS[name].split(":")
    return getattr(importlib.import_module(module), function)


def _describe(fn: Any) -> dict:
    return {"module": str(getattr(fn, "__module__", "") or ""),
            "name": str(getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__)))}


def record(name: str, *fns: Any) -> dict:
    """Run the checker ``name`` on its visible and hidden cases and return what the calls gave."""
    check = check_by_name(name)
    recorders = [Recorder(f) if callable(f) else f for f in fns]
    with recording(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(*recorders, verbose=False, hidden=True)
    return {
        "format": FORMAT,
        "check": name,
        "calls": [r.calls if isinstance(r, Recorder) else None for r in recorders],
        "answers": [_describe(f) for f in fns],
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5],
    }


def _local_judge():
    """The judge named by ``ATTENTION_JUDGE`` (``module:function``), or None where it is not set.

    Whoever judges says so: the course's repository sets ``grading.judge:judge`` for its own runs
    (the tests, ``tools/notebooks.py``, ``tools/bench.py``, ``tools/robustness.py``), and a
    learner's copy, which has no judge, sets nothing. Nothing here looks for the judge on disk.
    """
    spec = os.environ.get(JUDGE_ENV, "").strip()
    if not spec:
        return None
    module, _, function = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), function or "judge")
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"{JUDGE_ENV}={spec!r} names no judge that can be imported here ({exc})") from None


def submit(name: str, *fns: Any) -> None:
    """The hidden test of exercise ``name``: see the module's docstring."""
    rec = record(name, *fns)
    if os.environ.get(GRADER_ENV) == "record":
        from IPython.display import display

        n = sum(len(c) for c in rec["calls"] if c)
        display({MIME: rec, "text/plain": f"[{n} calls of {name} recorded for the grader]"}, raw=True)
        return
    judge = _local_judge()
    if judge is None:
        print(f"The hidden tests of {name} are judged when your instructor grades the notebook.")
        return
    verdict = judge(rec)
    if not verdict.passed:
        raise AssertionError(verdict.message)
