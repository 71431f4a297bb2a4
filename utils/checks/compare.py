"""Comparing a learner's result with the expected one: the course's one tolerance, and a message
that says what differs (shape, type, NaN, which element and by how much)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["ATOL", "RTOL", "compare_outputs"]

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
