"""Checkers for chapter 1 (why attention: the flaws of RNN encoder–decoders).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. When an answer is wrong in a way learners often get it
wrong (nats instead of bits, padding in the mean, the state not passed on), the verdict ends with a
hint. Visible inputs come from fixed generators, hidden ones (``hidden=True``) draw their values
and shapes from :func:`~utils.checks.hidden.hidden_generator`, which a grading run seeds afresh, and
models are built inside :func:`torch.random.fork_rng`, so checking never changes the notebook's
random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.checks.hidden import draw_lengths, draw_size, hidden_generator
from utils.masks import length_mask
from utils.seq2seq import PlainDecoder

__all__ = [
    "check_context_budget", "check_masked_cross_entropy", "check_decode_loop",
    "check_position_error_rates",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- exercise 1
def _budget_in_nats(lengths, hidden_size, n_symbols):
    s = lengths.double()
    return hidden_size / s, s * math.log(n_symbols) / hidden_size


def _budget_integer_division(lengths, hidden_size, n_symbols):
    return hidden_size // lengths, lengths.double() * math.log2(n_symbols) / hidden_size


_BUDGET_PROBE = (torch.tensor([3, 7, 40]), 100, 6)
_BUDGET_HINTS = [
    ("hint: the sizes are in bits: use log2, not the natural log", _BUDGET_PROBE, _budget_in_nats),
    ("hint: // rounds down to a whole number; divide with / (H / S may be a fraction)",
     _BUDGET_PROBE, _budget_integer_division),
]


def check_context_budget(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(lengths (N,), hidden_size, n_symbols) -> (numbers_per_token, bits_per_number)``.

    A context of ``H`` numbers shared by ``S`` tokens leaves ``H / S`` numbers per token; a
    source of ``S`` symbols drawn uniformly from ``n`` carries ``S log2(n)`` bits."""
    cases = [
        Case("lengths 5, 10, 60 with H = 128 and 10 symbols", (torch.tensor([5, 10, 60]), 128, 10)),
        Case("H = 64 and lengths 3, 7 (divide as floats, not integers)", (torch.tensor([3, 7]), 64, 10)),
        Case("one length, two symbols (one bit each)", (torch.tensor([32]), 16, 2)),
    ]
    if hidden:
        h = hidden_generator("context_budget")
        lengths = torch.randint(2, 1001, (draw_size(h, 2, 5),), generator=h)
        lengths[draw_size(h, 0, len(lengths) - 1)] = 1                      # a one-token source
        H, n = draw_size(h, 16, 1024), draw_size(h, 2, 64)
        cases.append(Case(f"hidden: lengths {lengths.tolist()} with H = {H} and {n} symbols", (lengths, H, n)))
        small = torch.randint(1, 31, (draw_size(h, 2, 4),), generator=h, dtype=torch.int32)
        H, n = draw_size(h, 3, 15), draw_size(h, 3, 9)                       # H / S rarely a whole number
        cases.append(Case(f"hidden: int32 lengths {small.tolist()}, H = {H} and {n} symbols", (small, H, n)))
    return run_check("context_budget", fn, cases, verbose=verbose, hints=_BUDGET_HINTS)


# ---------------------------------------------------------------------------- exercise 2
def _ce_probe() -> tuple:
    g = _gen(100)
    targets = torch.tensor([[4, 5, 6, 2, 0], [3, 2, 0, 0, 0], [6, 6, 5, 4, 2]])
    return torch.randn(3, 5, 7, generator=g), targets, 0


def _ce_with_padding(logits, targets, pad_id):
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _ce_without_log_softmax(logits, targets, pad_id):
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -picked[targets != pad_id].mean()


def _ce_mean_of_sentence_means(logits, targets, pad_id):
    nll = -torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    real = (targets != pad_id).float()
    return ((nll * real).sum(1) / real.sum(1)).mean()


def _ce_mean_over_all_positions(logits, targets, pad_id):
    nll = -torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (nll * (targets != pad_id).float()).mean()


_CE_HINTS = [
    ("hint: padded positions are averaged in; take the mean over real tokens only "
     "(targets != pad_id)", _ce_probe(), _ce_with_padding),
    ("hint: these are raw logits; take log_softmax over the vocabulary before picking "
     "log p(y_t)", _ce_probe(), _ce_without_log_softmax),
    ("hint: this is the mean of each sentence's mean; average over all real tokens at once, "
     "so long sentences weigh more", _ce_probe(), _ce_mean_of_sentence_means),
    ("hint: the padding is zeroed but still counted: .mean() divides by B·T; divide the sum by "
     "the number of real tokens instead", _ce_probe(), _ce_mean_over_all_positions),
]


def check_masked_cross_entropy(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(logits (B, T, V), targets (B, T), pad_id) -> scalar`` against
    :func:`utils.seq2seq_training.sequence_loss`: the mean of ``-log p(y_t)`` over real tokens only."""
    g = _gen(10)
    logits = torch.randn(3, 5, 7, generator=g)
    targets = torch.tensor([[4, 5, 6, 2, 0], [3, 2, 0, 0, 0], [6, 6, 5, 4, 2]])
    loud = logits.clone()
    loud[targets == 0] = 50 * torch.randn(int((targets == 0).sum()), 7, generator=g)
    cases = [
        Case("one sequence, no padding", (torch.randn(1, 3, 4, generator=g), torch.tensor([[1, 3, 2]]), 0)),
        Case("a padded batch", (logits, targets, 0)),
        Case("a padded batch with huge logits at the padding (they must not count)", (loud, targets, 0)),
        Case("padding id 3 instead of 0", (logits, targets.masked_fill(targets == 0, 3).masked_fill(targets == 3, 1), 3)),
    ]
    if hidden:
        h = hidden_generator("masked_cross_entropy")
        B, T, V = draw_size(h, 2, 5), draw_size(h, 3, 10), draw_size(h, 4, 16)
        pad = draw_size(h, 0, V - 1)
        lengths = draw_lengths(h, B, T)                                   # one row of length 1, one unpadded
        tokens = torch.randint(0, V - 1, (B, T), generator=h)
        tokens = tokens + (tokens >= pad).long()                          # real tokens: any id but pad
        t = tokens.masked_fill(~length_mask(lengths, T), pad)             # (B, T)
        cases += [Case(f"hidden: vocabulary {V}, padding id {pad}, lengths {lengths.tolist()}",
                       (torch.randn(B, T, V, generator=h) * 3, t, pad))]
    return run_check("masked_cross_entropy", fn, cases, atol=1e-5, verbose=verbose,
                     hints=_CE_HINTS)


# ---------------------------------------------------------------------------- exercise 3
class _SharedDecoder(PlainDecoder):
    """The checker hands the learner this decoder itself rather than a copy, so comparing it
    before and after the call means comparing its weights, which nothing should change."""

    def __deepcopy__(self, memo):
        return self


def _decode_fed_same_token(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    """Feeds ``tgt_in[:, t]`` after step ``t``: ``<sos>`` twice, and every true token one step late."""
    prev, logits = tgt_in[:, 0], []
    for t in range(tgt_in.shape[1]):
        step_logits, state, _ = decoder.step(prev, state, enc_out, src_mask)
        logits.append(step_logits)
        prev = tgt_in[:, t] if teacher_forcing else step_logits.argmax(-1)
    return torch.stack(logits, dim=1)


def _decode_state_not_passed_on(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    """Every step starts again from the initial state."""
    prev, logits = tgt_in[:, 0], []
    for t in range(tgt_in.shape[1]):
        step_logits, new_state, _ = decoder.step(prev, state, enc_out, src_mask)
        logits.append(step_logits)
        if t + 1 < tgt_in.shape[1]:
            prev = tgt_in[:, t + 1] if teacher_forcing else step_logits.argmax(-1)
    return torch.stack(logits, dim=1)


def check_decode_loop(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing) -> logits (B, T, V)``."""
    V, D = 8, 6
    with torch.random.fork_rng():
        torch.manual_seed(11)
        decoder = _SharedDecoder(V, 4, 5, D).eval()
    g = _gen(12)

    def inputs(gen, B, S, T, teacher_forcing, dec=decoder):
        D, V = dec.context_size, dec.embedding.num_embeddings
        enc_out = torch.randn(B, S, D, generator=gen)  # (B, S, D)
        mask = length_mask(torch.full((B,), S))
        with torch.no_grad():
            state = dec.init_state(enc_out, torch.randn(B, D, generator=gen), mask)
        tgt_in = torch.cat([torch.ones(B, 1, dtype=torch.long),  # <sos>, then T - 1 true tokens
                            torch.randint(3, V, (B, T - 1), generator=gen)], dim=1)
        return dec, state, enc_out, mask, tgt_in, teacher_forcing

    def case(desc, B, S, T, teacher_forcing):
        return Case(desc, inputs(g, B, S, T, teacher_forcing))

    cases = [
        case("one step (only <sos> goes in)", 2, 3, 1, True),
        case("teacher forcing: feed the true previous tokens", 3, 4, 6, True),
        case("no teacher forcing: feed back your own argmax", 3, 4, 6, False),
        case("a batch of one, no teacher forcing", 1, 5, 4, False),
    ]
    if hidden:  # a decoder of drawn sizes and weights too
        h = hidden_generator("decode_loop")
        V_h, E_h, H_h, D_h = draw_size(h, 5, 12), draw_size(h, 2, 6), draw_size(h, 2, 8), draw_size(h, 2, 8)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(draw_size(h, 0, 2**31 - 1))
            dec = _SharedDecoder(V_h, E_h, H_h, D_h).eval()
        sizes = f"a decoder with V={V_h}, H={H_h}, D={D_h}"
        for teacher_forcing, B, S, T in ((True, draw_size(h, 2, 5), draw_size(h, 1, 7), draw_size(h, 2, 9)),
                                         (False, draw_size(h, 1, 4), draw_size(h, 1, 7), draw_size(h, 2, 8))):
            feeding = "teacher forcing" if teacher_forcing else "no teacher forcing"
            cases.append(Case(f"hidden: B={B}, S={S}, T={T} steps, {feeding} ({sizes})",
                              inputs(h, B, S, T, teacher_forcing, dec)))
    probe = inputs(_gen(120), 3, 4, 6, True)
    hints = [
        ("hint: off by one: after step t, feed the next true token tgt_in[:, t + 1], not tgt_in[:, t] "
         "again", probe, _decode_fed_same_token),
        ("hint: the state is not passed on: each step returns a new state; give it to the next step "
         "(logits, state, _ = decoder.step(prev, state, ...))", probe, _decode_state_not_passed_on),
    ]
    return run_check("decode_loop", fn, cases, atol=1e-5, verbose=verbose, hints=hints)


# ---------------------------------------------------------------------------- exercise 4
def _rates_probe(all_padding: bool) -> tuple:
    """``(predictions (4, T), targets (4, T), 0)``: targets of lengths 5, 4, 2, 1 padded with 0,
    predictions wrong at every padded position; ``T = 6`` with ``all_padding`` (a last column of
    padding only), else 5."""
    g = _gen(131)
    T = 6 if all_padding else 5
    targets = torch.randint(3, 7, (4, T), generator=g).masked_fill(~length_mask(torch.tensor([5, 4, 2, 1]), T), 0)
    predictions = torch.where(torch.rand(4, T, generator=g) < 0.4, torch.randint(3, 7, (4, T), generator=g), targets)
    return predictions.masked_fill(targets == 0, 5), targets, 0


def _rates_padding_counted(predictions, targets, pad_id):
    return (predictions != targets).float().mean(0)


def _rates_padding_in_denominator(predictions, targets, pad_id):
    return ((predictions != targets) & (targets != pad_id)).float().mean(0)


def _rates_padding_in_numerator(predictions, targets, pad_id):
    real = targets != pad_id
    return (predictions != targets).sum(0) / real.sum(0).clamp(min=1)


def _rates_not_clamped(predictions, targets, pad_id):
    real = targets != pad_id
    return ((predictions != targets) & real).sum(0) / real.sum(0)


_RATES_HINTS = [
    ("hint: padding is counted, as mistakes and in the number of targets; count both only where "
     "targets != pad_id", _rates_probe(False), _rates_padding_counted),
    ("hint: you divide by B, padding included; divide each position's mistakes by its number of "
     "real targets, (targets != pad_id).sum(0)", _rates_probe(False), _rates_padding_in_denominator),
    ("hint: predictions at padded positions are counted as mistakes; count a mistake only where "
     "targets != pad_id", _rates_probe(False), _rates_padding_in_numerator),
    ("hint: a position where every target is padding has 0 real targets, and 0 / 0 is NaN; divide "
     "by the count clamped to at least 1 (.clamp(min=1))", _rates_probe(True), _rates_not_clamped),
]


def check_position_error_rates(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(predictions (B, T), targets (B, T), pad_id) -> error rates (T,)``."""
    g = _gen(13)
    targets = torch.randint(3, 9, (6, 7), generator=g)
    lengths = torch.tensor([7, 7, 5, 4, 2, 1])
    padded = targets.masked_fill(~length_mask(lengths, 7), 0)
    noisy = torch.where(torch.rand(6, 7, generator=g) < 0.3, torch.randint(3, 9, (6, 7), generator=g), padded)
    garbage = noisy.masked_fill(~length_mask(lengths, 7), 5)  # predictions where targets are padding
    tail = torch.cat([padded, torch.zeros(6, 2, dtype=torch.long)], 1)
    cases = [
        Case("two rows, one mistake", (torch.tensor([[3, 4], [3, 5]]), torch.tensor([[3, 4], [3, 4]]), 0)),
        Case("a padded batch", (noisy, padded, 0)),
        Case("predictions at padded positions must not count", (garbage, padded, 0)),
        Case("columns that are all padding give 0, not NaN",
             (torch.cat([garbage, torch.full((6, 2), 4)], 1), tail, 0)),
        Case("padding id 1", (garbage, padded.masked_fill(padded == 0, 1), 1)),
    ]
    if hidden:
        h = hidden_generator("position_error_rates")
        B, T, pad = draw_size(h, 4, 12), draw_size(h, 3, 10), draw_size(h, 0, 5)
        lengths = draw_lengths(h, B, T)
        tokens = torch.randint(0, 6, (B, T), generator=h)
        tokens = tokens + (tokens >= pad).long()                          # real tokens 0 … 6, never pad
        t = tokens.masked_fill(~length_mask(lengths, T), pad)             # (B, T)
        # about half the predictions wrong, and anything (pad included) predicted at the padding
        p = torch.where(torch.rand(B, T, generator=h) < 0.5, torch.randint(0, 7, (B, T), generator=h), t)
        cases += [Case(f"hidden: {B} rows of {T}, padding id {pad}, lengths {lengths.tolist()}", (p, t, pad))]
    return run_check("position_error_rates", fn, cases, verbose=verbose, hints=_RATES_HINTS)
