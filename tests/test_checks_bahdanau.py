"""The chapter-4 checkers, tried on right and deliberately wrong answers."""

import pytest
import torch

from grading import references as R
from tests.conftest import ours
from utils.bahdanau import BahdanauState
from utils.checks.bahdanau import check_alignment_scores, check_attend_source, check_decoder_step, checker_decoder

reference_alignment_scores, reference_attend_source = ours(R.alignment_scores), ours(R.attend_source)


def verdict(checker, fn):
    return checker(fn, verbose=False)


# ------------------------------------------------------------------ alignment_scores
def scores_alternative(s_prev, projected_keys, W_a, v):
    """Correct, written with einsum and an explicit loop over source positions."""
    q = torch.einsum("bh,ha->ba", s_prev, W_a)
    return torch.stack([torch.tanh(q + projected_keys[:, j]) @ v for j in range(projected_keys.shape[1])], 1)


def scores_not_implemented(s_prev, projected_keys, W_a, v):
    raise NotImplementedError()


def scores_no_tanh(s_prev, projected_keys, W_a, v):
    return ((s_prev @ W_a).unsqueeze(1) + projected_keys) @ v


def scores_softmaxed(s_prev, projected_keys, W_a, v):
    return torch.softmax(reference_alignment_scores(s_prev, projected_keys, W_a, v), -1)


def scores_keep_query_dim(s_prev, projected_keys, W_a, v):
    return reference_alignment_scores(s_prev, projected_keys, W_a, v).unsqueeze(1)  # (B, 1, S)


def scores_transposed_W(s_prev, projected_keys, W_a, v):
    return torch.tanh((s_prev @ W_a.T).unsqueeze(1) + projected_keys) @ v  # shape error


def scores_tanh_after_v(s_prev, projected_keys, W_a, v):
    return torch.tanh(((s_prev @ W_a).unsqueeze(1) + projected_keys) @ v)


def scores_mutate_keys(s_prev, projected_keys, W_a, v):
    projected_keys += (s_prev @ W_a).unsqueeze(1)
    return torch.tanh(projected_keys) @ v


def scores_nan(s_prev, projected_keys, W_a, v):
    return reference_alignment_scores(s_prev, projected_keys, W_a, v) / 0.0 * 0.0


def scores_return_weights(s_prev, projected_keys, W_a, v):
    e = torch.tanh((s_prev @ W_a).unsqueeze(1) + projected_keys) @ v
    return torch.softmax(e, dim=-1)  # the weights, not the scores


def test_alignment_scores_accepts_reference_and_alternative():
    for fn in [reference_alignment_scores, scores_alternative]:
        result = verdict(check_alignment_scores, fn)
        assert result.passed and "hint:" not in result.message, result.message


@pytest.mark.parametrize("wrong", [scores_softmaxed, scores_return_weights])
def test_alignment_scores_names_the_softmax(wrong):
    result = verdict(check_alignment_scores, wrong)
    assert result.status == "failed" and "hint: these are the softmax weights" in result.message, result.message


@pytest.mark.parametrize("wrong,words", [
    (scores_not_implemented, "not implemented yet"),
    (scores_no_tanh, "differs"),
    (scores_softmaxed, "differs"),
    (scores_keep_query_dim, "shape"),
    (scores_transposed_W, "raised RuntimeError"),
    (scores_tanh_after_v, "differs"),
    (scores_mutate_keys, "in place"),
    (scores_nan, "NaN"),
])
def test_alignment_scores_rejects_wrong_answers(wrong, words):
    result = verdict(check_alignment_scores, wrong)
    assert not result.passed and result.status != "passed"
    assert words in result.message, result.message


# ------------------------------------------------------------------ attend_source
def attend_alternative(scores, annotations, src_lengths):
    """Correct: a -1e9 fill and an explicit weighted sum."""
    S = scores.shape[1]
    mask = torch.stack([torch.arange(S) < n for n in src_lengths])
    weights = torch.softmax(torch.where(mask, scores, torch.full_like(scores, -1e9)), -1)
    return (weights.unsqueeze(-1) * annotations).sum(1), weights


def attend_ignores_padding(scores, annotations, src_lengths):
    weights = torch.softmax(scores, -1)
    return torch.einsum("bs,bsd->bd", weights, annotations), weights


def attend_off_by_one(scores, annotations, src_lengths):
    return reference_attend_source(scores, annotations, src_lengths + 1)


def attend_zero_after_softmax(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
    weights = torch.softmax(scores, -1) * mask  # no renormalising: rows do not sum to 1
    return torch.einsum("bs,bsd->bd", weights, annotations), weights


def attend_tiny_not_zero(scores, annotations, src_lengths):
    context, weights = reference_attend_source(scores, annotations, src_lengths)
    padded = torch.arange(scores.shape[1]).unsqueeze(0) >= src_lengths.unsqueeze(1)
    return context, weights + padded * 1e-12  # close, but padding is not exactly zero


def attend_log_offset(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = (torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)).float()
    weights = torch.softmax(scores + torch.log(mask + 1e-9), -1)  # padding keeps ~1e-9
    return torch.einsum("bs,bsd->bd", weights, annotations), weights


def attend_overflows(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
    e = torch.exp(scores) * mask
    weights = e / e.sum(-1, keepdim=True)
    return torch.einsum("bs,bsd->bd", weights, annotations), weights


def attend_swapped_outputs(scores, annotations, src_lengths):
    context, weights = reference_attend_source(scores, annotations, src_lengths)
    return weights, context


def attend_mutates(scores, annotations, src_lengths):
    S = scores.shape[1]
    scores.masked_fill_(~(torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)), float("-inf"))
    weights = torch.softmax(scores, -1)
    return torch.einsum("bs,bsd->bd", weights, annotations), weights


def attend_not_implemented(scores, annotations, src_lengths):
    raise NotImplementedError()


def attend_mask_less_or_equal(scores, annotations, src_lengths):
    S = scores.shape[1]
    mask = torch.arange(S).unsqueeze(0) <= src_lengths.unsqueeze(1)  # off by one
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (weights.unsqueeze(-1) * annotations).sum(dim=1), weights


def test_attend_source_accepts_reference_and_alternative():
    for fn in [reference_attend_source, attend_alternative]:
        result = verdict(check_attend_source, fn)
        assert result.passed and "hint:" not in result.message, result.message


@pytest.mark.parametrize("wrong", [attend_mask_less_or_equal, attend_off_by_one])
def test_attend_source_names_the_off_by_one_mask(wrong):
    result = verdict(check_attend_source, wrong)
    assert result.status == "failed" and "hint: the first padded position gets weight" in result.message, result.message


@pytest.mark.parametrize("wrong,words", [
    (attend_not_implemented, "not implemented yet"),
    (attend_ignores_padding, "differs"),
    (attend_off_by_one, "differs"),
    (attend_zero_after_softmax, "differs"),
    (attend_tiny_not_zero, "exactly 0"),
    (attend_log_offset, "differs"),  # -20.7 does not hide padding whose scores are large
    (attend_overflows, "NaN"),
    (attend_swapped_outputs, "shape"),
    (attend_mutates, "in place"),
])
def test_attend_source_rejects_wrong_answers(wrong, words):
    result = verdict(check_attend_source, wrong)
    assert not result.passed
    assert words in result.message, result.message


# ------------------------------------------------------------------ decoder_step
def step_solution(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, src_mask, projected_keys)
    s_t = decoder.cell(torch.cat([embedded, context], -1), s_prev)
    return decoder.output(s_t, context, embedded), s_t, weights


def step_alternative(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    """Correct, written out from the parameters."""
    score = decoder.attention.score
    e = (torch.tanh(score.W_q(s_prev).unsqueeze(1) + projected_keys) @ score.v.weight[0])  # (B, S)
    weights = torch.softmax(e.masked_fill(~src_mask, -1e9), -1)
    context = torch.einsum("bs,bsd->bd", weights, enc_out)
    embedded = decoder.embedding.weight[prev_token]
    s_t = decoder.cell(torch.cat([embedded, context], -1), s_prev)
    return decoder.output(s_t, context, embedded), s_t, weights


def step_via_step(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    logits, state, weights = decoder.step(prev_token, BahdanauState(s_prev, projected_keys), enc_out, src_mask)
    return logits, state.hidden, weights


def step_queries_new_state(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    embedded = decoder.embedding(prev_token)
    context0, _ = decoder.attention(s_prev, enc_out, src_mask, projected_keys)
    s_t = decoder.cell(torch.cat([embedded, context0], -1), s_prev)
    context, weights = decoder.attention(s_t, enc_out, src_mask, projected_keys)  # Luong's order
    return decoder.output(s_t, context, embedded), s_t, weights


def step_no_mask(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    return step_solution(decoder, prev_token, s_prev, enc_out, projected_keys, torch.ones_like(src_mask))


def step_swapped_inputs(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, src_mask, projected_keys)
    s_t = decoder.cell(torch.cat([context[:, :4], embedded, context[:, 4:]], -1), s_prev)
    return decoder.output(s_t, context, embedded), s_t, weights


def step_output_from_old_state(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, src_mask, projected_keys)
    s_t = decoder.cell(torch.cat([embedded, context], -1), s_prev)
    return decoder.output(s_prev, context, embedded), s_t, weights


def step_returns_two(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    return step_solution(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask)[:2]


def step_mutates_state(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    out = step_solution(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask)
    s_prev.copy_(out[1])
    return out


def step_not_implemented(*args):
    raise NotImplementedError()


def step_recurrent_step_first(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    """Luong's order from scratch: s_t with no context yet, then attention from s_t."""
    embedded = decoder.embedding(prev_token)
    s_t = decoder.cell(torch.cat([embedded, torch.zeros(len(prev_token), enc_out.shape[-1])], -1), s_prev)
    context, weights = decoder.attention(s_t, enc_out, src_mask, projected_keys)
    return decoder.output(s_t, context, embedded), s_t, weights


def step_context_before_embedding(decoder, prev_token, s_prev, enc_out, projected_keys, src_mask):
    embedded = decoder.embedding(prev_token)
    context, weights = decoder.attention(s_prev, enc_out, src_mask, projected_keys)
    s_t = decoder.cell(torch.cat([context, embedded], dim=-1), s_prev)
    return decoder.output(s_t, context, embedded), s_t, weights


def test_decoder_step_accepts_reference_and_alternatives():
    for fn in [step_solution, step_alternative, step_via_step]:
        result = verdict(check_decoder_step, fn)
        assert result.passed and "hint:" not in result.message, result.message


@pytest.mark.parametrize("wrong,hint", [
    (step_queries_new_state, "hint: this attends from the new state s_t (Luong's order)"),
    (step_recurrent_step_first, "hint: this attends from the new state s_t (Luong's order)"),
    (step_context_before_embedding, "hint: the GRU's input is [E y_{t-1} ; c_t], the embedding first"),
    (step_no_mask, "hint: padded source positions get weight"),
    (step_output_from_old_state, "hint: the output layer reads the new state s_t"),
])
def test_decoder_step_names_the_mistake(wrong, hint):
    result = verdict(check_decoder_step, wrong)
    assert result.status == "failed" and hint in result.message, result.message


def test_decoder_step_gives_no_hint_for_an_unknown_mistake():
    result = verdict(check_decoder_step, step_swapped_inputs)
    assert result.status == "failed" and "hint:" not in result.message, result.message


@pytest.mark.parametrize("wrong,words", [
    (step_not_implemented, "not implemented yet"),
    (step_queries_new_state, "differs"),
    (step_no_mask, "differs"),
    (step_swapped_inputs, "differs"),
    (step_output_from_old_state, "differs"),
    (step_returns_two, "returned 2 value(s)"),
    (step_mutates_state, "in place"),
])
def test_decoder_step_rejects_wrong_answers(wrong, words):
    result = verdict(check_decoder_step, wrong)
    assert not result.passed
    assert words in result.message, result.message


def test_decoder_step_check_reports_a_non_function():
    result = verdict(check_decoder_step, 42)
    assert not result.passed and "expected a function" in result.message


def test_checks_do_not_change_the_global_random_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_decoder_step(step_solution, verbose=False)
    check_alignment_scores(reference_alignment_scores, verbose=False)
    check_attend_source(reference_attend_source, verbose=False)
    assert torch.equal(torch.rand(3), expected)
    a, b = checker_decoder(), checker_decoder()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_verdicts_print_one_line(capsys):
    check_decoder_step(step_solution)
    check_attend_source(attend_not_implemented)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✅ decoder_step: passed") and out[1].startswith("⏳ attend_source")
