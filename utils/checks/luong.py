"""Checkers for chapter 5 (Luong attention, global and local).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. Visible inputs come from fixed generators, hidden ones
(``hidden=True``) draw their values and shapes from :func:`~utils.checks.hidden.hidden_generator`,
which a grading run seeds afresh, and the small decoder that :func:`check_luong_step` builds is
initialised without touching PyTorch's global random state, so running a check never changes what
the rest of the notebook draws.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.checks.hidden import draw_lengths, draw_size, hidden_generator
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

    def case(desc, B, S, H, D, gen=g):
        return Case(desc, (torch.randn(B, H, generator=gen), torch.randn(B, S, D, generator=gen),
                           torch.randn(H, D, generator=gen)))

    cases = [
        Case("W_a = identity gives the dot score",
             (torch.tensor([[1.0, 2.0]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]), torch.eye(2)),
             expected=torch.tensor([[1.0, 2.0, 3.0]])),
        case("a batch of two, state and annotation sizes differ", 2, 5, 3, 4),
        case("a one-position source", 3, 1, 4, 2),
        case("a non-symmetric W_a (h_tᵀ W_a h̄, not h̄ᵀ W_a h_t)", 2, 4, 3, 3),
    ]
    if hidden:
        h = hidden_generator("general_score")
        B, S, H, D = draw_size(h, 1, 5), draw_size(h, 1, 9), draw_size(h, 1, 7), draw_size(h, 1, 7)
        cases += [case(f"hidden: B={B}, S={S}, H={H}, D={D}", B, S, H, D, gen=h)]
    p = torch.Generator().manual_seed(55)
    probe = (torch.randn(2, 3, generator=p), torch.randn(2, 4, 3, generator=p), torch.randn(3, 3, generator=p))
    hints = [
        ("hint: these are softmax weights; return the raw scores h_tᵀ W_a h̄_s (the softmax comes later)",
         probe, lambda h, e, W: torch.softmax(torch.einsum("bh,hd,bsd->bs", h, W, e), -1)),
        ("hint: W_a is applied the other way round (h̄_sᵀ W_a h_t); the score is h_tᵀ W_a h̄_s: (h_t @ W_a) "
         "against each h̄_s", probe, lambda h, e, W: torch.einsum("bsd,dh,bh->bs", e, W, h)),
    ]
    return run_check("general_score", fn, cases, verbose=verbose, hints=hints)


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


def _centred_on_rounded(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.round().unsqueeze(1)).abs() <= w) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2)), p


def _sigma_is_w(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() <= w) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * w ** 2)), p


def _no_gaussian(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() <= w) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed), p


def _softmax_over_whole_source(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = (s - p.unsqueeze(1)).abs() <= w
    inside = s < src_lengths.unsqueeze(1)
    align = _window_softmax(scores, inside)
    return align * allowed * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2)), p


def _strict_window(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() < w) & (s < src_lengths.unsqueeze(1))  # < w drops both ends
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2)), p


def _renormalised(scores, h_t, W_p, v_p, src_lengths, w):
    p, s = _local_p_parts(scores, h_t, W_p, v_p, src_lengths)
    allowed = ((s - p.unsqueeze(1)).abs() <= w) & (s < src_lengths.unsqueeze(1))
    weights = _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2))
    return weights / weights.sum(dim=-1, keepdim=True), p


def _position_from_padded_length(scores, h_t, W_p, v_p, src_lengths, w):
    S = scores.shape[1]
    p = S * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)  # the padded length, not each sentence's own
    s = torch.arange(S).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() <= w) & (s < src_lengths.unsqueeze(1))
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2)), p


def _lengths_ignored(scores, h_t, W_p, v_p, src_lengths, w):
    S = scores.shape[1]
    p = S * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)  # every sentence taken to be S long
    s = torch.arange(S).unsqueeze(0)
    allowed = (s - p.unsqueeze(1)).abs() <= w
    return _window_softmax(scores, allowed) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (w / 2) ** 2)), p


def check_local_p(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(scores, h_t, W_p, v_p, src_lengths, w) -> (weights (B, S), p_t (B,))``."""
    g = _gen(51)

    def case(desc, B, S, H, d_p, lengths, w, scale=1.0, gen=g):
        return Case(desc, (torch.randn(B, S, generator=gen) * scale, torch.randn(B, H, generator=gen),
                           torch.randn(H, d_p, generator=gen), torch.randn(d_p, generator=gen),
                           torch.tensor(lengths), w))

    # h_t = 0 gives p_t = length · sigmoid(0) = length / 2, a whole position for even lengths: the
    # positions at exactly p_t ± w belong to the window (a random h_t never puts p_t on an integer)
    gw = _gen(54)
    whole = Case("p_t on a whole position (h_t = 0, p_t = length / 2): s = p_t ± w is in the window",
                 (torch.randn(2, 10, generator=gw), torch.zeros(2, 3), torch.randn(3, 4, generator=gw),
                  torch.randn(4, generator=gw), torch.tensor([10, 6]), 2))
    wide = case("a window wider than the source", 2, 4, 3, 2, [4, 4], 10)
    cases = [
        case("one source of ten positions, w = 2", 1, 10, 3, 4, [10], 2),
        case("a padded batch (lengths 12, 7, 3), w = 3", 3, 12, 4, 5, [12, 7, 3], 3),
        wide,
        case("large scores (exp overflows without care)", 2, 9, 3, 3, [9, 6], 2, scale=500.0),
        whole,
    ]
    probe = case("probe", 4, 16, 3, 3, [16, 16, 11, 5], 2)
    if hidden:
        h = hidden_generator("local_p")
        B, S, H, d_p, w = draw_size(h, 2, 4), draw_size(h, 8, 24), draw_size(h, 2, 6), draw_size(h, 1, 5), draw_size(h, 1, 5)
        # one unpadded source, and one no longer than w: its window is wider than the source
        lengths = draw_lengths(h, B, S, shortest=draw_size(h, 1, w)).tolist()
        cases += [case(f"hidden: lengths {', '.join(map(str, lengths))} with w = {w} (H = {H}, d_p = {d_p})",
                       B, S, H, d_p, lengths, w, gen=h)]
    hints = [
        ("hint: the window is centred on a whole position, round(p_t): that is the paper's window "
         "(2w + 1 positions; its authors' code uses floor), but this exercise keeps |s - p_t| <= w "
         "around the real-valued p_t (section 5 says why they differ)", probe.args, _centred_on_rounded),
        ("hint: the Gaussian's standard deviation is σ = w/2, not w", probe.args, _sigma_is_w),
        ("hint: multiply the window's softmax by exp(-(s - p_t)² / 2σ²), with σ = w/2", probe.args, _no_gaussian),
        ("hint: the softmax should run over the window [p_t - w, p_t + w] only, not the whole "
         "source", probe.args, _softmax_over_whole_source),
        ("hint: the window is |s - p_t| <= w, both ends included (Luong et al. 2015: [p_t - w, p_t + w]); "
         "with < w, a whole-number p_t loses the positions p_t ± w", whole.args, _strict_window),
        ("hint: the weights are renormalised after the Gaussian; Luong et al. do not renormalise: "
         "align · exp(-(s - p_t)² / 2σ²) is the answer, even though its rows sum to less than 1",
         probe.args, _renormalised),
        ("hint: p_t is computed from the padded length S; use each sentence's own length: "
         "p_t = src_lengths · sigmoid(v_pᵀ tanh(W_p h_t))", probe.args, _position_from_padded_length),
        ("hint: p_t is computed from the padded length S and the padding is not masked; use each sentence's "
         "own length: p_t = src_lengths · sigmoid(v_pᵀ tanh(W_p h_t)), and keep only s < length",
         probe.args, _lengths_ignored),
    ]

    def zero_outside(candidate: Callable) -> str | None:
        scores, h_t, W_p, v_p, lengths, w = (a.clone() if isinstance(a, torch.Tensor) else a for a in probe.args)
        weights, p = candidate(scores, h_t, W_p, v_p, lengths, w)
        s = torch.arange(16).unsqueeze(0)
        outside = ((s - p.unsqueeze(1)).abs() > w) | (s >= lengths.unsqueeze(1))
        if not torch.all(weights[outside] == 0):
            return "positions outside [p_t − w, p_t + w] (or in padding) must get weight exactly 0"
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


def _step_bahdanau_order(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    context, weights, _ = decoder.attention(h_prev, enc_out, mask)  # attends from h_{t-1}, before the step
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1), h_prev)
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def _step_from_input(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask, x):
    """The rest of a right step, from the GRU input ``x`` that the mistakes below get wrong."""
    h_t = decoder.cell(x, h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def _step_no_input_feeding(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    x = torch.cat([decoder.embedding(prev_token), torch.zeros_like(h_tilde_prev)], dim=-1)  # h̃_{t-1} unused
    return _step_from_input(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask, x)


def _step_feeds_hidden_state(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    x = torch.cat([decoder.embedding(prev_token), h_prev], dim=-1)  # h_{t-1} instead of h̃_{t-1}
    return _step_from_input(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask, x)


def _step_feed_first(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    x = torch.cat([h_tilde_prev, decoder.embedding(prev_token)], dim=-1)  # [h̃ ; E y] instead of [E y ; h̃]
    return _step_from_input(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask, x)


def _step_no_tanh(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1), h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, mask)
    h_tilde = decoder.combine(torch.cat([context, h_t], dim=-1))  # tanh forgotten
    return decoder.out(h_tilde), h_t, h_tilde, weights


def _step_state_first_in_combine(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1), h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([h_t, context], dim=-1)))  # [h_t ; c_t]
    return decoder.out(h_tilde), h_t, h_tilde, weights


def _step_output_from_hidden(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1), h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_t), h_t, h_tilde, weights  # logits from h_t instead of h̃_t


def _step_unmasked(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask):
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1), h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out)  # src_mask forgotten
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def check_luong_step(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask) ->
    (logits, h_t, h̃_t, weights)`` against :meth:`LuongDecoder.step`."""
    decoder = checker_luong_decoder()
    g = _gen(53)

    def case(desc, B, S, lengths, fed=True, gen=g):
        enc_out = torch.randn(B, S, 6, generator=gen)
        mask = torch.arange(S).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        enc_out = enc_out * mask.unsqueeze(-1)  # annotations are zero at padding
        h_tilde = torch.randn(B, 5, generator=gen) if fed else torch.zeros(B, 5)
        return Case(desc, (torch.randint(3, 7, (B,), generator=gen), torch.randn(B, 5, generator=gen),
                           h_tilde, enc_out, mask))

    cases = [
        case("the first step (h̃_0 = 0)", 1, 4, [4], fed=False),
        case("a later step: h̃_{t-1} is fed back with the input", 2, 5, [5, 5]),
        case("a padded batch (lengths 6, 2, 4)", 3, 6, [6, 2, 4]),
    ]
    if hidden:  # the decoder's sizes are the exercise's (V 7, H 5, D 6); the batch and source are drawn
        h = hidden_generator("luong_step")
        B, S = draw_size(h, 2, 5), draw_size(h, 2, 8)
        drawn = draw_lengths(h, B, S).tolist()
        cases += [case(f"hidden: lengths {', '.join(map(str, drawn))}", B, S, drawn, gen=h)]

    def candidate(prev_token, h_prev, h_tilde_prev, enc_out, mask):
        return fn(decoder, prev_token, h_prev, h_tilde_prev, enc_out, mask)

    candidate.__wrapped__ = fn  # type: ignore[attr-defined]  # a function takes attributes; mypy's Callable has none
    p = _gen(253)
    S, lengths = 5, torch.tensor([5, 2, 4])
    mask = torch.arange(S).unsqueeze(0) < lengths.unsqueeze(1)
    probe = (torch.randint(3, 7, (3,), generator=p), torch.randn(3, 5, generator=p),
             torch.randn(3, 5, generator=p), torch.randn(3, S, 6, generator=p) * mask.unsqueeze(-1), mask)
    hints = [
        ("hint: the attention query is h_{t-1} (Bahdanau's order); Luong attends from the new state: first "
         "h_t = cell([E y_{t-1} ; h̃_{t-1}], h_{t-1}), then the attention from h_t", probe,
         partial(_step_bahdanau_order, decoder)),
        ("hint: input feeding is missing; the GRU's input is [E y_{t-1} ; h̃_{t-1}], the embedding with the "
         "previous attentional state h_tilde_prev", probe, partial(_step_no_input_feeding, decoder)),
        ("hint: input feeding concatenates the previous attentional state h̃_{t-1} (h_tilde_prev), not the "
         "hidden state h_{t-1}: [E y_{t-1} ; h̃_{t-1}]", probe, partial(_step_feeds_hidden_state, decoder)),
        ("hint: the GRU's input is [E y_{t-1} ; h̃_{t-1}], the embedding first", probe,
         partial(_step_feed_first, decoder)),
        ("hint: tanh is missing; h̃_t = tanh(W_c [c_t ; h_t]): apply torch.tanh to decoder.combine(...)", probe,
         partial(_step_no_tanh, decoder)),
        ("hint: W_c reads [c_t ; h_t], the context first: torch.cat([context, h_t], dim=-1)", probe,
         partial(_step_state_first_in_combine, decoder)),
        ("hint: the logits come from the attentional state: decoder.out(h̃_t), not decoder.out(h_t)", probe,
         partial(_step_output_from_hidden, decoder)),
        ("hint: padded source positions get weight; pass src_mask to the attention", probe,
         partial(_step_unmasked, decoder)),
    ]
    return run_check("luong_step", candidate if callable(fn) else fn, cases, verbose=verbose, hints=hints)
