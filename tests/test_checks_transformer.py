"""The chapter-7 checkers pass right answers and catch wrong ones, with a useful message.

Every wrong answer below is written the way a learner writes it (not with the checkers' helpers),
and each named mistake must be recognised, in the notebook and again by the grader's judge.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from grading import references as R
from grading.judge import judge
from tests.conftest import ours
from utils.checks.submit import record
from utils.checks.transformer import check_attend_with_cache, check_cross_attention, check_decoder_masks

reference_masks, reference_cross, reference_cache = (ours(R.decoder_masks), ours(R.cross_attention),
                                                     ours(R.attend_with_cache))


def _verdict(result, status, *fragments):
    assert result.status == status, result.message
    assert bool(result) == (status == "passed")
    for fragment in fragments:
        assert fragment in result.message, result.message


def _no_hint(result):
    assert result.status == "failed" and "hint:" not in result.message, result.message


# ----------------------------------------------------------------------------------------------
# the decoder's masks
# ----------------------------------------------------------------------------------------------
def masks_loops(tgt_len, src_lengths, S):
    """A correct answer with loops: a row at a time."""
    self_mask = torch.zeros(tgt_len, tgt_len, dtype=torch.bool)
    for t in range(tgt_len):
        self_mask[t, : t + 1] = True
    cross_mask = torch.zeros(len(src_lengths), tgt_len, S, dtype=torch.bool)
    for b, length in enumerate(src_lengths.tolist()):
        cross_mask[b, :, :length] = True
    return self_mask, cross_mask


def masks_broadcast(tgt_len, src_lengths, S):
    """A correct answer by broadcasting comparisons, cross mask materialised with repeat."""
    pos = torch.arange(tgt_len)
    self_mask = pos[None, :] <= pos[:, None]                                    # j <= t
    keep = torch.arange(S)[None, None, :] < src_lengths[:, None, None]          # (B, 1, S)
    return self_mask, keep.repeat(1, tgt_len, 1)


def _padding(src_lengths, S):
    return torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)


def _cross(tgt_len, src_lengths, S):
    return _padding(src_lengths, S).unsqueeze(1).expand(-1, tgt_len, -1)


def masks_tril_plus_one(tgt_len, src_lengths, S):
    return torch.ones(tgt_len, tgt_len).tril(1).bool(), _cross(tgt_len, src_lengths, S)


def masks_triu(tgt_len, src_lengths, S):
    return torch.triu(torch.ones(tgt_len, tgt_len, dtype=torch.bool)), _cross(tgt_len, src_lengths, S)


def masks_tril_minus_one(tgt_len, src_lengths, S):
    return torch.tril(torch.ones(tgt_len, tgt_len, dtype=torch.bool), diagonal=-1), _cross(tgt_len, src_lengths, S)


def masks_pytorch_convention(tgt_len, src_lengths, S):
    """True = blocked, as nn.MultiheadAttention wants its boolean masks."""
    future = torch.triu(torch.ones(tgt_len, tgt_len, dtype=torch.bool), diagonal=1)
    padded = torch.arange(S)[None, :] >= src_lengths[:, None]
    return future, padded[:, None, :].expand(-1, tgt_len, -1)


def masks_cross_blocked_only(tgt_len, src_lengths, S):
    self_mask = torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril()
    return self_mask, (torch.arange(S) >= src_lengths.unsqueeze(1)).unsqueeze(1).expand(-1, tgt_len, -1)


def masks_over_target(tgt_len, src_lengths, S):
    """Compares the target positions with the source lengths."""
    self_mask = torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril()
    rows = torch.arange(tgt_len)[None, :] < src_lengths[:, None]               # (B, T)
    return self_mask, rows[:, :, None].expand(-1, -1, S)


def masks_source_along_rows(tgt_len, src_lengths, S):
    """The (B, S) padding mask put along the rows: (B, S, T)."""
    self_mask = torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril()
    keep = torch.arange(S)[None, :] < src_lengths[:, None]                     # (B, S)
    return self_mask, keep.unsqueeze(-1).expand(-1, -1, tgt_len)


def masks_no_padding(tgt_len, src_lengths, S):
    return torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril(), torch.ones(len(src_lengths), tgt_len, S, dtype=torch.bool)


def masks_causal_cross(tgt_len, src_lengths, S):
    causal = torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril()
    return causal, _cross(tgt_len, src_lengths, S) & torch.ones(tgt_len, S, dtype=torch.bool).tril()


def masks_not_expanded(tgt_len, src_lengths, S):
    return torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril(), _padding(src_lengths, S).unsqueeze(1)


def test_decoder_masks_passes_reference_and_alternatives(capsys):
    _verdict(check_decoder_masks(reference_masks), "passed", "✅ decoder_masks", "6 cases")
    assert "✅ decoder_masks" in capsys.readouterr().out
    _verdict(check_decoder_masks(masks_loops, verbose=False), "passed")
    _verdict(check_decoder_masks(masks_broadcast, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (masks_tril_plus_one, "not tril(1)"),
    (masks_triu, "not where j >= t (triu)"),
    (masks_tril_minus_one, "may see itself"),
    (masks_pytorch_convention, "wrong way round"),
    (masks_cross_blocked_only, "wrong way round"),
    (masks_over_target, "hides source keys, not target positions"),
    (masks_source_along_rows, "hides source keys, not target positions"),
    (masks_no_padding, "source padding is forgotten"),
    (masks_causal_cross, "not causal"),
    (masks_not_expanded, "must be (B, T, S)"),
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_decoder_masks_names_each_mistake(wrong, hint):
    _verdict(check_decoder_masks(wrong, verbose=False), "failed", "❌ decoder_masks", "hint:", hint)


def test_decoder_masks_two_mistakes_get_the_first_one_named():
    def both(tgt_len, src_lengths, S):                 # tril(-1) and no padding
        return masks_tril_minus_one(tgt_len, src_lengths, S)[0], masks_no_padding(tgt_len, src_lengths, S)[1]

    _verdict(check_decoder_masks(both, verbose=False), "failed", "may see itself")


def test_decoder_masks_not_implemented_dtype_mutation_and_unknown_mistakes():
    def stub(tgt_len, src_lengths, S):
        raise NotImplementedError()

    def float_masks(tgt_len, src_lengths, S):
        self_mask, cross_mask = masks_loops(tgt_len, src_lengths, S)
        return self_mask.float(), cross_mask.float()

    def mutates(tgt_len, src_lengths, S):
        src_lengths.unsqueeze_(1)                      # (B,) -> (B, 1), in place
        return masks_broadcast(tgt_len, src_lengths.squeeze(1), S)

    def nothing_visible(tgt_len, src_lengths, S):      # wrong in no known way
        return torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril(), torch.zeros(len(src_lengths), tgt_len, S, dtype=torch.bool)

    def longest_not_S(tgt_len, src_lengths, S):       # pads only to the longest source
        return masks_loops(tgt_len, src_lengths, int(src_lengths.max()))

    _verdict(check_decoder_masks(stub, verbose=False), "not-implemented", "⏳", "not implemented yet")
    _verdict(check_decoder_masks(float_masks, verbose=False), "failed", "must be bool")
    _verdict(check_decoder_masks(mutates, verbose=False), "failed", "in place")
    _no_hint(check_decoder_masks(nothing_visible, verbose=False))
    _verdict(check_decoder_masks(longest_not_S, verbose=False), "failed", "shape", "S longer than the longest")
    _verdict(check_decoder_masks("not a function", verbose=False), "failed", "expected a function")


# ----------------------------------------------------------------------------------------------
# cross-attention
# ----------------------------------------------------------------------------------------------
def cross_by_hand(dec, enc, src_mask, W_q, W_k, W_v):
    """A correct answer with einsum and a softmax written out: exp of the masked scores minus their max."""
    Q = torch.einsum("btd,dk->btk", dec, W_q)
    K = torch.einsum("bsd,dk->bsk", enc, W_k)
    V = torch.einsum("bsd,dv->bsv", enc, W_v)
    scores = torch.einsum("btk,bsk->bts", Q, K) / math.sqrt(Q.shape[-1])
    scores = torch.where(src_mask[:, None, :], scores, torch.tensor(float("-inf")))
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = e / e.sum(dim=-1, keepdim=True)
    return torch.einsum("bts,bsv->btv", weights, V), weights


def cross_bmm(dec, enc, src_mask, W_q, W_k, W_v):
    """A correct answer with bmm and a large negative number instead of -inf."""
    Q, K, V = dec @ W_q, enc @ W_k, enc @ W_v
    scores = torch.bmm(Q, K.transpose(1, 2)) * Q.shape[-1] ** -0.5
    weights = F.softmax(scores.masked_fill(src_mask.unsqueeze(1) == 0, -1e9), dim=2)
    return torch.bmm(weights, V), weights


def cross_swapped(dec, enc, src_mask, W_q, W_k, W_v):
    Q, K, V = enc @ W_q, dec @ W_k, dec @ W_v
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~src_mask.unsqueeze(1), float("-inf")), dim=-1)
    return weights @ V, weights


def cross_encoder_queries(dec, enc, src_mask, W_q, W_k, W_v):
    Q, K, V = enc @ W_q, enc @ W_k, enc @ W_v
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~src_mask.unsqueeze(1), float("-inf")), dim=-1)
    return weights @ V, weights


def _cross_with(dec, enc, src_mask, W_q, W_k, W_v, scale=True, blocked=None, dim=-1):
    Q, K, V = dec @ W_q, enc @ W_k, enc @ W_v
    scores = Q @ K.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(K.shape[-1])
    if blocked is not None:
        scores = scores.masked_fill(blocked, float("-inf"))
    weights = torch.softmax(scores, dim=dim)
    return weights @ V, weights


def cross_unscaled(dec, enc, src_mask, W_q, W_k, W_v):
    return _cross_with(dec, enc, src_mask, W_q, W_k, W_v, scale=False, blocked=~src_mask.unsqueeze(1))


def cross_no_mask(dec, enc, src_mask, W_q, W_k, W_v):
    return _cross_with(dec, enc, src_mask, W_q, W_k, W_v)


def cross_over_queries(dec, enc, src_mask, W_q, W_k, W_v):
    return _cross_with(dec, enc, src_mask, W_q, W_k, W_v, blocked=~src_mask.unsqueeze(1), dim=1)


def cross_over_queries_big_negative(dec, enc, src_mask, W_q, W_k, W_v):
    Q, K, V = dec @ W_q, enc @ W_k, enc @ W_v
    scores = (Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])).masked_fill(~src_mask[:, None], -1e9)
    weights = scores.softmax(dim=-2)
    return weights @ V, weights


def cross_polarity(dec, enc, src_mask, W_q, W_k, W_v):
    return _cross_with(dec, enc, src_mask, W_q, W_k, W_v, blocked=src_mask.unsqueeze(1))


def cross_mask_not_unsqueezed(dec, enc, src_mask, W_q, W_k, W_v):
    return _cross_with(dec, enc, src_mask, W_q, W_k, W_v, blocked=~src_mask)


def test_cross_attention_passes_reference_and_alternatives(capsys):
    _verdict(check_cross_attention(reference_cross), "passed", "✅ cross_attention", "6 cases")
    assert "✅ cross_attention" in capsys.readouterr().out
    _verdict(check_cross_attention(cross_by_hand, verbose=False), "passed")
    _verdict(check_cross_attention(cross_bmm, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (cross_swapped, "hint: the queries come from the decoder"),
    (cross_unscaled, "√d_k"),
    (cross_no_mask, "padded source positions get weight"),
    (cross_over_queries, "over the queries"),
    (cross_over_queries_big_negative, "over the queries"),
    (cross_polarity, "wrong way round"),
    (cross_mask_not_unsqueezed, "unsqueeze it to (B, 1, S)"),
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_cross_attention_names_each_mistake(wrong, hint):
    _verdict(check_cross_attention(wrong, verbose=False), "failed", "❌ cross_attention", hint)


def test_cross_attention_output_with_a_row_per_source_position_says_where_queries_come_from():
    result = check_cross_attention(cross_encoder_queries, verbose=False)
    _verdict(result, "failed", "output #1 has shape (1, 3, 3) but expected (1, 2, 3)",
             "queries must come from the decoder: one output row per target position")
    assert result.message.count("decoder") == 1, result.message   # said once, not again as a hint


def test_cross_attention_catches_shape_nan_mutation_raising_and_inexact_zeros():
    def stub(*args):
        raise NotImplementedError()

    def nan(*args):
        out, w = reference_cross(*args)
        return out * float("nan"), w

    def zeroes_padding_in_place(dec, enc, src_mask, W_q, W_k, W_v):
        enc[~src_mask] = 0.0                            # the encoder's output is zero there anyway…
        return reference_cross(dec, enc, src_mask, W_q, W_k, W_v)

    def weights_transposed(*args):
        out, w = reference_cross(*args)
        return out, w.transpose(1, 2)

    def only_output(*args):
        return reference_cross(*args)[0]

    def tiny_weight_on_padding(dec, enc, src_mask, W_q, W_k, W_v):
        out, w = reference_cross(dec, enc, src_mask, W_q, W_k, W_v)
        w = torch.where(src_mask[:, None, :], w, torch.full_like(w, 1e-7))   # within the tolerance
        return out, w

    def plus_one(*args):                                # wrong in no known way
        out, w = reference_cross(*args)
        return out + 1, w

    _verdict(check_cross_attention(stub, verbose=False), "not-implemented", "⏳")
    _verdict(check_cross_attention(nan, verbose=False), "failed", "NaN")
    _verdict(check_cross_attention(zeroes_padding_in_place, verbose=False), "failed", "argument #2 in place")
    _verdict(check_cross_attention(weights_transposed, verbose=False), "failed", "output #2 has shape")
    _verdict(check_cross_attention(only_output, verbose=False), "failed", "returned")
    _verdict(check_cross_attention(tiny_weight_on_padding, verbose=False), "failed", "exactly 0")
    _verdict(check_cross_attention(lambda *a: 1 / 0, verbose=False), "failed", "ZeroDivisionError")
    _no_hint(check_cross_attention(plus_one, verbose=False))


# ----------------------------------------------------------------------------------------------
# one decoding step with a key–value cache
# ----------------------------------------------------------------------------------------------
def cache_by_hand(q_t, k_t, v_t, cache_k, cache_v):
    """A correct answer: the new cache written into a fresh tensor, the scores as a sum of products."""
    B, H, t, d = cache_k.shape
    new_k, new_v = torch.empty(B, H, t + 1, d), torch.empty(B, H, t + 1, d)
    new_k[:, :, :t], new_k[:, :, t] = cache_k, k_t[:, :, 0]
    new_v[:, :, :t], new_v[:, :, t] = cache_v, v_t[:, :, 0]
    scores = (q_t * new_k).sum(-1).unsqueeze(-2) / math.sqrt(d)               # (B, H, 1, t+1)
    return torch.softmax(scores, dim=-1) @ new_v, new_k, new_v


def cache_torch(q_t, k_t, v_t, cache_k, cache_v):
    """A correct answer with PyTorch's fused attention."""
    k, v = torch.cat((cache_k, k_t), dim=2), torch.cat((cache_v, v_t), dim=2)
    return F.scaled_dot_product_attention(q_t, k, v), k, v


def _step(q_t, k_t, v_t, cache_k, cache_v, dim=-2, softmax_dim=-1, scale=True, new_first=False, old_only=False):
    pair_k, pair_v = ([k_t, cache_k], [v_t, cache_v]) if new_first else ([cache_k, k_t], [cache_v, v_t])
    k, v = torch.cat(pair_k, dim=dim), torch.cat(pair_v, dim=dim)
    keys, values = (cache_k, cache_v) if old_only else (k, v)
    scores = q_t @ keys.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(q_t.shape[-1])
    return torch.softmax(scores, dim=softmax_dim) @ values, k, v


def cache_batch_axis(*args):
    return _step(*args, dim=0)


def cache_heads_axis(*args):
    return _step(*args, dim=1)


def cache_feature_axis(*args):
    return _step(*args, dim=-1)


def cache_old_only(*args):
    return _step(*args, old_only=True)


def cache_new_first(*args):
    return _step(*args, new_first=True)


def cache_unscaled(*args):
    return _step(*args, scale=False)


def cache_softmax_over_query(*args):
    return _step(*args, softmax_dim=-2)


def cache_softmax_over_heads(*args):
    return _step(*args, softmax_dim=1)


def test_attend_with_cache_passes_reference_and_alternatives(capsys):
    _verdict(check_attend_with_cache(reference_cache), "passed", "✅ attend_with_cache", "5 cases")
    assert "✅ attend_with_cache" in capsys.readouterr().out
    _verdict(check_attend_with_cache(cache_by_hand, verbose=False), "passed")
    _verdict(check_attend_with_cache(cache_torch, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (cache_batch_axis, "the cache grows along the time axis, dim -2"),
    (cache_heads_axis, "the cache grows along the time axis, dim -2"),
    (cache_feature_axis, "the cache grows along the time axis, dim -2"),
    (cache_old_only, "attends to itself too"),
    (cache_new_first, "go after the cached ones"),
    (cache_unscaled, "√d"),
    (cache_softmax_over_query, "every weight is 1"),
    (cache_softmax_over_heads, "over the heads"),
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_attend_with_cache_names_each_mistake(wrong, hint):
    _verdict(check_attend_with_cache(wrong, verbose=False), "failed", "❌ attend_with_cache", "hint:", hint)


def test_a_cache_grown_along_another_axis_is_named_from_the_returned_shape_too():
    def stacks_a_new_head(q_t, k_t, v_t, cache_k, cache_v):    # runs on a cache of one token only
        if cache_k.shape[-2] != 1:
            return reference_cache(q_t, k_t, v_t, cache_k, cache_v)
        k, v = torch.cat([cache_k, k_t], dim=1), torch.cat([cache_v, v_t], dim=1)
        return reference_cache(q_t, k_t, v_t, cache_k, cache_v)[0], k, v

    _verdict(check_attend_with_cache(stacks_a_new_head, verbose=False), "failed", "output #2 has shape",
             "dim -2")


def test_attend_with_cache_not_implemented_nan_mutation_and_unknown_mistakes():
    def stub(*args):
        raise NotImplementedError()

    def nan(*args):
        out, k, v = reference_cache(*args)
        return out * float("nan"), k, v

    def scales_in_place(q_t, k_t, v_t, cache_k, cache_v):
        q_t /= math.sqrt(q_t.shape[-1])                          # changes the caller's tensor
        k, v = torch.cat([cache_k, k_t], dim=-2), torch.cat([cache_v, v_t], dim=-2)
        return torch.softmax(q_t @ k.transpose(-2, -1), dim=-1) @ v, k, v

    def old_cache_returned(q_t, k_t, v_t, cache_k, cache_v):
        return reference_cache(q_t, k_t, v_t, cache_k, cache_v)[0], cache_k, cache_v

    def plus_one(*args):                                         # wrong in no known way
        out, k, v = reference_cache(*args)
        return out + 1, k, v

    _verdict(check_attend_with_cache(stub, verbose=False), "not-implemented", "⏳")
    _verdict(check_attend_with_cache(nan, verbose=False), "failed", "NaN")
    _verdict(check_attend_with_cache(scales_in_place, verbose=False), "failed", "argument #1 in place")
    _verdict(check_attend_with_cache(old_cache_returned, verbose=False), "failed", "output #2 has shape (1, 1, 2, 4)")
    assert "hint:" not in check_attend_with_cache(old_cache_returned, verbose=False).message
    _no_hint(check_attend_with_cache(plus_one, verbose=False))


# ----------------------------------------------------------------------------------------------
# grading: hidden cases, and the same hints from the judge
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, answer, n", [("decoder_masks", masks_loops, 8), ("cross_attention", cross_by_hand, 8),
                                             ("attend_with_cache", cache_by_hand, 7)])
def test_right_answers_pass_the_judge_hidden_cases_included(name, answer, n):
    verdict = judge(record(name, answer), name)
    assert verdict.passed and f"passed ({n} cases)" in verdict.message, verdict.message


@pytest.mark.parametrize("name, wrong, hint", [
    ("decoder_masks", masks_tril_minus_one, "may see itself"),
    ("cross_attention", cross_swapped, "queries come from the decoder"),
    ("cross_attention", cross_encoder_queries, "queries must come from the decoder"),
    ("attend_with_cache", cache_heads_axis, "dim -2"),
    ("attend_with_cache", cache_new_first, "go after the cached ones"),
])
def test_the_judge_names_the_same_mistakes(name, wrong, hint):
    verdict = judge(record(name, wrong), name)
    assert not verdict.passed and hint in verdict.message, verdict.message
