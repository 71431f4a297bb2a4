"""Checkers name the misconception: a typical wrong answer, written as a learner would write it,
gets a verdict that ends with the hint for that mistake (the claims of instructors.md)."""

import math

import pytest
import torch

from utils.checks.attention import check_masked_softmax
from utils.checks.bahdanau import check_attend_source
from utils.checks.luong import check_local_p
from utils.checks.self_attention import check_causal_attention, check_split_merge_heads
from utils.checks.seq2seq import check_masked_cross_entropy
from utils.checks.transformer import check_attend_with_cache, check_cross_attention, check_decoder_masks


def softmax_dim_minus_2(scores, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-2)


def softmax_mask_true_hidden(scores, mask=None):
    if mask is not None:
        scores = scores.masked_fill(mask, -1e9)
    return torch.softmax(scores, dim=-1)


def softmax_nan_rows(scores, mask=None):
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return torch.softmax(scores, dim=-1)


def softmax_times_mask(scores, mask=None):
    w = torch.softmax(scores, dim=-1)
    return w if mask is None else w * mask.float()


def causal_tril_minus_one(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.tril(torch.ones(T, T), diagonal=-1) == 0, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def causal_unscaled(q, k, v):
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def causal_triu(q, k, v):
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
        torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def causal_softmax_over_queries(q, k, v):
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
        ~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    w = torch.softmax(scores, dim=-2)
    return w @ v, w


def split_over_positions(x, num_heads):
    B, T, E = x.shape
    return x.view(B, num_heads, T, E // num_heads)


def merge_ok(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d)


def local_p_round(scores, h_t, W_p, v_p, src_lengths, D):
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    centre = torch.round(p).unsqueeze(1)
    allowed = ((s - centre).abs() <= D) & (s < src_lengths.unsqueeze(1))
    w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    return w * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2)), p


def local_p_sigma_d(scores, h_t, W_p, v_p, src_lengths, D):
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    return w * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * D ** 2)), p


def attend_source_batch_axis(scores, annotations, src_lengths):
    mask = torch.arange(scores.shape[1]).unsqueeze(0) < src_lengths.unsqueeze(1)
    w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0)
    return (w.unsqueeze(-1) * annotations).sum(1), w


def ce_with_padding(logits, targets, pad_id):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def ce_without_log_softmax(logits, targets, pad_id):
    real = targets != pad_id
    return -logits.gather(2, targets.unsqueeze(2)).squeeze(2)[real].mean()


def ce_mean_of_means(logits, targets, pad_id):
    nll = -torch.log_softmax(logits, -1).gather(2, targets.unsqueeze(2)).squeeze(2)
    real = (targets != pad_id).float()
    return ((nll * real).sum(1) / real.sum(1)).mean()


def attend_source_no_mask(scores, annotations, src_lengths):
    w = torch.softmax(scores, dim=-1)
    return (w.unsqueeze(-1) * annotations).sum(1), w


def attend_source_inverted(scores, annotations, src_lengths):
    mask = torch.arange(scores.shape[1]).unsqueeze(0) >= src_lengths.unsqueeze(1)
    w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (w.unsqueeze(-1) * annotations).sum(1), w


def local_p_no_gaussian(scores, h_t, W_p, v_p, src_lengths, D):
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    allowed = ((s - p.unsqueeze(1)).abs() <= D) & (s < src_lengths.unsqueeze(1))
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1), p


def local_p_whole_source(scores, h_t, W_p, v_p, src_lengths, D):
    p = src_lengths.float() * torch.sigmoid(torch.tanh(h_t @ W_p) @ v_p)
    s = torch.arange(scores.shape[1]).unsqueeze(0)
    w = torch.softmax(scores.masked_fill(s >= src_lengths.unsqueeze(1), float("-inf")), -1)
    window = ((s - p.unsqueeze(1)).abs() <= D).float()
    return w * window * torch.exp(-((s - p.unsqueeze(1)) ** 2) / (2 * (D / 2) ** 2)), p


def causal_no_mask(q, k, v):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return w @ v, w


def masks_see_next_token(tgt_len, src_lengths, S):
    self_mask = torch.tril(torch.ones(tgt_len, tgt_len), diagonal=1).bool()
    cross_mask = (torch.arange(S)[None, :] < src_lengths[:, None]).unsqueeze(1).expand(-1, tgt_len, -1)
    return self_mask, cross_mask


def masks_multihead_convention(tgt_len, src_lengths, S):
    self_mask = torch.triu(torch.ones(tgt_len, tgt_len, dtype=torch.bool), diagonal=1)
    cross_mask = (torch.arange(S)[None, :] >= src_lengths[:, None]).unsqueeze(1).repeat(1, tgt_len, 1)
    return self_mask, cross_mask


def masks_forgot_padding(tgt_len, src_lengths, S):
    return torch.ones(tgt_len, tgt_len, dtype=torch.bool).tril(), torch.ones(len(src_lengths), tgt_len, S).bool()


def cross_queries_from_encoder(dec, enc, src_mask, W_q, W_k, W_v):
    q, k, v = enc @ W_q, dec @ W_k, dec @ W_v
    scores = (q @ k.transpose(1, 2) / math.sqrt(k.shape[-1])).masked_fill(~src_mask.unsqueeze(1), float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def cross_unmasked(dec, enc, src_mask, W_q, W_k, W_v):
    q, k, v = dec @ W_q, enc @ W_k, enc @ W_v
    w = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(k.shape[-1]), dim=-1)
    return w @ v, w


def cache_cat_heads(q_t, k_t, v_t, cache_k, cache_v):
    k, v = torch.cat([cache_k, k_t], dim=1), torch.cat([cache_v, v_t], dim=1)
    w = torch.softmax(q_t @ k.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return w @ v, k, v


def cache_old_keys_only(q_t, k_t, v_t, cache_k, cache_v):
    w = torch.softmax(q_t @ cache_k.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return w @ cache_v, torch.cat([cache_k, k_t], dim=-2), torch.cat([cache_v, v_t], dim=-2)


CASES = [
    (check_masked_softmax, softmax_dim_minus_2, "wrong axis"),
    (check_masked_softmax, softmax_mask_true_hidden, "wrong way round"),
    (check_masked_softmax, softmax_nan_rows, "0/0 = NaN"),
    (check_masked_softmax, softmax_times_mask, "after the softmax"),
    (check_causal_attention, causal_tril_minus_one, "tril(-1)"),
    (check_causal_attention, causal_unscaled, "√d_k"),
    (check_causal_attention, causal_triu, "wrong way round"),
    (check_causal_attention, causal_softmax_over_queries, "over the queries"),
    (check_local_p, local_p_round, "round(p_t)"),
    (check_local_p, local_p_sigma_d, "σ = w/2"),
    (check_attend_source, attend_source_batch_axis, "over the batch"),
    (check_masked_cross_entropy, ce_with_padding, "padded positions are averaged"),
    (check_masked_cross_entropy, ce_without_log_softmax, "log_softmax"),
    (check_masked_cross_entropy, ce_mean_of_means, "mean of each sentence's mean"),
    (check_attend_source, attend_source_no_mask, "padded positions get weight"),
    (check_attend_source, attend_source_inverted, "wrong way round"),
    (check_local_p, local_p_no_gaussian, "exp(-(s - p_t)²"),
    (check_local_p, local_p_whole_source, "whole source"),
    (check_causal_attention, causal_no_mask, "no mask at all"),
    (check_decoder_masks, masks_see_next_token, "not tril(1)"),
    (check_decoder_masks, masks_multihead_convention, "wrong way round"),
    (check_decoder_masks, masks_forgot_padding, "padding is forgotten"),
    (check_cross_attention, cross_queries_from_encoder, "queries come from the decoder"),
    (check_cross_attention, cross_unmasked, "padded source positions get weight"),
    (check_attend_with_cache, cache_cat_heads, "time axis, dim -2"),
    (check_attend_with_cache, cache_old_keys_only, "attends to itself too"),
]


@pytest.mark.parametrize("check, wrong, hint", CASES, ids=lambda x: getattr(x, "__name__", str(x)))
def test_the_mistake_is_named(check, wrong, hint):
    result = check(wrong, verbose=False)
    assert result.status == "failed" and "hint:" in result.message and hint in result.message, result.message


def test_heads_split_over_positions_is_named():
    result = check_split_merge_heads(split_over_positions, merge_ok, verbose=False)
    assert result.status == "failed" and "not the positions" in result.message, result.message


def test_a_hint_is_only_given_for_its_mistake():
    def softmax_plus_one(scores, mask=None):   # wrong, but in no known way
        return torch.softmax(scores, dim=-1) + 1
    result = check_masked_softmax(softmax_plus_one, verbose=False)
    assert result.status == "failed" and "hint:" not in result.message
