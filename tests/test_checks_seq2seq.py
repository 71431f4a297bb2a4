"""Chapter 1's checkers accept right answers and catch wrong ones, with a useful verdict."""

import math

import pytest
import torch
import torch.nn.functional as F

from grading import references as R
from tests.conftest import ours
from utils.checks.seq2seq import check_context_budget, check_decode_loop, check_masked_cross_entropy, check_position_error_rates

reference_context_budget, reference_decode_loop = ours(R.context_budget), ours(R.decode_loop)
reference_position_error_rates, sequence_loss = ours(R.position_error_rates), ours(R.REFERENCES["masked_cross_entropy"])


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def verdict(check, fn):
    result = check(fn, verbose=False)
    return result.status, result.message


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def raises(*args, **kwargs):
    raise RuntimeError("boom")


# ---------------------------------------------------------------------------- context_budget
def budget_alternative(lengths, hidden_size, n_symbols):
    per_token = torch.tensor([hidden_size / int(s) for s in lengths])
    bits = torch.tensor([int(s) * math.log(n_symbols) / math.log(2) / hidden_size for s in lengths])
    return per_token, bits


def test_context_budget_accepts_reference_and_alternative():
    assert check_context_budget(reference_context_budget, verbose=False)
    assert check_context_budget(budget_alternative, verbose=False)


def budget_in_nats(lengths, hidden_size, n_symbols):
    numbers_per_token = hidden_size / lengths.float()
    bits_per_number = lengths.float() * math.log(n_symbols) / hidden_size
    return numbers_per_token, bits_per_number


def budget_in_nats_torch(lengths, hidden_size, n_symbols):
    return hidden_size / lengths, lengths * torch.log(torch.tensor(float(n_symbols))) / hidden_size


def budget_integer_division(lengths, hidden_size, n_symbols):
    numbers_per_token = hidden_size // lengths
    bits_per_number = lengths * math.log2(n_symbols) / hidden_size
    return numbers_per_token, bits_per_number


@pytest.mark.parametrize("wrong, hint", [
    (budget_in_nats, "use log2, not the natural log"),
    (budget_in_nats_torch, "use log2, not the natural log"),
    (budget_integer_division, "// rounds down"),
])
def test_context_budget_names_the_mistake(wrong, hint):
    got_status, message = verdict(check_context_budget, wrong)
    assert got_status == "failed" and "hint:" in message and hint in message, message


def test_context_budget_gives_no_hint_to_a_right_answer():
    assert "hint" not in check_context_budget(budget_alternative, verbose=False).message


@pytest.mark.parametrize("wrong, status, words", [
    (not_implemented, "not-implemented", "not implemented"),
    (raises, "failed", "RuntimeError"),
    (lambda L, H, n: (H // L, L * math.log2(n) / H), "failed", "differs"),           # integer division
    (lambda L, H, n: (H / L, L * math.log(n) / H), "failed", "differs"),             # nats, not bits
    (lambda L, H, n: (H / L.double(), L.double() * math.log2(n) / H)[0], "failed", "value"),  # one output
    (lambda L, H, n: ((H / L.double()).unsqueeze(0), L.double() * math.log2(n) / H), "failed", "shape"),
    (lambda L, H, n: (H / L.double() * float("nan"), L.double()), "failed", "NaN"),
    (lambda L, H, n: (H / L.double(), L.mul_(2) * math.log2(n) / H), "failed", "in place"),
])
def test_context_budget_catches_mistakes(wrong, status, words):
    got_status, message = verdict(check_context_budget, wrong)
    assert got_status == status and words in message, message


# ---------------------------------------------------------------------------- masked_cross_entropy
def loss_alternative(logits, targets, pad_id):
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    real = (targets != pad_id).float()
    return -(picked * real).sum() / real.sum()


def test_masked_cross_entropy_accepts_reference_and_alternative():
    assert check_masked_cross_entropy(sequence_loss, verbose=False)
    assert check_masked_cross_entropy(loss_alternative, verbose=False)
    assert check_masked_cross_entropy(
        lambda lo, t, p: F.cross_entropy(lo.transpose(1, 2), t, ignore_index=p), verbose=False)


@pytest.mark.parametrize("wrong, status, words", [
    (not_implemented, "not-implemented", "not implemented"),
    (raises, "failed", "RuntimeError"),
    (lambda lo, t, p: F.cross_entropy(lo.flatten(0, 1), t.flatten()), "failed", "padded batch"),  # counts padding
    (lambda lo, t, p: F.cross_entropy(lo.flatten(0, 1), t.flatten(), ignore_index=0), "failed", "padding id 3"),
    (lambda lo, t, p: F.cross_entropy(lo.flatten(0, 1), t.flatten(), ignore_index=p, reduction="sum"),
     "failed", "differs"),
    (lambda lo, t, p: F.cross_entropy(lo.flatten(0, 1), t.flatten(), ignore_index=p, reduction="none"),
     "failed", "shape"),
    (lambda lo, t, p: F.cross_entropy(lo.flatten(0, 1), t.flatten(), ignore_index=p) * float("nan"),
     "failed", "NaN"),
    (lambda lo, t, p: F.cross_entropy(lo.clamp_(-5, 5).flatten(0, 1), t.flatten(), ignore_index=p),
     "failed", "in place"),
])
def test_masked_cross_entropy_catches_mistakes(wrong, status, words):
    got_status, message = verdict(check_masked_cross_entropy, wrong)
    assert got_status == status and words in message, message


def loss_mean_over_all_positions(logits, targets, pad_id):
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    mask = (targets != pad_id).float()
    return (nll * mask).mean()


def loss_sum_over_numel(logits, targets, pad_id):
    total = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=pad_id, reduction="sum")
    return total / targets.numel()


@pytest.mark.parametrize("wrong", [loss_mean_over_all_positions, loss_sum_over_numel])
def test_masked_cross_entropy_names_division_by_all_positions(wrong):
    got_status, message = verdict(check_masked_cross_entropy, wrong)
    assert got_status == "failed" and "hint: the padding is zeroed but still counted" in message, message


def test_masked_cross_entropy_gives_no_hint_to_a_right_answer():
    assert "hint" not in check_masked_cross_entropy(loss_alternative, verbose=False).message


# ---------------------------------------------------------------------------- decode_loop
def decode_alternative(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    B, T = tgt_in.shape
    out = None
    prev = tgt_in[:, 0]
    for t in range(T):
        logits, state, _ = decoder.step(prev, state, enc_out, src_mask)
        out = logits.new_zeros(B, T, logits.shape[-1]) if out is None else out
        out[:, t] = logits
        if t < T - 1:
            prev = tgt_in[:, t + 1] if teacher_forcing else logits.max(dim=-1).indices
    return out


def decode_always_forced(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    return reference_decode_loop(decoder, state, enc_out, src_mask, tgt_in, True)


def decode_never_forced(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    return reference_decode_loop(decoder, state, enc_out, src_mask, tgt_in, False)


def decode_off_by_one(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    logits = []
    for t in range(tgt_in.shape[1]):
        step_logits, state, _ = decoder.step(tgt_in[:, max(t - 1, 0)], state, enc_out, src_mask)
        logits.append(step_logits)
    return torch.stack(logits, 1)


def decode_forgets_state(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    logits = []
    prev = tgt_in[:, 0]
    for t in range(tgt_in.shape[1]):
        step_logits, _, _ = decoder.step(prev, state, enc_out, src_mask)  # never updates state
        logits.append(step_logits)
        if t + 1 < tgt_in.shape[1]:
            prev = tgt_in[:, t + 1] if teacher_forcing else step_logits.argmax(-1)
    return torch.stack(logits, 1)


def decode_time_major(*args):
    return reference_decode_loop(*args).transpose(0, 1)


def decode_mutates(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    out = reference_decode_loop(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing)
    tgt_in[:, 0] = 0
    return out


def test_decode_loop_accepts_reference_and_alternative():
    assert check_decode_loop(reference_decode_loop, verbose=False)
    assert check_decode_loop(decode_alternative, verbose=False)


@pytest.mark.parametrize("wrong, status, words", [
    (not_implemented, "not-implemented", "not implemented"),
    (raises, "failed", "RuntimeError"),
    (decode_always_forced, "failed", "no teacher forcing"),
    (decode_never_forced, "failed", "teacher forcing"),
    (decode_off_by_one, "failed", "differs"),
    (decode_forgets_state, "failed", "differs"),
    (decode_time_major, "failed", "shape"),
    (lambda *a: reference_decode_loop(*a) * float("nan"), "failed", "NaN"),
    (decode_mutates, "failed", "in place"),
])
def test_decode_loop_catches_mistakes(wrong, status, words):
    got_status, message = verdict(check_decode_loop, wrong)
    assert got_status == status and words in message, message


def decode_feeds_same_token(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    inp = tgt_in[:, 0]
    outputs = []
    for t in range(tgt_in.shape[1]):
        logits, state, _ = decoder.step(inp, state, enc_out, src_mask)
        outputs.append(logits)
        if teacher_forcing:
            inp = tgt_in[:, t]  # should be t + 1: the token after the one just fed
        else:
            inp = logits.argmax(dim=-1)
    return torch.stack(outputs, dim=1)


def decode_keeps_first_state(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    B, T = tgt_in.shape
    inp = tgt_in[:, 0]
    outputs = []
    for t in range(T):
        logits, new_state, _ = decoder.step(inp, state, enc_out, src_mask)  # new_state never used
        outputs.append(logits)
        if t < T - 1:
            inp = tgt_in[:, t + 1] if teacher_forcing else logits.argmax(dim=-1)
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("wrong, hint", [
    (decode_feeds_same_token, "off by one"),
    (decode_off_by_one, "off by one"),
    (decode_keeps_first_state, "the state is not passed on"),
    (decode_forgets_state, "the state is not passed on"),
])
def test_decode_loop_names_the_mistake(wrong, hint):
    got_status, message = verdict(check_decode_loop, wrong)
    assert got_status == "failed" and "hint:" in message and hint in message, message


def test_decode_loop_gives_no_hint_to_a_right_answer():
    assert "hint" not in check_decode_loop(decode_alternative, verbose=False).message


def test_decode_loop_check_leaves_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_decode_loop(reference_decode_loop, verbose=False)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------- position_error_rates
def rates_alternative(predictions, targets, pad_id):
    rates = []
    for t in range(targets.shape[1]):
        real = [(p, y) for p, y in zip(predictions[:, t].tolist(), targets[:, t].tolist()) if y != pad_id]
        rates.append(sum(p != y for p, y in real) / len(real) if real else 0.0)
    return torch.tensor(rates)


def rates_counts_padding(predictions, targets, pad_id):
    return (predictions != targets).float().mean(0)


def rates_nan_for_empty(predictions, targets, pad_id):
    real = targets != pad_id
    return ((predictions != targets) & real).sum(0) / real.sum(0)


def rates_per_row(predictions, targets, pad_id):
    real = targets != pad_id
    return ((predictions != targets) & real).sum(1) / real.sum(1)


def rates_accuracy(predictions, targets, pad_id):
    return 1 - reference_position_error_rates(predictions, targets, pad_id)


def test_position_error_rates_accepts_reference_and_alternative():
    assert check_position_error_rates(reference_position_error_rates, verbose=False)
    assert check_position_error_rates(rates_alternative, verbose=False)


@pytest.mark.parametrize("wrong, status, words", [
    (not_implemented, "not-implemented", "not implemented"),
    (raises, "failed", "RuntimeError"),
    (rates_counts_padding, "failed", "padded batch"),
    (rates_nan_for_empty, "failed", "NaN"),
    (rates_per_row, "failed", "shape"),
    (rates_accuracy, "failed", "differs"),
    (lambda p, t, pad: reference_position_error_rates(p, t, 0), "failed", "padding id 1"),
    (lambda p, t, pad: reference_position_error_rates(p.masked_fill_(t == pad, pad), t, pad), "failed", "in place"),
])
def test_position_error_rates_catches_mistakes(wrong, status, words):
    got_status, message = verdict(check_position_error_rates, wrong)
    assert got_status == status and words in message, message


def rates_divide_by_batch(predictions, targets, pad_id):
    mask = targets != pad_id
    wrong = (predictions != targets) & mask
    return wrong.float().sum(dim=0) / targets.shape[0]


def rates_counts_padded_mistakes(predictions, targets, pad_id):
    mask = targets != pad_id
    wrong = (predictions != targets).float()
    return wrong.sum(dim=0) / mask.sum(dim=0).clamp(min=1)


@pytest.mark.parametrize("wrong, hint", [
    (rates_counts_padding, "padding is counted, as mistakes and in the number of targets"),
    (rates_divide_by_batch, "you divide by B, padding included"),
    (rates_counts_padded_mistakes, "predictions at padded positions are counted as mistakes"),
    (rates_nan_for_empty, "0 / 0 is NaN"),
])
def test_position_error_rates_names_the_mistake(wrong, hint):
    got_status, message = verdict(check_position_error_rates, wrong)
    assert got_status == "failed" and "hint:" in message and hint in message, message


def test_position_error_rates_gives_no_hint_to_a_right_answer():
    assert "hint" not in check_position_error_rates(rates_alternative, verbose=False).message


def test_verdicts_are_printed(capsys):
    check_context_budget(not_implemented)
    check_position_error_rates(reference_position_error_rates)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("⏳ context_budget: not implemented yet")
    assert out[1] == "✅ position_error_rates: passed (5 cases)"
