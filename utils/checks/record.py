"""What the grader needs from a learner's kernel: the outputs of each call, and nothing else.

When an instructor autogrades (``nbgrader autograde`` with the course's configuration), a graded
check does not judge the learner's function in the learner's kernel, where the learner's code may
have patched anything (a checker, ``torch.isclose``, ``CheckResult.__bool__``). Instead:

1. in the kernel, :class:`Recorder` wraps the learner's function while the checker runs on its
   inputs (the visible cases and hidden ones); each call leaves a fingerprint of its inputs, its
   output (or the exception it raised), what it changed in place, and, for a scalar output with a
   gradient, the gradient of that output with respect to each input;
2. the record travels as plain JSON (:func:`encode`) in the cell's output;
3. in the grader's own process, which never runs learner code, the same checker runs again on
   inputs it builds itself, with a :class:`Replayer` standing in for the learner's function. The
   replayer refuses a call whose inputs differ from the recorded fingerprint, so a record made on
   other inputs than the grader's does not count. Floats in that fingerprint are compared with a
   tolerance (:func:`same_inputs`), never bit for bit: the grader's process may round the last
   bits of the inputs it builds differently from the kernel's.

Forging a record that passes therefore takes the right outputs for the grader's inputs, which is
what the exercise asks for.

Each call also lists the course's own functions that ran while the learner's function did
(``"ran"``: ``module:qualname`` of every function of ``utils/`` outside ``utils/checks/``, seen by
a profile hook for the length of the call), so that the grader can refuse an answer that is the
course's implementation however it was reached (an import, an alias, ``vars()``, ``__globals__``,
a class attribute): what decides is which code ran, not how the cell spells it. An answer that
switches the hook off is marked (``"unwatched"``) and refused too.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import math
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.checks.timing import _Timeout

__all__ = ["encode", "decode", "fingerprint", "same_inputs", "Recorder", "Replayer", "ReplayMismatch", "Unrecordable"]

FORMAT = 2  # 2: fingerprints compare floats with a tolerance (1: bit for bit)


class Unrecordable:
    """Stands in for a returned object that cannot travel in a record (a model, a generator…)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


class ReplayMismatch(Exception):
    """The grader asked for a call that the record does not hold (other inputs, or no such call)."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()


def encode(x: Any) -> Any:
    """A JSON-ready, deterministic description of ``x`` (tensors as base64 of their bytes)."""
    if isinstance(x, torch.Tensor):
        return {"tensor": str(x.dtype).removeprefix("torch."), "shape": list(x.shape),
                "data": base64.b64encode(_tensor_bytes(x)).decode("ascii")}
    if isinstance(x, np.ndarray):
        return {"ndarray": encode(torch.from_numpy(np.ascontiguousarray(x)))}
    if isinstance(x, np.generic):
        return encode(x.item())
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"float": repr(x)}
    if isinstance(x, tuple):
        return {"tuple": [encode(v) for v in x]}
    if isinstance(x, list):
        return {"list": [encode(v) for v in x]}
    return {"object": type(x).__name__}


def decode(x: Any) -> Any:
    """The inverse of :func:`encode` (objects come back as :class:`Unrecordable`)."""
    if isinstance(x, dict):
        if "tensor" in x:
            dtype = getattr(torch, x["tensor"])
            raw = base64.b64decode(x["data"])
            if not raw:
                return torch.empty(x["shape"], dtype=dtype)
            flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype)
            return flat.reshape(x["shape"]).clone()
        if "ndarray" in x:
            return decode(x["ndarray"]).numpy()
        if "float" in x:
            return float(x["float"])
        if "tuple" in x:
            return tuple(decode(v) for v in x["tuple"])
        if "list" in x:
            return [decode(v) for v in x["list"]]
        if "object" in x:
            return Unrecordable(str(x["object"]))
    return x


# Inputs are recognised by a fingerprint with two parts. What is exact (structure, types, shapes,
# dtypes, integers, strings, booleans, integer and boolean tensors, where floats are NaN or
# infinite) is hashed. Floating-point values are summarised by four float64 sums per tensor and
# compared with a tolerance, not bit for bit: the grader rebuilds the inputs in its own process,
# where another thread count or another CPU's kernels (``ATEN_CPU_CAPABILITY``) may round the last
# bits differently. See ``utils.checks.compare.ATOL`` for the tolerances and why.
SKETCH_RTOL = 1e-5   # of the tensor's L1 norm: rounding moves a sum by ~1e-7 of it; another input by ~1
SKETCH_ATOL = 1e-6


def _sketch(t: torch.Tensor) -> list[float]:
    """Four numbers that summarise a floating tensor's values: the sum, the L1 norm and two
    projections on fixed, index-dependent weights (so that a permutation changes them too)."""
    x = t.detach().cpu().double().reshape(-1)
    x = torch.where(torch.isfinite(x), x, torch.zeros_like(x))
    i = torch.arange(x.numel(), dtype=torch.float64)
    w1, w2 = torch.cos(0.7548776662466927 * i + 0.1), torch.cos(0.5698402909980532 * i + 0.3)
    return [float(x.sum()), float(x.abs().sum()), float((x * w1).sum()), float((x * w2).sum())]


def _feed(h: Any, approx: list, x: Any) -> None:
    if isinstance(x, torch.Tensor):
        h.update(f"T{x.dtype}{tuple(x.shape)}".encode())
        if x.is_floating_point() or x.is_complex():
            y = torch.view_as_real(x) if x.is_complex() else x
            y = y.detach().cpu()
            h.update(_tensor_bytes(torch.isnan(y)) + _tensor_bytes(torch.isposinf(y)) + _tensor_bytes(torch.isneginf(y)))
            approx.append(_sketch(y))
        else:
            h.update(_tensor_bytes(x))
    elif isinstance(x, torch.nn.Module):
        h.update(f"M{type(x).__name__}".encode())
        for key, value in sorted(x.state_dict().items()):
            h.update(key.encode())
            _feed(h, approx, value)
    elif isinstance(x, np.ndarray):
        _feed(h, approx, torch.from_numpy(np.ascontiguousarray(x)))
    elif isinstance(x, (tuple, list)):
        h.update(f"{type(x).__name__}{len(x)}(".encode())
        for v in x:
            _feed(h, approx, v)
        h.update(b")")
    elif isinstance(x, dict):
        h.update(f"D{len(x)}(".encode())
        for k in sorted(x, key=str):
            h.update(str(k).encode())
            _feed(h, approx, x[k])
        h.update(b")")
    elif isinstance(x, float) and math.isfinite(x):
        h.update(b"float;")
        approx.append([x, abs(x), x, x])
    elif x is None or isinstance(x, (bool, int, float, str)):
        h.update(f"{type(x).__name__}:{x!r};".encode())
    elif hasattr(x, "_fields"):  # a named tuple of states
        _feed(h, approx, tuple(x))
    else:
        h.update(f"O{type(x).__name__};".encode())


def fingerprint(args: tuple, kwargs: dict | None = None) -> dict:
    """What identifies a call's inputs: ``{"exact": a hash of everything exact, "approx": one
    four-number summary per floating tensor or float}`` (a model's weights included)."""
    h = hashlib.sha256()
    approx: list[list[float]] = []
    _feed(h, approx, tuple(args))
    _feed(h, approx, dict(kwargs or {}))
    return {"exact": h.hexdigest()[:32], "approx": approx}


def same_inputs(recorded: Any, fp: dict) -> bool:
    """Whether a recorded fingerprint (untrusted JSON) describes the inputs ``fp`` describes: the
    exact parts equal, every float summary within ``SKETCH_RTOL`` of the tensor's L1 norm."""
    if not isinstance(recorded, dict) or recorded.get("exact") != fp["exact"]:
        return False
    theirs = recorded.get("approx")
    if not isinstance(theirs, list) or len(theirs) != len(fp["approx"]):
        return False
    for a, b in zip(theirs, fp["approx"]):
        if not (isinstance(a, list) and len(a) == len(b) and all(isinstance(v, (int, float)) for v in a)):
            return False
        tol = SKETCH_ATOL + SKETCH_RTOL * max(abs(a[1]), abs(b[1]))
        if not all(abs(float(u) - v) <= tol for u, v in zip(a, b)):  # NaN fails too
            return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


COURSE = Path(__file__).resolve().parents[1]  # utils/
CHECKS_DIR = Path(__file__).resolve().parent  # utils/checks/: the checkers' own code, not an answer
MAX_RAN = 64  # course functions listed per call, at most


class CourseCodeWatch:
    """A profile hook that notes the course's functions (``utils/``, not ``utils/checks/``) called
    while it is on, in this thread and in any thread started meanwhile."""

    def __init__(self) -> None:
        self.ran: set[str] = set()
        self._files: dict[str, bool] = {}

    def _course_file(self, filename: str) -> bool:
        known = self._files.get(filename)
        if known is None:
            path = Path(filename).resolve() if filename and not filename.startswith("<") else None
            known = path is not None and path.is_relative_to(COURSE) and not path.is_relative_to(CHECKS_DIR)
            self._files[filename] = known
        return known

    def __call__(self, frame, event, arg):  # the signature sys.setprofile gives
        if event == "call" and self._course_file(frame.f_code.co_filename) and len(self.ran) < MAX_RAN:
            self.ran.add(f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}")

    def __enter__(self) -> CourseCodeWatch:
        self._previous = sys.getprofile(), threading.getprofile()
        sys.setprofile(self)
        threading.setprofile(self)
        return self

    def __exit__(self, *exc) -> None:
        self.intact = sys.getprofile() is self
        sys.setprofile(self._previous[0])
        threading.setprofile(self._previous[1])


class Recorder:
    """Call ``fn`` and keep, for each call, what :class:`Replayer` needs to give it back."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.calls: list[dict] = []
        self.__name__ = getattr(fn, "__name__", "function")
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        entry: dict[str, Any] = {"fp": fingerprint(args, kwargs)}
        self.calls.append(entry)
        before = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]
        watch = CourseCodeWatch()
        try:
            with watch:
                out = self.fn(*args, **kwargs)
        except BaseException as exc:
            entry["raised"] = [type(exc).__name__, _first_line(exc)]
            raise
        finally:
            entry["ran"] = sorted(watch.ran)
            if not getattr(watch, "intact", True):
                entry["unwatched"] = True
        changed = {}
        for i, (a, b) in enumerate(zip(args, before)):
            if b is not None and not (a.shape == b.shape and torch.equal(
                    torch.nan_to_num(a.detach()), torch.nan_to_num(b))):
                changed[str(i)] = encode(a)
        if changed:
            entry["inplace"] = changed
        if isinstance(out, torch.Tensor) and out.requires_grad:
            entry["requires_grad"] = True
            inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
            if out.dim() == 0 and inputs:
                grads = torch.autograd.grad(out, [a for _, a in inputs], allow_unused=True, retain_graph=True)
                entry["grads"] = {str(i): encode(g) for (i, _), g in zip(inputs, grads) if g is not None}
        entry["out"] = encode(out)
        return out


def _exception(name: str, message: str) -> BaseException:
    if name == "NotImplementedError":
        return NotImplementedError(message)
    if name == "_Timeout":
        return _Timeout()
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:  # noqa: BLE001 - an exception class whose constructor wants more: use the stand-in below
            pass
    return type(name, (Exception,), {})(message)


class Replayer:
    """Give back, call by call, what a :class:`Recorder` saw, if the inputs are the same."""

    def __init__(self, calls: list[dict], name: str = "function") -> None:
        self.calls = list(calls)
        self.index = 0
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.index >= len(self.calls):
            raise ReplayMismatch("your notebook recorded no answer for this input (did the check "
                                 "in your notebook not run, or was it replaced?)")
        entry = self.calls[self.index]
        self.index += 1
        if not same_inputs(entry.get("fp"), fingerprint(args, kwargs)):
            raise ReplayMismatch("your notebook's recorded call had other inputs than the grader's")
        if "raised" in entry:
            name, message = entry["raised"]
            raise _exception(str(name), str(message))
        for i, value in entry.get("inplace", {}).items():
            target, new = args[int(i)], decode(value)
            if isinstance(target, torch.Tensor) and target.shape == new.shape:
                with torch.no_grad():
                    target.copy_(new.to(target.dtype))
            elif isinstance(target, torch.Tensor):
                with torch.no_grad():  # the shape changed (resize_): make the change visible
                    target.fill_(float("nan") if target.is_floating_point() else -1)
        out = decode(entry.get("out"))
        if entry.get("requires_grad") and isinstance(out, torch.Tensor):
            out = out.detach()
            terms = []
            for i, g in entry.get("grads", {}).items():
                a, grad = args[int(i)], decode(g)
                product = (a * grad.to(a.dtype)).sum()
                terms.append(product - product.detach())
            out = out + sum(terms) if terms else out.requires_grad_(True)
        return out
