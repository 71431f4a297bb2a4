"""The machinery behind every exercise checker: run learner code safely, compare, explain.

A checker calls the learner's function on a few :class:`Case` inputs, compares each result
with a reference, and prints one short verdict:

* ``✅ masked_softmax: passed (5 cases)``
* ``⏳ masked_softmax: not implemented yet — replace `raise NotImplementedError()` …``
* ``❌ masked_softmax: returned shape (2, 3) but expected (2, 4) on "a batch of two rows"``

It never raises on bad learner code (exceptions, NaN, wrong types, endless loops, inputs changed
in place): the notebook goes on. It returns a :class:`CheckResult`, truthy when passed.

Where the expected values come from. A learner's copy of the course holds no reference
implementation of an exercise: the expected output of every visible case is stored in
``expected.json`` next to this module (written by ``tools/grade.py expected`` from the
instructors' references in ``grading/references.py``, which learners do not get). The grader and
the course's own tests install those references with :func:`use_references`, so hidden cases are
judged too. Grades never come from this module's verdict in the learner's kernel: see
:mod:`utils.checks.record` and :mod:`utils.checks.submit`.

Hidden inputs are drawn when grading (:mod:`utils.checks.hidden`): a table of answers for the
default seed's hidden cases is worth nothing under the seed of a grading run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.checks.compare import ATOL, RTOL, compare_outputs
from utils.checks.record import decode
from utils.checks.timing import _Timeout, time_limit

__all__ = ["Case", "CheckResult", "run_check", "NOT_IMPLEMENTED", "compare_outputs", "time_limit",
           "use_references", "recording", "capturing_expected", "course_implementation", "ATOL", "RTOL"]

STORE_PATH = Path(__file__).with_name("expected.json")

_REFERENCES: dict[str, Callable] = {}   # name -> reference, installed by the grader and the tests
_STATE: dict[str, Any] = {"recording": 0, "capture": None, "store": None}
_MISSING = object()


@contextmanager
def use_references(references: dict[str, Callable]):
    """Judge with these reference implementations (by check name) instead of the stored values."""
    saved = dict(_REFERENCES)
    _REFERENCES.update(references)
    try:
        yield
    finally:
        _REFERENCES.clear()
        _REFERENCES.update(saved)


@contextmanager
def recording():
    """Let a check run on cases whose expected value this copy of the course does not hold (the
    hidden cases): their outputs are only recorded, for the grader to judge."""
    _STATE["recording"] += 1
    try:
        yield
    finally:
        _STATE["recording"] -= 1


@contextmanager
def capturing_expected():
    """Collect ``{check name: {case description: expected}}`` instead of checking anything."""
    store: dict[str, dict[str, Any]] = {}
    saved, _STATE["capture"] = _STATE["capture"], store
    try:
        yield store
    finally:
        _STATE["capture"] = saved


def _stored(name: str, description: str) -> Any:
    if _STATE["store"] is None:
        raw = json.loads(STORE_PATH.read_text()) if STORE_PATH.exists() else {}
        _STATE["store"] = {check: {desc: decode(v) for desc, v in cases.items()}
                           for check, cases in raw.items()}
    return _STATE["store"].get(name, {}).get(description, _MISSING)


def course_implementation(fn: Any) -> str | None:
    """The dotted name of the course's own code if ``fn`` is it (or wraps it), else None.

    The checkers' own wrappers (``utils.checks.*``) are looked through via ``__wrapped__``.
    """
    for _ in range(10):
        if fn is None:
            return None
        module = getattr(fn, "__module__", None) or ""
        if (module == "utils" or module.startswith(("utils.", "grading"))) and not module.startswith("utils.checks"):
            return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"
        fn = getattr(fn, "__wrapped__", None) or getattr(fn, "func", None)  # decorators, partial
    return None


@contextmanager
def with_course_versions(fn: Any, **versions: Callable):
    """While checking ``fn``, let the names it looks up in its module (a notebook's namespace) mean
    the course's versions: an exercise that builds on an earlier one (chapter 2's ``attend`` calls the
    learner's ``masked_softmax``) is judged on its own, so one mistake never costs two exercises.
    Only names that ``fn``'s namespace holds are replaced, and each is put back afterwards."""
    while fn is not None and not hasattr(fn, "__globals__"):
        fn = getattr(fn, "__wrapped__", None) or getattr(fn, "func", None)
    namespace: dict[str, Any] = getattr(fn, "__globals__", None) or {}  # {}: no function found, nothing to replace
    saved = {name: namespace[name] for name in versions if name in namespace}
    try:
        for name in saved:
            namespace[name] = versions[name]
        yield
    finally:
        for name, value in saved.items():
            namespace[name] = value


NOT_IMPLEMENTED = "not implemented yet — replace `raise NotImplementedError()` with your code"


@dataclass
class Case:
    """One input to try.

    Args:
        description: how the verdict names this input ("a fully masked row").
        args: positional arguments for the learner's function.
        kwargs: keyword arguments.
        expected: the right answer; None means "ask the checker's reference function".
    """

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None


@dataclass
class CheckResult:
    """The verdict of a checker: ``passed`` and the one-line ``message`` that was printed."""

    name: str
    passed: bool
    message: str
    status: str = "passed"  # passed | not-implemented | failed

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        # The verdict was printed already; showing the object again would only repeat it.
        pass


def _clone(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    return copy.deepcopy(x)


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, torch.Tensor):
        return not (
            isinstance(after, torch.Tensor)
            and before.shape == after.shape
            and torch.equal(torch.nan_to_num(before.detach()), torch.nan_to_num(after.detach()))
        )
    if isinstance(before, np.ndarray):
        return not np.array_equal(before, after, equal_nan=True)
    if isinstance(before, (tuple, list)):
        return len(before) != len(after) or any(_changed(b, a) for b, a in zip(before, after))
    if isinstance(before, torch.nn.Module):  # a model: compare its parameters and buffers
        b, a = before.state_dict(), after.state_dict()
        return b.keys() != a.keys() or any(_changed(b[k], a[k]) for k in b)
    if type(before).__eq__ is object.__eq__:  # no value equality: == would compare identity
        return False
    try:
        return bool(before != after)
    except Exception:  # noqa: BLE001 - objects without a usable ==: assume unchanged
        return False


def matches(fn: Callable, args: tuple, wrong: Callable) -> bool:
    """Whether ``fn(*args)`` equals what a known mistake ``wrong(*args)`` gives (never raises)."""
    try:
        with time_limit(2.0), torch.no_grad():
            got = fn(*(_clone(a) for a in args))
        return compare_outputs(got, wrong(*(_clone(a) for a in args))) is None
    except BaseException:  # noqa: BLE001 - learner code: anything may happen, and it only means "no hint"
        return False


def with_hints(result: CheckResult, fn: Callable, hints: Sequence[tuple[str, tuple, Callable]],
               verbose: bool) -> CheckResult:
    """Name the mistake: append the first hint whose known mistake ``fn`` reproduces on its probe
    input to a failed verdict, then print the verdict."""
    if result.status == "failed" and "still running" not in result.message and "own implementation" not in result.message:
        for hint, args, wrong in hints:
            if matches(fn, args, wrong):
                result.message += f" — {hint}"
                break
    if verbose:
        print(result.message)
    return result


def _expected(case: Case, name: str, reference: Callable | None) -> Any:
    """The case's own value, else the installed or given reference, else the stored value."""
    if case.expected is not None:
        return case.expected
    reference = _REFERENCES.get(name, reference)
    if reference is not None:
        return reference(*(_clone(a) for a in case.args), **{k: _clone(v) for k, v in case.kwargs.items()})
    value = _stored(name, case.description)
    if value is _MISSING and not _STATE["recording"]:
        raise LookupError(f"no expected value for {name!r} on {case.description!r}: regenerate "
                          "utils/checks/expected.json with `python tools/grade.py expected`")
    return value


def run_check(
    name: str,
    candidate: Callable,
    cases: Sequence[Case],
    reference: Callable | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    timeout: float = 10.0,
    verbose: bool = True,
    extra: Callable[[Callable], str | None] | None = None,
    hints: Sequence[tuple[str, tuple, Callable]] | None = None,
) -> CheckResult:
    """Try ``candidate`` on every case and report the first problem found.

    Args:
        name: the exercise's name, shown in the verdict.
        candidate: the learner's function.
        cases: the inputs to try, in order from simplest to trickiest.
        reference: computes the expected output for cases whose ``expected`` is None (else the
            reference installed under ``name`` by :func:`use_references`, else the stored value).
        atol, rtol: tolerances for comparing numbers.
        timeout: seconds allowed per case (an endless loop is reported, not waited for).
        verbose: print the verdict.
        extra: an optional further test, called with ``candidate`` after all cases pass; it
            returns a problem description or None.
        hints: known mistakes ``(hint, probe args, wrong implementation)``: a failed verdict
            ends with the hint of the first mistake that ``candidate`` reproduces.

    Returns:
        A :class:`CheckResult`.
    """

    def finish(passed: bool, text: str, status: str) -> CheckResult:
        mark = {"passed": "✅", "not-implemented": "⏳", "failed": "❌"}[status]
        result = CheckResult(name, passed, f"{mark} {name}: {text}", status)
        return with_hints(result, candidate, hints or [], verbose)

    if _STATE["capture"] is not None:  # tools/grade.py expected: store the references' answers
        found = _STATE["capture"].setdefault(name, {})
        for case in cases:
            if case.description in found:
                raise ValueError(f"two cases of {name} are both called {case.description!r}")
            found[case.description] = _expected(case, name, reference)
        return CheckResult(name, True, f"captured {len(cases)} cases", "passed")

    if not callable(candidate):
        return finish(False, f"expected a function, got a {type(candidate).__name__}: if you wrote the function, a "
                      f"later cell may have given its name to something else; run your exercise cell again, then "
                      f"this check", "failed")
    own = course_implementation(candidate)
    if own:
        return finish(False, f"this is the course's own implementation ({own}), not yours: write the function "
                      f"yourself (if you did, a later cell may have imported the course's version under its "
                      f"name; run your exercise cell again, then this check)", "failed")

    for case in cases:
        where = f'on "{case.description}"'
        args = tuple(_clone(a) for a in case.args)
        kwargs = {k: _clone(v) for k, v in case.kwargs.items()}
        try:
            with time_limit(timeout), torch.no_grad():
                got = candidate(*args, **kwargs)
        except NotImplementedError:
            return finish(False, NOT_IMPLEMENTED, "not-implemented")
        except _Timeout:
            return finish(False, f"still running after {timeout:g} s {where} (an endless loop?)", "failed")
        except Exception as exc:  # noqa: BLE001 - learner code may raise anything
            message = str(exc).splitlines()[0] if str(exc) else ""
            return finish(False, f"raised {type(exc).__name__}: {message} {where}".replace("  ", " "), "failed")
        for i, (before, after) in enumerate(zip(case.args, args)):
            if _changed(before, after):
                return finish(False, f"changed its argument #{i + 1} in place {where}; build a new tensor instead", "failed")
        for key, before in case.kwargs.items():
            if _changed(before, kwargs[key]):
                return finish(False, f"changed its argument `{key}` in place {where}; build a new tensor instead", "failed")
        expected = _expected(case, name, reference)
        if expected is _MISSING:  # a hidden case, recorded for the grader, judged there
            continue
        problem = compare_outputs(got, expected, atol, rtol)
        if problem:
            return finish(False, f"{problem} {where}", "failed")

    if extra is not None:
        try:
            with time_limit(timeout):
                problem = extra(candidate)
        except NotImplementedError:
            return finish(False, NOT_IMPLEMENTED, "not-implemented")
        except _Timeout:
            return finish(False, f"still running after {timeout:g} s (an endless loop?)", "failed")
        except Exception as exc:  # noqa: BLE001 - learner code may raise anything
            return finish(False, f"raised {type(exc).__name__}: {exc}", "failed")
        if problem:
            return finish(False, problem, "failed")
    return finish(True, f"passed ({len(cases)} cases)", "passed")
