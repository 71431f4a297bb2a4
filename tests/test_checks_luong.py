"""The chapter-5 checkers, tried on right and deliberately wrong answers."""

import math

import pytest
import torch

from grading import references as R
from tests.conftest import ours
from utils.checks.luong import check_general_score, check_local_p, check_luong_step

reference_general_score, reference_local_p = ours(R.general_score), ours(R.local_p)


def reference_luong_step(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    """The step of the checker's decoder (the only decoder these tests pass)."""
    return R.luong_step(prev_token, h_prev, h_tilde_prev, enc_out, src_mask)


def verdict(checker, fn):
    return checker(fn, verbose=False)


# ------------------------------------------------------------------ general_score
def general_alternative(h_t, enc_out, W_a):
    """Correct, with einsum."""
    return torch.einsum("bh,hd,bsd->bs", h_t, W_a, enc_out)


def general_not_implemented(h_t, enc_out, W_a):
    raise NotImplementedError()


def general_added(h_t, enc_out, W_a):
    """Adds W_a-projected state and annotation instead of multiplying them."""
    return ((h_t @ W_a).unsqueeze(1) + enc_out).sum(-1)


def general_keep_dim(h_t, enc_out, W_a):
    return reference_general_score(h_t, enc_out, W_a).unsqueeze(1)


def general_softmaxed(h_t, enc_out, W_a):
    return torch.softmax(reference_general_score(h_t, enc_out, W_a), -1)


def general_mutates(h_t, enc_out, W_a):
    enc_out *= 1.0
    enc_out += 1.0
    return reference_general_score(h_t, enc_out - 1.0, W_a)


def general_nan(h_t, enc_out, W_a):
    return reference_general_score(h_t, enc_out, W_a) * float("nan")


def general_raises(h_t, enc_out, W_a):
    return h_t @ enc_out  # shapes do not fit


def test_general_score_accepts_reference_and_alternative():
    assert verdict(check_general_score, reference_general_score).passed
    assert verdict(check_general_score, general_alternative).passed


@pytest.mark.parametrize("wrong,words", [
    (general_not_implemented, "not implemented yet"),
    (general_added, "differs"),
    (general_keep_dim, "shape"),
    (general_softmaxed, "differs"),
    (general_mutates, "in place"),
    (general_nan, "NaN"),
    (general_raises, "raised RuntimeError"),
])
def test_general_score_rejects_wrong_answers(wrong, words):
    result = verdict(check_general_score, wrong)
    assert not result.passed and result.status != "passed"
    assert words in result.message, result.message


# ------------------------------------------------------------------ local_p
def local_p_alternative(scores, h_t, W_p, v_p, src_lengths, D):
    """Correct, with loops over the batch and explicit -inf filling."""
    B, S = scores.shape
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    weights = torch.zeros(B, S)
    for b in range(B):
        s = torch.arange(S).float()
        keep = ((s - p[b]).abs() <= D) & (s < src_lengths[b])
        if keep.any():
            e = scores[b].masked_fill(~keep, -math.inf)
            weights[b] = torch.softmax(e, -1) * torch.exp(-(s - p[b]) ** 2 / (2 * (D / 2) ** 2))
    return weights, p


def local_p_not_implemented(scores, h_t, W_p, v_p, src_lengths, D):
    raise NotImplementedError()


def local_p_renormalised(scores, h_t, W_p, v_p, src_lengths, D):
    w, p = reference_local_p(scores, h_t, W_p, v_p, src_lengths, D)
    return w / w.sum(-1, keepdim=True), p


def local_p_sigma_D(scores, h_t, W_p, v_p, src_lengths, D):
    w, p = reference_local_p(scores, h_t, W_p, v_p, src_lengths, D)
    s = torch.arange(scores.shape[1]).float()
    g_half = torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (D / 2) ** 2))
    g_full = torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * D ** 2))
    return w / g_half * g_full, p


def local_p_no_window(scores, h_t, W_p, v_p, src_lengths, D):
    """Softmax over every real position, Gaussian applied: nonzero outside the window."""
    w, p = reference_local_p(scores, h_t, W_p, v_p, src_lengths, 10_000)
    s = torch.arange(scores.shape[1]).float()
    g = torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (D / 2) ** 2)) / torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * 5000.0 ** 2))
    return w * g, p


def local_p_max_length(scores, h_t, W_p, v_p, src_lengths, D):
    """Uses the padded width S instead of each source's own length."""
    lengths = torch.full_like(src_lengths, scores.shape[1])
    w, p = reference_local_p(scores, h_t, W_p, v_p, lengths, D)
    mask = torch.arange(scores.shape[1]).unsqueeze(0) < src_lengths.unsqueeze(1)
    return w * mask, p


def local_p_no_max(scores, h_t, W_p, v_p, src_lengths, D):
    """exp without subtracting the maximum: overflows on large scores."""
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).float()
    keep = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    e = torch.exp(scores) * keep
    return e / e.sum(-1, keepdim=True) * torch.exp(-(s - p.unsqueeze(1)) ** 2 / (2 * (D / 2) ** 2)), p


def local_p_mutates(scores, h_t, W_p, v_p, src_lengths, D):
    w, p = reference_local_p(scores.clone(), h_t, W_p, v_p, src_lengths, D)
    scores.zero_()
    return w, p


def local_p_only_weights(scores, h_t, W_p, v_p, src_lengths, D):
    return reference_local_p(scores, h_t, W_p, v_p, src_lengths, D)[0]


def local_p_strict_window(scores, h_t, W_p, v_p, src_lengths, D):
    """|s - p_t| < D: right whenever p_t is not a whole number, wrong at p_t ± D when it is."""
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() < D) & (s < src_lengths.unsqueeze(1))
    align = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    return align * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2)), p


def local_p_renormalised_by_hand(scores, h_t, W_p, v_p, src_lengths, D):
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    align = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    weights = align * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2))
    return weights / weights.sum(-1, keepdim=True), p  # "weights should sum to 1"


def local_p_padded_length(scores, h_t, W_p, v_p, src_lengths, D):
    S = scores.shape[1]
    p = S * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(S).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    align = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    return align * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2)), p


def local_p_lengths_ignored(scores, h_t, W_p, v_p, src_lengths, D):
    S = scores.shape[1]
    p = S * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(S).unsqueeze(0)
    near = (s - p.unsqueeze(1)).abs() <= D
    align = torch.softmax(scores.masked_fill(~near, float("-inf")), -1)
    return align * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2)), p


def test_local_p_accepts_reference_and_alternative():
    for fn in [reference_local_p, local_p_alternative]:
        result = verdict(check_local_p, fn)
        assert result.passed and "hint:" not in result.message, result.message
    assert "(5 cases)" in verdict(check_local_p, reference_local_p).message


@pytest.mark.parametrize("wrong,hint", [
    (local_p_strict_window, "hint: the window is |s - p_t| <= w, both ends included"),
    (local_p_renormalised, "hint: the weights are renormalised after the Gaussian"),
    (local_p_renormalised_by_hand, "hint: the weights are renormalised after the Gaussian"),
    (local_p_padded_length, "hint: p_t is computed from the padded length S"),
    (local_p_lengths_ignored, "hint: p_t is computed from the padded length S and the padding is not masked"),
])
def test_local_p_names_the_mistake(wrong, hint):
    result = verdict(check_local_p, wrong)
    assert result.status == "failed" and hint in result.message, result.message


def test_local_p_strict_window_fails_only_on_a_whole_number_p_t():
    result = verdict(check_local_p, local_p_strict_window)
    assert 'on "p_t on a whole position' in result.message, result.message


@pytest.mark.parametrize("wrong,words", [
    (local_p_not_implemented, "not implemented yet"),
    (local_p_renormalised, "differs"),
    (local_p_sigma_D, "differs"),
    (local_p_no_window, "differs"),
    (local_p_max_length, "differs"),
    (local_p_no_max, "NaN"),
    (local_p_mutates, "in place"),
    (local_p_only_weights, "returned"),
])
def test_local_p_rejects_wrong_answers(wrong, words):
    result = verdict(check_local_p, wrong)
    assert not result.passed and result.status != "passed"
    assert words in result.message, result.message


def test_local_p_extra_check_catches_tiny_weights_outside_the_window():
    def leaky(scores, h_t, W_p, v_p, src_lengths, D):
        w, p = reference_local_p(scores, h_t, W_p, v_p, src_lengths, D)
        return w + 1e-9, p  # within the tolerance of the value comparison, but not exactly zero
    result = verdict(check_local_p, leaky)
    assert not result.passed and "exactly 0" in result.message, result.message


# ------------------------------------------------------------------ luong_step
def step_alternative(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    """Correct, written from the parameters with explicit products."""
    x = torch.cat([decoder.embedding(prev_token), h_tilde_prev], -1)
    h_t = decoder.cell(x, h_prev)
    W_a = decoder.attention.general.W_a.weight  # (H, D): maps h̄ (D) to W_a h̄ (H)
    scores = torch.einsum("bh,hd,bsd->bs", h_t, W_a, enc_out)
    scores = scores.masked_fill(~src_mask, -1e9)
    weights = torch.softmax(scores, -1)
    context = torch.einsum("bs,bsd->bd", weights, enc_out)
    h_tilde = torch.tanh(torch.cat([context, h_t], -1) @ decoder.combine.weight.T)
    return decoder.out(h_tilde), h_t, h_tilde, weights


def step_not_implemented(*args):
    raise NotImplementedError()


def step_no_input_feeding(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    return reference_luong_step(decoder, prev_token, h_prev, torch.zeros_like(h_tilde_prev), enc_out, src_mask)


def step_attend_from_previous_state(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    """Bahdanau's order: attention from h_{t-1}, before the recurrent step."""
    att = decoder.attention(h_prev, enc_out, src_mask)
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], -1), h_prev)
    h_tilde = torch.tanh(decoder.combine(torch.cat([att.context, h_t], -1)))
    return decoder.out(h_tilde), h_t, h_tilde, att.weights


def step_output_from_hidden(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    logits, h_t, h_tilde, w = reference_luong_step(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask)
    return decoder.out(h_t), h_t, h_tilde, w


def step_swapped_concat(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    h_t = decoder.cell(torch.cat([decoder.embedding(prev_token), h_tilde_prev], -1), h_prev)
    att = decoder.attention(h_t, enc_out, src_mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([h_t, att.context[..., :5], att.context[..., 5:]], -1)))
    return decoder.out(h_tilde), h_t, h_tilde, att.weights


def step_no_mask(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    return reference_luong_step(decoder, prev_token, h_prev, h_tilde_prev, enc_out, torch.ones_like(src_mask))


def step_three_outputs(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    return reference_luong_step(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask)[:3]


def step_mutates(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    out = reference_luong_step(decoder, prev_token, h_prev.clone(), h_tilde_prev, enc_out, src_mask)
    h_prev.copy_(out[1])
    return out


def step_feeds_hidden_state(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    x = torch.cat([decoder.embedding(prev_token), h_prev], dim=-1)  # h_{t-1}, not h̃_{t-1}
    h_t = decoder.cell(x, h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, src_mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def step_no_tanh(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    x = torch.cat([decoder.embedding(prev_token), h_tilde_prev], dim=-1)
    h_t = decoder.cell(x, h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, src_mask)
    h_tilde = decoder.combine(torch.cat([context, h_t], dim=-1))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def step_input_feeding_first(decoder, prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    h_t = decoder.cell(torch.cat([h_tilde_prev, decoder.embedding(prev_token)], dim=-1), h_prev)
    context, weights, _ = decoder.attention(h_t, enc_out, src_mask)
    h_tilde = torch.tanh(decoder.combine(torch.cat([context, h_t], dim=-1)))
    return decoder.out(h_tilde), h_t, h_tilde, weights


def test_luong_step_accepts_reference_and_alternative():
    for fn in [lambda d, *a: reference_luong_step(d, *a), step_alternative]:
        result = verdict(check_luong_step, fn)
        assert result.passed and "hint:" not in result.message, result.message


@pytest.mark.parametrize("wrong,hint", [
    (step_attend_from_previous_state, "hint: the attention query is h_{t-1} (Bahdanau's order)"),
    (step_no_input_feeding, "hint: input feeding is missing"),
    (step_feeds_hidden_state, "hint: input feeding concatenates the previous attentional state"),
    (step_input_feeding_first, "hint: the GRU's input is [E y_{t-1} ; h̃_{t-1}], the embedding first"),
    (step_no_tanh, "hint: tanh is missing"),
    (step_swapped_concat, "hint: W_c reads [c_t ; h_t], the context first"),
    (step_output_from_hidden, "hint: the logits come from the attentional state"),
    (step_no_mask, "hint: padded source positions get weight"),
])
def test_luong_step_names_the_mistake(wrong, hint):
    result = verdict(check_luong_step, wrong)
    assert result.status == "failed" and hint in result.message, result.message


@pytest.mark.parametrize("wrong,words", [
    (step_not_implemented, "not implemented yet"),
    (step_no_input_feeding, "differs"),
    (step_attend_from_previous_state, "differs"),
    (step_output_from_hidden, "differs"),
    (step_swapped_concat, "differs"),
    (step_no_mask, "differs"),
    (step_three_outputs, "returned 3 value(s)"),
    (step_mutates, "in place"),
])
def test_luong_step_rejects_wrong_answers(wrong, words):
    result = verdict(check_luong_step, wrong)
    assert not result.passed and result.status != "passed"
    assert words in result.message, result.message


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_luong_step(step_alternative, verbose=False)
    check_local_p(reference_local_p, verbose=False)
    assert torch.equal(torch.rand(3), expected)


def general_transposed(h_t, enc_out, W_a):
    return torch.einsum("bsd,dh,bh->bs", enc_out, W_a, h_t)   # h̄ᵀ W_a h_t: the shapes only fit when H = D


@pytest.mark.parametrize("wrong, hint", [(general_softmaxed, "these are softmax weights"),
                                         (general_transposed, "W_a is applied the other way round")])
def test_general_score_names_the_mistake(wrong, hint):
    verdict = check_general_score(wrong, verbose=False)
    assert not verdict.passed and hint in verdict.message, verdict.message


def test_general_score_gives_no_hint_to_a_right_answer():
    verdict = check_general_score(reference_general_score, verbose=False)
    assert verdict.passed and "hint" not in verdict.message
