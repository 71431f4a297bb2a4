"""Checkers for chapter 1 (why attention: the flaws of RNN encoder–decoders).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. Inputs come from fixed generators, and models are built
inside :func:`torch.random.fork_rng`, so checking never changes the notebook's random numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.seq2seq import PlainDecoder, length_mask

__all__ = [
    "check_context_budget", "check_masked_cross_entropy", "check_decode_loop",
    "check_position_error_rates",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- exercise 1
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
        cases += [Case("lengths 1, 2, 1000 with H = 512 and 26 symbols", (torch.tensor([1, 2, 1000]), 512, 26)),
                  Case("int32 lengths, H = 7", (torch.tensor([3, 9, 14], dtype=torch.int32), 7, 5))]
    return run_check("context_budget", fn, cases, verbose=verbose)


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


_CE_HINTS = [
    ("hint: padded positions are averaged in; take the mean over real tokens only "
     "(targets != pad_id)", _ce_probe(), _ce_with_padding),
    ("hint: these are raw logits; take log_softmax over the vocabulary before picking "
     "log p(y_t)", _ce_probe(), _ce_without_log_softmax),
    ("hint: this is the mean of each sentence's mean; average over all real tokens at once, "
     "so long sentences weigh more", _ce_probe(), _ce_mean_of_sentence_means),
]


def check_masked_cross_entropy(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(logits (B, T, V), targets (B, T), pad_id) -> scalar`` against
    :func:`utils.training.sequence_loss`: the mean of ``-log p(y_t)`` over real tokens only."""
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
        h = _gen(110)
        t = torch.randint(1, 11, (4, 9), generator=h)
        t[1, 4:] = t[3, 1:] = 5
        cases += [Case("hidden: vocabulary 11, padding id 5, lengths 9, 4, 9, 1",
                       (torch.randn(4, 9, 11, generator=h) * 3, t, 5))]
    return run_check("masked_cross_entropy", fn, cases, atol=1e-5, verbose=verbose,
                     hints=_CE_HINTS)


# ---------------------------------------------------------------------------- exercise 3
class _SharedDecoder(PlainDecoder):
    """The checker hands the learner this decoder itself rather than a copy, so comparing it
    before and after the call means comparing its weights, which nothing should change."""

    def __deepcopy__(self, memo):
        return self


def check_decode_loop(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing) -> logits (B, T, V)``."""
    V, D = 8, 6
    with torch.random.fork_rng():
        torch.manual_seed(11)
        decoder = _SharedDecoder(V, 4, 5, D).eval()
    g = _gen(12)

    def case(desc, B, S, T, teacher_forcing):
        enc_out = torch.randn(B, S, D, generator=g)
        mask = length_mask(torch.full((B,), S))
        with torch.no_grad():
            state = decoder.init_state(enc_out, torch.randn(B, D, generator=g), mask)
        tgt_in = torch.cat([torch.ones(B, 1, dtype=torch.long),
                            torch.randint(3, V, (B, T - 1), generator=g)], dim=1)
        return Case(desc, (decoder, state, enc_out, mask, tgt_in, teacher_forcing))

    cases = [
        case("one step (only <sos> goes in)", 2, 3, 1, True),
        case("teacher forcing: feed the true previous tokens", 3, 4, 6, True),
        case("no teacher forcing: feed back your own argmax", 3, 4, 6, False),
        case("a batch of one, no teacher forcing", 1, 5, 4, False),
    ]
    if hidden:
        cases += [case("hidden: 4 sources of 2, 8 steps, teacher forcing", 4, 2, 8, True),
                  case("hidden: 2 sources of 6, 3 steps, no teacher forcing", 2, 6, 3, False)]
    return run_check("decode_loop", fn, cases, atol=1e-5, verbose=verbose)


# ---------------------------------------------------------------------------- exercise 4
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
        h = _gen(130)
        t = torch.randint(3, 6, (10, 9), generator=h).masked_fill(
            ~length_mask(torch.randint(1, 10, (10,), generator=h), 9), 2)
        p = torch.where(torch.rand(10, 9, generator=h) < 0.5, torch.randint(2, 6, (10, 9), generator=h), t)
        cases += [Case("hidden: 10 rows of 9, padding id 2", (p, t, 2))]
    return run_check("position_error_rates", fn, cases, verbose=verbose)
