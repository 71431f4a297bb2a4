"""Reference implementations of every graded exercise, by checker name.

The checkers in :mod:`utils.checks` use these only where they are installed
(:func:`utils.checks.core.use_references`): in the grader's process, in the course's tests, and
in ``tools/grading.py expected``, which stores their answers on the visible cases in
``utils/checks/expected.json`` for learners' copies of the course.
"""

from __future__ import annotations

import math

import torch

from utils.attention import attend, masked_softmax, scaled_dot_product_attention
from utils.bahdanau import BahdanauState
from utils.efficient_attention import online_softmax_merge, sliding_window_mask
from utils.glimpse import reinforce_loss, soft_glimpse
from utils.linear_attention import linear_attention_step
from utils.luong import LuongState, local_weights, predict_position
from utils.positional import sinusoidal_positional_encoding
from utils.seq2seq import length_mask
from utils.training import position_error_rates, sequence_loss
from utils.transformer import causal_mask


# ---------------------------------------------------------------- chapter 1
def context_budget(lengths: torch.Tensor, hidden_size: int, n_symbols: int):
    """``(numbers per source token, bits per context number)``: ``H / S`` and ``S log2(n) / H``."""
    s = lengths.double()
    return hidden_size / s, s * math.log2(n_symbols) / hidden_size


def decode_loop(decoder, state, enc_out, src_mask, tgt_in, teacher_forcing):
    """Call ``decoder.step`` ``T`` times, feeding ``tgt_in[:, t]`` or the previous argmax."""
    T = tgt_in.shape[1]
    prev, logits = tgt_in[:, 0], []
    for t in range(T):
        step_logits, state, _ = decoder.step(prev, state, enc_out, src_mask)
        logits.append(step_logits)
        if t + 1 < T:
            prev = tgt_in[:, t + 1] if teacher_forcing else step_logits.argmax(-1)
    return torch.stack(logits, dim=1)


# ---------------------------------------------------------------- chapter 2
def additive_score(query, key, W_q, W_k, v):
    """``e_{t,j} = vᵀ tanh(q_t W_q + k_j W_k)`` -> ``(B, T_q, T_k)``."""
    return torch.tanh((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1)) @ v


# ---------------------------------------------------------------- chapter 4
def alignment_scores(s_prev, projected_keys, W_a, v):
    """``vᵀ tanh(W_a s_{t-1} + U_a h_j)`` -> ``(B, S)``."""
    return torch.tanh((s_prev @ W_a).unsqueeze(1) + projected_keys) @ v


def attend_source(scores, annotations, src_lengths):
    """``(context (B, D), weights (B, S))`` with exactly zero weight on padded positions."""
    S = scores.shape[1]
    mask = torch.arange(S, device=scores.device).unsqueeze(0) < src_lengths.unsqueeze(1)
    context, weights = attend(scores.unsqueeze(1), annotations, mask.unsqueeze(1))
    return context.squeeze(1), weights.squeeze(1)


def decoder_step(prev_token, s_prev, enc_out, keys, mask):
    """:meth:`BahdanauDecoder.step` of the checker's decoder -> ``(logits, s_t, weights)``."""
    from utils.checks.bahdanau import checker_decoder

    logits, state, weights = checker_decoder().step(prev_token, BahdanauState(s_prev, keys), enc_out, mask)
    return logits, state.hidden, weights


# ---------------------------------------------------------------- chapter 5
def general_score(h_t, enc_out, W_a):
    """``h_tᵀ W_a h̄_s`` -> ``(B, S)``."""
    return (enc_out @ (h_t @ W_a).unsqueeze(-1)).squeeze(-1)


def local_p(scores, h_t, W_p, v_p, src_lengths, w):
    """local-p: ``p_t = S sigmoid(v_pᵀ tanh(W_p h_t))``, window ``[p_t - w, p_t + w]``, Gaussian."""
    p = predict_position(h_t, W_p, v_p, src_lengths)
    S = scores.shape[1]
    mask = torch.arange(S, device=scores.device).unsqueeze(0) < src_lengths.unsqueeze(1)
    weights = local_weights(scores.unsqueeze(1), p.unsqueeze(1), w, mask, gaussian=True)
    return weights.squeeze(1), p


def luong_step(prev_token, h_prev, h_tilde_prev, enc_out, src_mask):
    """:meth:`LuongDecoder.step` of the checker's decoder -> ``(logits, h_t, h̃_t, weights)``."""
    from utils.checks.luong import checker_luong_decoder

    decoder = checker_luong_decoder()
    B = prev_token.shape[0]
    state = LuongState(h_prev, h_tilde_prev, torch.zeros(B, dtype=torch.long),
                       decoder.attention.project_keys(enc_out), torch.full((B,), float("nan")))
    logits, new, weights = decoder.step(prev_token, state, enc_out, src_mask)
    return logits, new.hidden, new.attentional, weights


# ---------------------------------------------------------------- chapter 6
def causal_attention(query, key, value):
    """``softmax(Q Kᵀ / √d_k + causal) V`` -> ``(output, weights)``."""
    return scaled_dot_product_attention(query, key, value, is_causal=True)


def split_heads(x, num_heads):
    """``(B, T, H*d) -> (B, H, T, d)``."""
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).permute(0, 2, 1, 3)


def merge_heads(x):
    """``(B, H, T, d) -> (B, T, H*d)``."""
    B, H, T, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(B, T, H * d)


# ---------------------------------------------------------------- chapter 7
def decoder_masks(tgt_len, src_lengths, S):
    """``(self_mask (T, T), cross_mask (B, T, S))``, True = may attend: ``j <= t`` and ``j < src_lengths[b]``."""
    cross = length_mask(src_lengths, S).unsqueeze(1)  # (B, S) -> (B, 1, S)
    return causal_mask(tgt_len), cross.expand(-1, tgt_len, -1)  # -> (B, T, S)


def cross_attention(dec, enc, src_mask, W_q, W_k, W_v):
    """``softmax(dec W_q (enc W_k)ᵀ / √d_k, zero at padding) enc W_v`` -> ``(output (B, T, d_v), weights (B, T, S))``."""
    return scaled_dot_product_attention(dec @ W_q, enc @ W_k, enc @ W_v, attn_mask=src_mask.unsqueeze(1))


def attend_with_cache(q_t, k_t, v_t, cache_k, cache_v):
    """Append ``k_t``, ``v_t`` to the cache (time axis, dim -2), attend from ``q_t`` over all of it ->
    ``(output (B, H, 1, d), new_cache_k, new_cache_v (B, H, t+1, d))``."""
    k, v = torch.cat([cache_k, k_t], dim=-2), torch.cat([cache_v, v_t], dim=-2)
    return scaled_dot_product_attention(q_t, k, v)[0], k, v


REFERENCES = {
    "context_budget": context_budget,
    "masked_cross_entropy": sequence_loss,
    "decode_loop": decode_loop,
    "position_error_rates": position_error_rates,
    "additive_score": additive_score,
    "masked_softmax": masked_softmax,
    "attend": attend,
    "soft_glimpse": soft_glimpse,
    "reinforce_surrogate": reinforce_loss,
    "alignment_scores": alignment_scores,
    "attend_source": attend_source,
    "decoder_step": decoder_step,
    "general_score": general_score,
    "local_p": local_p,
    "luong_step": luong_step,
    "causal_attention": causal_attention,
    "split_heads": split_heads,
    "merge_heads": merge_heads,
    "sinusoidal_encoding": sinusoidal_positional_encoding,
    "decoder_masks": decoder_masks,
    "cross_attention": cross_attention,
    "attend_with_cache": attend_with_cache,
    "online_softmax_merge": online_softmax_merge,
    "sliding_window_mask": sliding_window_mask,
    "linear_attention_step": linear_attention_step,
}
