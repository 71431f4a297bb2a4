"""Checkers for chapter 4 (the Bahdanau decoder).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. Visible inputs come from fixed generators, hidden ones
(``hidden=True``) draw their values and shapes from :func:`~utils.checks.hidden.hidden_generator`,
which a grading run seeds afresh, and the small decoder that :func:`check_decoder_step` builds is
initialised without touching PyTorch's global random state, so running a check never changes what
the rest of the notebook draws.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from utils.bahdanau import BahdanauDecoder
from utils.checks.core import Case, CheckResult, run_check
from utils.checks.hidden import draw_lengths, draw_size, hidden_generator

__all__ = [
    "check_alignment_scores", "check_attend_source",
    "checker_decoder", "check_decoder_step",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Exercise 1: e_{t,j} = v_aᵀ tanh(W_a s_{t-1} + U_a h_j), with U_a h_j given
# ----------------------------------------------------------------------------------------------
def _scores_softmaxed(s_prev, projected_keys, W_a, v):
    scores = torch.tanh((s_prev @ W_a).unsqueeze(1) + projected_keys) @ v
    return torch.softmax(scores, dim=-1)  # the weights α, one step too far


def check_alignment_scores(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(s_prev, projected_keys, W_a, v) -> scores (B, S)``."""
    g = _gen(40)

    def case(desc, B, S, H, d_a, scale=1.0, gen=g):
        return Case(desc, (torch.randn(B, H, generator=gen) * scale,
                           torch.randn(B, S, d_a, generator=gen) * scale,
                           torch.randn(H, d_a, generator=gen), torch.randn(d_a, generator=gen)))

    cases = [
        case("one sentence of three words", 1, 3, 2, 4),
        case("a batch of two, state and attention sizes differ", 2, 5, 4, 6),
        case("a one-word source", 3, 1, 3, 2),
        case("large inputs (tanh saturates)", 2, 4, 3, 5, scale=10.0),
    ]
    if hidden:
        h = hidden_generator("alignment_scores")
        B, S, H, d_a = draw_size(h, 1, 5), draw_size(h, 1, 10), draw_size(h, 1, 8), draw_size(h, 1, 8)
        cases += [case(f"hidden: B={B}, S={S}, H={H}, d_a={d_a}", B, S, H, d_a, gen=h)]
    p = _gen(240)
    probe = (torch.randn(2, 4, generator=p), torch.randn(2, 5, 3, generator=p), torch.randn(4, 3, generator=p),
             torch.randn(3, generator=p))
    hints = [
        ("hint: these are the softmax weights α; return the raw scores e_{t,j} = v_aᵀ tanh(W_a s_{t-1} + U_a h_j) "
         "(the softmax comes in the next exercise)", probe, _scores_softmaxed),
    ]
    return run_check("alignment_scores", fn, cases, verbose=verbose, hints=hints)


# ----------------------------------------------------------------------------------------------
# Exercise 2: weights over a padded source, and the context
# ----------------------------------------------------------------------------------------------
def _weights_over_batch(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0)
    return (weights.unsqueeze(-1) * annotations).sum(dim=1), weights


def _padding_kept(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
    weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    return (weights.unsqueeze(-1) * annotations).sum(dim=1), weights


def _unmasked(scores, annotations, src_lengths):
    weights = torch.softmax(scores, dim=-1)
    return (weights.unsqueeze(-1) * annotations).sum(dim=1), weights


def _one_padded_position_kept(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) <= src_lengths.unsqueeze(1)  # one position too many
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (weights.unsqueeze(-1) * annotations).sum(dim=1), weights


def check_attend_source(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(scores, annotations, src_lengths) -> (context, weights)``."""
    g = _gen(41)
    scores = torch.randn(3, 5, generator=g)
    annotations = torch.randn(3, 5, 4, generator=g)
    lengths = torch.tensor([5, 3, 1])
    tempting = scores.clone()
    tempting[1, 3:] = 8.0  # padded positions with the highest scores
    tempting[2, 1:] = 5.0
    cases = [
        Case("no padding", (scores[:1], annotations[:1], torch.tensor([5]))),
        Case("a padded batch (lengths 5, 3, 1)", (scores, annotations, lengths)),
        Case("padding with the highest scores", (tempting, annotations, lengths)),
        Case("large scores (exp overflows without care)",
             (scores * 500.0, annotations, lengths)),
    ]

    def exact_zeros(candidate: Callable) -> str | None:
        _, weights = candidate(tempting.clone(), annotations.clone(), lengths.clone())
        if not torch.all(weights[1, 3:] == 0) or not torch.all(weights[2, 1:] == 0):
            return "padded positions must get weight exactly 0 (mask the scores before the softmax)"
        return None

    if hidden:
        h = hidden_generator("attend_source")
        B, S, D = draw_size(h, 2, 5), draw_size(h, 2, 9), draw_size(h, 1, 5)
        drawn = draw_lengths(h, B, S)                                     # one row of length 1, one unpadded
        cases += [Case(f"hidden: lengths {drawn.tolist()}, D={D}",
                       (torch.randn(B, S, generator=h), torch.randn(B, S, D, generator=h), drawn))]
    probe = (tempting, annotations, lengths)
    hints = [
        ("hint: the softmax runs over the batch; normalise over the source positions, dim=-1", probe, _weights_over_batch),
        ("hint: the mask is the wrong way round; positions j < length are real, hide the others", probe, _padding_kept),
        ("hint: padded positions get weight; mask the scores before the softmax", probe, _unmasked),
        ("hint: the first padded position gets weight (off by one); positions 0 … length - 1 are real: keep "
         "j < length, not j <= length", probe, _one_padded_position_kept),
    ]
    return run_check("attend_source", fn, cases, verbose=verbose, extra=exact_zeros, hints=hints)


# ----------------------------------------------------------------------------------------------
# Exercise 3: one decoder step
# ----------------------------------------------------------------------------------------------
def checker_decoder(seed: int = 42) -> BahdanauDecoder:
    """The small :class:`BahdanauDecoder` the step checker uses (V 7, E 4, H 5, D 6, d_a 3),
    initialised from ``seed`` without changing PyTorch's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BahdanauDecoder(vocab_size=7, emb_dim=4, hidden_size=5, annotation_size=6,
                               attention_size=3).eval()


def _step_attends_from_new_state(decoder, prev_token, s_prev, enc_out, keys, mask):
    """Luong's order: s_t first, then attention from s_t (the context from s_{t-1} only feeds the GRU)."""
    embedded = decoder.embedding(prev_token)
    context, _ = decoder.attention(s_prev, enc_out, mask, keys)
    s_t = decoder.cell(torch.cat([embedded, context], dim=-1), s_prev)
    context, weights = decoder.attention(s_t, enc_out, mask, keys)  # attends again, from s_t
    return decoder.output(s_t, context, embedded), s_t, weights


def _step_attends_from_new_state_old_weights(decoder, prev_token, s_prev, enc_out, keys, mask):
    """As above, but returning the weights of the first attention."""
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, mask, keys)
    s_t = decoder.cell(torch.cat([embedded, context], dim=-1), s_prev)
    context, _ = decoder.attention(s_t, enc_out, mask, keys)
    return decoder.output(s_t, context, embedded), s_t, weights


def _step_state_before_context(decoder, prev_token, s_prev, enc_out, keys, mask):
    """s_t from the embedding alone (no context yet), then attention from s_t."""
    embedded = decoder.embedding(prev_token)
    no_context = torch.zeros(embedded.shape[0], enc_out.shape[-1])
    s_t = decoder.cell(torch.cat([embedded, no_context], dim=-1), s_prev)
    context, weights = decoder.attention(s_t, enc_out, mask, keys)
    return decoder.output(s_t, context, embedded), s_t, weights


def _step_context_first_in_cell(decoder, prev_token, s_prev, enc_out, keys, mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, mask, keys)
    s_t = decoder.cell(torch.cat([context, embedded], dim=-1), s_prev)  # [c_t ; E y] instead of [E y ; c_t]
    return decoder.output(s_t, context, embedded), s_t, weights


def _step_unmasked(decoder, prev_token, s_prev, enc_out, keys, mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, None, keys)  # src_mask forgotten
    s_t = decoder.cell(torch.cat([embedded, context], dim=-1), s_prev)
    return decoder.output(s_t, context, embedded), s_t, weights


def _step_output_from_old_state(decoder, prev_token, s_prev, enc_out, keys, mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, mask, keys)
    s_t = decoder.cell(torch.cat([embedded, context], dim=-1), s_prev)
    return decoder.output(s_prev, context, embedded), s_t, weights


def check_decoder_step(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask) ->
    (logits (B, V), s_t (B, H), weights (B, S))`` against :meth:`BahdanauDecoder.step`."""
    decoder = checker_decoder()
    g = _gen(43)

    def case(desc, B, S, lengths, gen=g):
        enc_out = torch.randn(B, S, 6, generator=gen)
        mask = torch.arange(S).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        enc_out = enc_out * mask.unsqueeze(-1)  # annotations are zero at padding, as the encoder makes them
        with torch.no_grad():
            keys = decoder.attention.project_keys(enc_out)
        return Case(desc, (torch.randint(3, 7, (B,), generator=gen), torch.randn(B, 5, generator=gen),
                           enc_out, keys, mask))

    cases = [
        case("one sentence, no padding", 1, 4, [4]),
        case("a padded batch (lengths 6, 2, 4)", 3, 6, [6, 2, 4]),
        case("a one-word source", 2, 1, [1, 1]),
    ]
    if hidden:  # the decoder's sizes are the exercise's (V 7, H 5, D 6); the batch and source are drawn
        h = hidden_generator("decoder_step")
        B, S = draw_size(h, 2, 5), draw_size(h, 2, 8)
        drawn = draw_lengths(h, B, S).tolist()
        cases += [case(f"hidden: lengths {', '.join(map(str, drawn))}", B, S, drawn, gen=h)]

    def candidate(prev_token, s_prev, enc_out, keys, mask):
        return fn(decoder, prev_token, s_prev, enc_out, keys, mask)

    candidate.__wrapped__ = fn  # type: ignore[attr-defined]  # a function takes attributes; mypy's Callable has none
    p = _gen(243)
    S, lengths = 5, torch.tensor([5, 2, 3])
    mask = torch.arange(S).unsqueeze(0) < lengths.unsqueeze(1)
    enc_out = torch.randn(3, S, 6, generator=p) * mask.unsqueeze(-1)
    with torch.no_grad():
        keys = decoder.attention.project_keys(enc_out)
    probe = (torch.randint(3, 7, (3,), generator=p), torch.randn(3, 5, generator=p), enc_out, keys, mask)
    new_state = ("hint: this attends from the new state s_t (Luong's order); Bahdanau's query is s_{t-1}: "
                 "c_t from s_prev first, then s_t = cell([E y_{t-1} ; c_t], s_prev), and that same c_t in the output")
    hints = [
        (new_state, probe, partial(_step_attends_from_new_state, decoder)),
        (new_state, probe, partial(_step_attends_from_new_state_old_weights, decoder)),
        (new_state, probe, partial(_step_state_before_context, decoder)),
        ("hint: the GRU's input is [E y_{t-1} ; c_t], the embedding first: torch.cat([embedded, context], "
         "dim=-1)", probe, partial(_step_context_first_in_cell, decoder)),
        ("hint: padded source positions get weight; pass src_mask to the attention", probe,
         partial(_step_unmasked, decoder)),
        ("hint: the output layer reads the new state s_t, not s_prev: decoder.output(s_t, c_t, E y_{t-1})",
         probe, partial(_step_output_from_old_state, decoder)),
    ]
    return run_check("decoder_step", candidate if callable(fn) else fn, cases, verbose=verbose, hints=hints)
