"""Checkers for chapter 2 (attention as a weighted average).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. When an answer is wrong in a way learners often get it
wrong (the softmax over the wrong axis, the mask forgotten, v before the tanh), the verdict ends
with a hint. The visible inputs are built with a fixed generator, so the verdict is the same on every
run; the hidden ones (``hidden=True``) draw their values and shapes from
:func:`~utils.checks.hidden.hidden_generator`, which a grading run seeds afresh.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.attention import masked_softmax as course_masked_softmax
from utils.checks.core import Case, CheckResult, run_check, with_course_versions
from utils.checks.hidden import draw_lengths, draw_size, hidden_generator

__all__ = ["check_masked_softmax", "check_additive_score", "check_attend"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _softmax_wrong_axis(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, dim=-2)
    return torch.softmax(scores.masked_fill(~mask.expand_as(scores), float("-inf")), dim=-2)


def _mask_inverted(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(mask.expand_as(scores), float("-inf")), dim=-1)


def _minus_inf_then_softmax(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(~mask.expand_as(scores), float("-inf")), dim=-1)


def _multiply_after_softmax(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores, dim=-1) * mask


def _fill_minus_1e9_then_softmax(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(~mask.expand_as(scores), -1e9), dim=-1)


def _softmax_hints() -> list:
    scores = torch.randn(2, 3, 4, generator=_gen(90))
    pad = torch.tensor([[True] * 4, [True, True, False, False]]).unsqueeze(1)
    full = torch.tensor([[[True, False, True], [False, False, False]]])
    mixed = torch.tensor([[True, True, True, False], [True, True, False, False]]).unsqueeze(1)  # no row all True
    return [
        ("hint: the softmax runs over the wrong axis; normalise over the keys, dim=-1",
         (scores, pad), _softmax_wrong_axis),
        ("hint: the mask is the wrong way round; True means 'may attend', so fill where the mask is False (~mask)",
         (scores, mixed), _mask_inverted),
        ("hint: a fully masked row is all -inf, and softmax of it is 0/0 = NaN; give such rows zero weights",
         (torch.randn(1, 2, 3, generator=_gen(91)), full), _minus_inf_then_softmax),
        ("hint: zeroing masked weights after the softmax leaves rows that no longer sum to 1; mask the scores before it",
         (scores, pad), _multiply_after_softmax),
        ("hint: a fully masked row is all -1e9, and softmax of it is uniform (1/T each), not zero; "
         "give such rows zero weights", (torch.randn(1, 2, 3, generator=_gen(91)), full), _fill_minus_1e9_then_softmax),
    ]


def check_masked_softmax(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(scores, mask) -> weights``: softmax over the last axis where ``mask`` is True,
    zero weights elsewhere, and a row of zeros (not NaN) where nothing is allowed."""
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
    if hidden:
        h = hidden_generator("masked_softmax")
        B, H, T_q, T_k = draw_size(h, 2, 4), draw_size(h, 1, 4), draw_size(h, 1, 5), draw_size(h, 2, 8)
        key_mask = torch.rand(B, 1, 1, T_k, generator=h) > 0.4          # (B, 1, 1, T_k)
        key_mask[draw_size(h, 0, B - 1)] = False                          # one entry with no key left
        R, T = draw_size(h, 1, 5), draw_size(h, 1, 8)
        B1, T_q1 = draw_size(h, 1, 4), draw_size(h, 1, 6)
        cases += [
            Case(f"hidden: 4-D scores ({B}, {H}, {T_q}, {T_k}) with a (B, 1, 1, T_k) mask, one batch entry "
                 f"fully masked", (torch.randn(B, H, T_q, T_k, generator=h), key_mask)),
            Case(f"hidden: a mask that allows everything ({R}, {T})",
                 (torch.randn(R, T, generator=h), torch.ones(R, T, dtype=torch.bool))),
            Case(f"hidden: float64 scores ({B1}, {T_q1}, 1), one key",
                 (torch.randn(B1, T_q1, 1, generator=h, dtype=torch.float64), None)),
        ]
    return run_check("masked_softmax", fn, cases, verbose=verbose, hints=_softmax_hints())


def _additive_v_inside_tanh(query, key, W_q, W_k, v):
    return torch.tanh(((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1)) @ v)


def _additive_axes_swapped(query, key, W_q, W_k, v):
    return torch.tanh((query @ W_q).unsqueeze(1) + (key @ W_k).unsqueeze(2)) @ v  # (B, T_k, T_q)


def _additive_hints() -> list:
    g = _gen(92)
    probe = (torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 6, generator=g),
             torch.randn(4, 8, generator=g), torch.randn(6, 8, generator=g), torch.randn(8, generator=g))
    return [
        ("hint: v comes after the tanh: vᵀ tanh(q W_q + k W_k), not tanh(vᵀ (q W_q + k W_k))",
         probe, _additive_v_inside_tanh),
        ("hint: the queries and keys are broadcast along swapped axes; unsqueeze(2) the projected "
         "queries and unsqueeze(1) the projected keys, so the scores are (B, T_q, T_k)", probe, _additive_axes_swapped),
    ]


def check_additive_score(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(query, key, W_q, W_k, v) -> scores (B, T_q, T_k)``."""
    g = _gen(1)

    def case(desc, B, T_q, T_k, d_q, d_k, d_a, gen=g):
        return Case(desc, (torch.randn(B, T_q, d_q, generator=gen), torch.randn(B, T_k, d_k, generator=gen),
                           torch.randn(d_q, d_a, generator=gen), torch.randn(d_k, d_a, generator=gen),
                           torch.randn(d_a, generator=gen)))

    cases = [
        case("one query, three keys", 1, 1, 3, 2, 2, 4),
        case("a batch, queries and keys of different sizes", 2, 3, 5, 4, 6, 8),
        case("more queries than keys", 3, 7, 2, 3, 5, 2),
    ]
    if hidden:
        h = hidden_generator("additive_score")
        B, T_k, d_q, d_k = draw_size(h, 2, 5), draw_size(h, 2, 10), draw_size(h, 1, 6), draw_size(h, 1, 6)
        cases.append(case(f"hidden: one query, {T_k} keys, d_a = 1 (B={B}, d_q={d_q}, d_k={d_k})",
                          B, 1, T_k, d_q, d_k, 1, gen=h))
        T_q, T_k, d_q, d_k, d_a = (draw_size(h, 2, 6), draw_size(h, 2, 6), draw_size(h, 1, 4), draw_size(h, 1, 4),
                                   draw_size(h, 8, 20))
        cases.append(case(f"hidden: a batch of one, d_a = {d_a} larger than both sizes (T_q={T_q}, T_k={T_k}, "
                          f"d_q={d_q}, d_k={d_k})", 1, T_q, T_k, d_q, d_k, d_a, gen=h))
    return run_check("additive_score", fn, cases, verbose=verbose, hints=_additive_hints())


def _attend_wrong_axis(scores, value, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    return weights @ value, weights


def _attend_mask_forgotten(scores, value, mask=None):
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


def _attend_hints() -> list:
    g = _gen(93)
    scores, value = torch.randn(2, 3, 4, generator=g), torch.randn(2, 4, 5, generator=g)
    pad = torch.tensor([[True, True, True, False], [True, True, False, False]]).unsqueeze(1)  # (B, 1, T_k)
    return [
        ("hint: the softmax runs over the wrong axis; normalise over the keys, dim=-1",
         (scores, value, None), _attend_wrong_axis),
        ("hint: the mask is ignored; masked keys must get zero weight: pass the mask to your masked softmax",
         (scores, value, pad), _attend_mask_forgotten),
    ]


def check_attend(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(scores, value, mask=None) -> (context, weights)``: the masked softmax of the
    scores, then the weighted average of the values."""
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
    if hidden:
        h = hidden_generator("attend")
        B, T_k = draw_size(h, 2, 5), draw_size(h, 2, 8)
        lengths = draw_lengths(h, B, T_k)
        cases += [Case(f"hidden: one query, values of size 1, a padded batch (lengths {lengths.tolist()})",
                       (torch.randn(B, 1, T_k, generator=h), torch.randn(B, T_k, 1, generator=h),
                        (torch.arange(T_k) < lengths.unsqueeze(1)).unsqueeze(1)))]   # (B, 1, T_k)
    with with_course_versions(fn, masked_softmax=course_masked_softmax):   # exercise 3 judged on its own
        return run_check("attend", fn, cases, verbose=verbose, hints=_attend_hints())
