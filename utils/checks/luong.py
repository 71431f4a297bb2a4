"""Checkers for chapter 5 (Luong attention, global and local).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. Inputs come from fixed generators, and the small decoder
that :func:`check_luong_step` builds is initialised without touching PyTorch's global random
state, so running a check never changes what the rest of the notebook draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.luong import LuongDecoder

__all__ = [
    "check_general_score", "check_local_p", "checker_luong_decoder", "check_luong_step",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Exercise 1: score(h_t, h̄_s) = h_tᵀ W_a h̄_s
# ----------------------------------------------------------------------------------------------
def check_general_score(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(h_t, enc_out, W_a) -> scores (B, S)``."""
    g = _gen(50)

    def case(desc, B, S, H, D):
        return Case(desc, (torch.randn(B, H, generator=g), torch.randn(B, S, D, generator=g),
                           torch.randn(H, D, generator=g)))

    cases = [
        Case("W_a = identity gives the dot score",
             (torch.tensor([[1.0, 2.0]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]), torch.eye(2)),
             expected=torch.tensor([[1.0, 2.0, 3.0]])),
        case("a batch of two, state and annotation sizes differ", 2, 5, 3, 4),
        case("a one-position source", 3, 1, 4, 2),
        case("a non-symmetric W_a (h_tᵀ W_a h̄, not h̄ᵀ W_a h_t)", 2, 4, 3, 3),
    ]
    if hidden:
        cases += [case("hidden: a batch of four, seven positions", 4, 7, 5, 6)]
    return run_check("general_score", fn, cases, verbose=verbose)


# ----------------------------------------------------------------------------------------------
# Exercise 2: local-p, the predicted position and the Gaussian window
# ----------------------------------------------------------------------------------------------
def _local_p_parts(scores, h_t, W_p, v_p, src_lengths):
    p = src_lengths.to(scores.dtype) * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    return p, s


def _window_softmax(scores, allowed):
    filled = scores.masked_fill(~allowed, float("-inf"))
    return torch.nan_to_num(torch.softmax(filled, dim=-1), nan=0.0)


def _centred_on_rounded(scores, h_t, W_p, v_p, src_lengths, D):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.round().unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (D / 2) ** 2)), p


def _sigma_is_D(scores, h_t, W_p, v_p, src_lengths, D):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * D ** 2)), p


def _no_gaussian(scores, h_t, W_p, v_p, src_lengths, D):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed), p


def _softmax_over_whole_source(scores, h_t, W_p, v_p, src_lengths, D):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = (s - p.unsqueeze(1)).abs() <= D
    inside = s < src_lengths.unsqueeze(1)
    align = _window_softmax(scores, inside)
    return align * allowed * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (D / 2) ** 2)), p


def check_local_p(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(scores, h_t, W_p, v_p, src_lengths, D) -> (weights (B, S), p_t (B,))``."""
    g = _gen(51)

    def case(desc, B, S, H, d_p, lengths, D, scale=1.0):
        return Case(desc, (torch.randn(B, S, generator=g) * scale, torch.randn(B, H, generator=g),
                           torch.randn(H, d_p, generator=g), torch.randn(d_p, generator=g),
                           torch.tensor(lengths), D))

    wide = case("a window wider than the source", 2, 4, 3, 2, [4, 4], 10)
    cases = [
        case("one source of ten positions, D = 2", 1, 10, 3, 4, [10], 2),
        case("a padded batch (lengths 12, 7, 3), D = 3", 3, 12, 4, 5, [12, 7, 3], 3),
        wide,
        case("large scores (exp overflows without care)", 2, 9, 3, 3, [9, 6], 2, scale=500.0),
    ]
    probe = case("probe", 4, 16, 3, 3, [16, 16, 11, 5], 2)
    if hidden:
        cases += [case("hidden: lengths 20, 9, 2 with D = 4", 3, 20, 5, 2, [20, 9, 2], 4)]
    hints = [
        ("hint: the window is centred on round(p_t); Luong et al. centre it on the real-valued "
         "p_t: keep |s - p_t| <= D with p_t unrounded", probe.args, _centred_on_rounded),
        ("hint: the Gaussian's standard deviation is σ = D/2, not D", probe.args, _sigma_is_D),
        ("hint: multiply the window's softmax by exp(-(s - p_t)² / 2σ²), with σ = D/2", probe.args, _no_gaussian),
        ("hint: the softmax should run over the window [p_t - D, p_t + D] only, not the whole "
         "source", probe.args, _softmax_over_whole_source),
    ]

    def zero_outside(candidate: Callable) -> str | None:
        scores, h_t, W_p, v_p, lengths, D = (a.clone() if isinstance(a, torch.Tensor) else a for a in probe.args)
        weights, p = candidate(scores, h_t, W_p, v_p, lengths, D)
        s = torch.arange(16).unsqueeze(0)
        outside = ((s - p.unsqueeze(1)).abs() > D) | (s >= lengths.unsqueeze(1))
        if not torch.all(weights[outside] == 0):
            return "positions outside [p_t − D, p_t + D] (or in padding) must get weight exactly 0"
        return None

    return run_check("local_p", fn, cases, verbose=verbose, extra=zero_outside, hints=hints)


# ----------------------------------------------------------------------------------------------
# Exercise 3: one decoder step with input feeding and the attentional state
# ----------------------------------------------------------------------------------------------
def checker_luong_decoder(seed: int = 52) -> LuongDecoder:
    """The small global-general :class:`LuongDecoder` the step checker uses (V 7, E 3, H 5, D 6),
    initialised from ``seed`` without changing PyTorch's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LuongDecoder(vocab_size=7, emb_dim=3, hidden_size=5, annotation_size=6,
                            score="general", window="global").eval()


def check_luong_step(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask) ->
    (logits, h_t, h̃_t, weights)`` against :meth:`LuongDecoder.step`."""
    decoder = checker_luong_decoder()
    g = _gen(53)

    def case(desc, B, S, lengths, fed=True):
        enc_out = torch.randn(B, S, 6, generator=g)
        mask = torch.arange(S).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        enc_out = enc_out * mask.unsqueeze(-1)  # annotations are zero at padding
        h_tilde = torch.randn(B, 5, generator=g) if fed else torch.zeros(B, 5)
        return Case(desc, (torch.randint(3, 7, (B,), generator=g), torch.randn(B, 5, generator=g),
                           h_tilde, enc_out, mask))

    cases = [
        case("the first step (h̃_0 = 0)", 1, 4, [4], fed=False),
        case("a later step: h̃_{t-1} is fed back with the input", 2, 5, [5, 5]),
        case("a padded batch (lengths 6, 2, 4)", 3, 6, [6, 2, 4]),
    ]
    if hidden:
        cases += [case("hidden: lengths 7, 3, 1, 5", 4, 7, [7, 3, 1, 5])]

    def candidate(prev_token, h_prev, h_tilde_prev, enc_out, mask):
        return fn(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask)

    candidate.__wrapped__ = fn
    return run_check("luong_step", candidate if callable(fn) else fn, cases, verbose=verbose)
