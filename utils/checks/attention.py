"""Checkers for chapter 2 (attention as a weighted average).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. The inputs are built with a fixed generator, so the
verdict is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.attention import attend, masked_softmax
from utils.checks.core import Case, CheckResult, run_check

__all__ = ["check_masked_softmax", "check_additive_score", "check_attend", "reference_additive_score"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_masked_softmax(fn: Callable, verbose: bool = True) -> CheckResult:
    """Check ``fn(scores, mask) -> weights`` against :func:`utils.attention.masked_softmax`."""
    g = _gen(0)
    scores = torch.randn(2, 3, 5, generator=g)
    pad = torch.tensor([[True] * 5, [True, True, True, False, False]]).unsqueeze(1)  # (2, 1, 5)
    cases = [
        Case("one row, no mask", (torch.tensor([[1.0, 2.0, 3.0]]), None)),
        Case("a batch with padded keys", (scores, pad)),
        Case("a mask of the scores' full shape", (scores, torch.rand(2, 3, 5, generator=g) > 0.3)),
        Case(
            "a fully masked row (expect zeros, not NaN)",
            (torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]]),
             torch.tensor([[True, False, True], [False, False, False]])),
        ),
        Case("large scores (1000s): exp overflows unless you subtract the max",
             (torch.tensor([[1000.0, 1001.0, 999.0]]), torch.tensor([[True, True, True]]))),
    ]
    return run_check("masked_softmax", fn, cases, reference=masked_softmax, verbose=verbose)


def reference_additive_score(query, key, W_q, W_k, v):
    """``e_{t,j} = vᵀ tanh(q_t W_q + k_j W_k)`` with weight matrices as plain tensors.

    query ``(B, T_q, d_q)``, key ``(B, T_k, d_k)``, W_q ``(d_q, d_a)``, W_k ``(d_k, d_a)``,
    v ``(d_a,)`` -> scores ``(B, T_q, T_k)``.
    """
    units = torch.tanh((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1))  # (B, T_q, T_k, d_a)
    return units @ v


def check_additive_score(fn: Callable, verbose: bool = True) -> CheckResult:
    """Check ``fn(query, key, W_q, W_k, v) -> scores (B, T_q, T_k)``."""
    g = _gen(1)

    def case(desc, B, T_q, T_k, d_q, d_k, d_a):
        return Case(desc, (torch.randn(B, T_q, d_q, generator=g), torch.randn(B, T_k, d_k, generator=g),
                           torch.randn(d_q, d_a, generator=g), torch.randn(d_k, d_a, generator=g),
                           torch.randn(d_a, generator=g)))

    cases = [
        case("one query, three keys", 1, 1, 3, 2, 2, 4),
        case("a batch, queries and keys of different sizes", 2, 3, 5, 4, 6, 8),
        case("more queries than keys", 3, 7, 2, 3, 5, 2),
    ]
    return run_check("additive_score", fn, cases, reference=reference_additive_score, verbose=verbose)


def check_attend(fn: Callable, verbose: bool = True) -> CheckResult:
    """Check ``fn(scores, value, mask=None) -> (context, weights)`` against :func:`utils.attention.attend`."""
    g = _gen(2)
    scores = torch.randn(2, 3, 4, generator=g)
    value = torch.randn(2, 4, 5, generator=g)
    pad = torch.tensor([[True, True, True, True], [True, True, False, False]]).unsqueeze(1)
    none_left = torch.zeros(2, 3, 4, dtype=torch.bool)
    cases = [
        Case("equal scores give the plain mean", (torch.zeros(1, 1, 3), torch.tensor([[[1.0], [2.0], [6.0]]]), None)),
        Case("a batch without a mask", (scores, value, None)),
        Case("a batch with padded keys", (scores, value, pad)),
        Case("every key masked (expect zero context)", (scores, value, none_left)),
    ]
    return run_check("attend", fn, cases, reference=attend, verbose=verbose)
