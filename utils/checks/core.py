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

Hidden inputs are drawn when grading. A checker's hidden cases (``hidden=True``) draw their values
and their shapes (batch sizes, lengths, feature sizes, heads…) from :func:`hidden_generator`,
seeded from the grading seed and the check's name. The grading seed is the integer in the
environment variable ``ATTENTION_GRADER_SEED``: ``tools/grade.py autograde`` sets a fresh one
for each run, and the learners' kernels inherit nbgrader's environment, so the kernel that records
and the grader's process that judges (:mod:`utils.checks.record`) build the same inputs. Where it
is not set (the course's tests, the solutions notebooks, learners' copies) the seed is
:data:`DEFAULT_GRADER_SEED`, so that verdicts, stored outputs and tests are reproducible. Learners
have this module, so they can compute the default seed's hidden inputs, but a table of answers for
those is worth nothing under the seed of a grading run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.checks.record import decode
from utils.checks.timing import _Timeout, time_limit

__all__ = ["Case", "CheckResult", "run_check", "NOT_IMPLEMENTED", "compare_outputs", "time_limit",
           "use_references", "recording", "capturing_expected", "course_implementation", "ATOL", "RTOL",
           "GRADER_SEED_ENV", "DEFAULT_GRADER_SEED", "grader_seed", "hidden_generator", "draw_size", "draw_lengths"]

STORE_PATH = Path(__file__).with_name("expected.json")

# How close a learner's number must be to the expected one: ``|got - expected| <= ATOL + RTOL *
# |expected|``, elementwise, in float64 (``torch.isclose``). This is the one tolerance of every
# checker, of the grader and of the tests that compare stored values with fresh ones; nothing
# computed at run time is compared bit for bit with a stored float. Why these values: float32
# keeps about 7 significant digits (machine epsilon 1.2e-7), and a correct answer computed another
# way (another order of summation, ``exp`` before or after a subtraction) or on another CPU, whose
# kernels PyTorch picks by its vector width (``ATEN_CPU_CAPABILITY``: AVX-512, AVX2 or none), or on
# a GPU, differs from the stored one in the last one or two digits. Measured over every checker's
# visible cases (tests/test_other_cpu.py), the references' answers computed on an AVX2 CPU use at
# most 0.2% of this tolerance against the values stored on an AVX-512 one, and 16% with no vector
# kernels at all (``ATEN_CPU_CAPABILITY=default``, chapter 2's additive score, whose random inputs
# themselves round differently there); the test fails above 50%. The mistakes the checkers name (a
# wrong axis, a missing 1/sqrt(d_k), a wrong state) move results by 1e-2 or more.
ATOL = 1e-5
RTOL = 1e-4
# Where the hidden cases' random numbers come from (see the module's docstring).
GRADER_SEED_ENV = "ATTENTION_GRADER_SEED"
DEFAULT_GRADER_SEED = 0
_REFERENCES: dict[str, Callable] = {}   # name -> reference, installed by the grader and the tests
_STATE: dict[str, Any] = {"recording": 0, "capture": None, "store": None}
_MISSING = object()


def grader_seed() -> int:
    """The grading seed: ``ATTENTION_GRADER_SEED`` if set, else :data:`DEFAULT_GRADER_SEED`.

    Raises:
        ValueError: the variable holds something other than an integer.
    """
    raw = os.environ.get(GRADER_SEED_ENV, "").strip()
    if not raw:
        return DEFAULT_GRADER_SEED
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{GRADER_SEED_ENV} must be an integer, got {raw!r}") from None


def hidden_generator(salt: str) -> torch.Generator:
    """A fresh generator for the hidden cases of one check (``salt``: its name, say), seeded from
    the grading seed and ``salt``: the same in the learner's kernel and in the grader's process, but
    another one for every grading run and every check."""
    # sha256, not hash(): Python salts str hashes per process, and both processes must agree
    digest = hashlib.sha256(f"{grader_seed()}:{salt}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def draw_size(g: torch.Generator, low: int, high: int) -> int:
    """A whole number drawn uniformly from ``low … high``, both included."""
    if low > high:
        raise ValueError(f"draw_size needs low <= high, got {low} > {high}")
    return int(torch.randint(low, high + 1, (1,), generator=g))


def draw_lengths(g: torch.Generator, batch: int, longest: int, shortest: int = 1) -> torch.Tensor:
    """``(batch,)`` int64 lengths drawn from ``shortest … longest``; with two rows or more, one row
    (drawn) is ``longest`` (no padding) and another ``shortest`` (the most padding), so the hidden
    cases keep the edge cases they were written for."""
    lengths = torch.randint(shortest, longest + 1, (batch,), generator=g)
    if batch >= 2:
        full, short = torch.randperm(batch, generator=g)[:2].tolist()
        lengths[full], lengths[short] = longest, shortest
    return lengths


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


def _short(x: Any, limit: int = 80) -> str:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        text = str(x.tolist()) if x.numel() <= 8 else f"tensor of shape {tuple(x.shape)}"
    elif isinstance(x, np.ndarray):
        text = str(x.tolist()) if x.size <= 8 else f"array of shape {x.shape}"
    else:
        text = repr(x)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray) or isinstance(x, (int, float)) and not isinstance(x, bool):
        return torch.as_tensor(np.asarray(x))
    return None


def compare_outputs(
    got: Any, expected: Any, atol: float = ATOL, rtol: float = RTOL, what: str = "output"
) -> str | None:
    """Return None if ``got`` matches ``expected``, else a short description of the difference.

    Tensors and arrays are compared by shape, then NaN, then values within ``atol``/``rtol``;
    tuples and lists element by element; anything else with ``==``.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (tuple, list)) else 1
            return f"returned {n} value(s) ({type(got).__name__}) but expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare_outputs(g, e, atol, rtol, f"{what} #{i + 1}")
            if problem:
                return problem
        return None
    e = _as_tensor(expected)
    if e is None:
        return None if got == expected else f"{what} is {_short(got)} but expected {_short(expected)}"
    g = _as_tensor(got)
    if g is None:
        return f"{what} is a {type(got).__name__} but expected a tensor of shape {tuple(e.shape)}"
    if tuple(g.shape) != tuple(e.shape):
        return f"{what} has shape {tuple(g.shape)} but expected {tuple(e.shape)}"
    if g.is_complex() or e.is_complex() or g.dtype == torch.bool or e.dtype == torch.bool:
        return None if torch.equal(g, e) else f"{what} values differ from the expected ones"
    g64, e64 = g.double(), e.double()
    nan_got, nan_exp = torch.isnan(g64), torch.isnan(e64)
    if (nan_got & ~nan_exp).any():
        idx = tuple(torch.nonzero(nan_got & ~nan_exp)[0].tolist())
        return f"{what} contains NaN (first at index {idx})"
    if not torch.equal(nan_got, nan_exp):
        return f"{what} has numbers where NaN was expected"
    g64, e64 = torch.nan_to_num(g64, nan=0.0), torch.nan_to_num(e64, nan=0.0)
    close = torch.isclose(g64, e64, rtol=rtol, atol=atol)
    if not close.all():
        diff = torch.where(close, torch.zeros_like(g64), (g64 - e64).abs())
        flat = int(torch.argmax(diff))
        idx = tuple(int(i) for i in np.unravel_index(flat, tuple(g64.shape))) if g64.dim() else ()
        got_v, exp_v = g64[idx].item(), e64[idx].item()
        scale = max(abs(exp_v), 1e-12)
        off = f"{abs(got_v - exp_v) / scale:.1%} of the expected value" if abs(exp_v) > atol else f"{abs(got_v - exp_v):.3g}"
        wrong = int((~close).sum())
        return (
            f"{what} differs at index {idx}: got {got_v:.6g}, expected {exp_v:.6g} (off by {off}, "
            f"{wrong} of {close.numel()} values wrong; allowed: {rtol:g} relative, {atol:g} absolute, "
            f"so this is not rounding)"
        )
    return None


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
