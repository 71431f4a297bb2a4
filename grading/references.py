"""The instructors' answers to every graded exercise: reference implementations, and the course's
own names that an answer must not use (:data:`ANSWERS`, one row per exercise of
:data:`utils.checks.exercises.EXERCISES`).

The checkers in :mod:`utils.checks` use these only where they are installed
(:func:`utils.checks.core.use_references`): in the grader's process, in the course's tests, and
in ``tools/grade.py expected``, which stores their answers on the visible cases in
``utils/checks/expected.json`` for learners' copies of the course.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from utils.attention import attend, masked_softmax, scaled_dot_product_attention
from utils.bahdanau import BahdanauState
from utils.efficient_attention import online_softmax_merge, sliding_window_mask
from utils.glimpse import reinforce_loss, soft_glimpse
from utils.linear_attention import linear_attention_step
from utils.local_attention import local_weights, predict_position
from utils.luong import LuongState
from utils.masks import causal_mask, length_mask
from utils.positional import sinusoidal_positional_encoding
from utils.seq2seq_training import position_error_rates, sequence_loss


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


# ---------------------------------------------------------------- the answers, one row per exercise
@dataclass(frozen=True)
class Answer:
    """What the instructors hold for one exercise of :data:`utils.checks.exercises.EXERCISES`.

    ``references``: the reference functions its checker asks for, by the name it asks
    (:func:`utils.checks.core.use_references`): usually the exercise's own name; two parts for
    ``split_merge_heads``; none for ``hard_glimpse``, a sampler whose cases carry their own answers
    (a chi-square test of the draws). ``own``: the course's names in ``utils/`` that *are* the
    answer: an answer that imports or runs one of them is the course's implementation, not the
    learner's (:mod:`grading.audit` reads the source, :mod:`grading.judge` what ran). Empty where
    ``utils/`` has no counterpart."""

    references: dict[str, Callable] = field(default_factory=dict)
    own: frozenset[str] = frozenset()


ANSWERS: dict[str, Answer] = {
    # chapter 1 (context_budget is plain arithmetic: utils/ has no counterpart)
    "context_budget": Answer({"context_budget": context_budget}),
    "masked_cross_entropy": Answer({"masked_cross_entropy": sequence_loss}, frozenset({"sequence_loss"})),
    "decode_loop": Answer({"decode_loop": decode_loop}, frozenset({"teacher_forced"})),
    "position_error_rates": Answer({"position_error_rates": position_error_rates}, frozenset({"position_error_rates"})),
    # chapter 2
    "additive_score": Answer({"additive_score": additive_score}, frozenset({"AdditiveScore"})),
    "masked_softmax": Answer({"masked_softmax": masked_softmax}, frozenset({"masked_softmax", "_masked_softmax"})),
    "attend": Answer({"attend": attend}, frozenset({"attend"})),
    # chapter 3
    "soft_glimpse": Answer({"soft_glimpse": soft_glimpse}, frozenset({"soft_glimpse", "SoftAttention"})),
    "hard_glimpse": Answer({}, frozenset({"hard_glimpse", "HardAttention"})),
    "reinforce_surrogate": Answer({"reinforce_surrogate": reinforce_loss}, frozenset({"reinforce_loss"})),
    # chapter 4; masked_softmax is chapter 2's exercise, which chapter 4's text invites the learner
    # to reuse, while attend does the whole of attend_source (mask, softmax, weighted sum) in one call
    "alignment_scores": Answer({"alignment_scores": alignment_scores}, frozenset({"AdditiveScore", "AdditiveAttention"})),
    "attend_source": Answer({"attend_source": attend_source}, frozenset({"attend"})),
    "decoder_step": Answer({"decoder_step": decoder_step}, frozenset({"step"})),
    # chapter 5
    "general_score": Answer({"general_score": general_score}, frozenset({"GeneralScore", "LuongAttention"})),
    "luong_step": Answer({"luong_step": luong_step}, frozenset({"step"})),
    "local_p": Answer({"local_p": local_p}, frozenset({"local_weights", "predict_position", "LuongAttention"})),
    # chapter 6
    "causal_attention": Answer({"causal_attention": causal_attention},
                               frozenset({"scaled_dot_product_attention", "causal_mask"})),
    "split_merge_heads": Answer({"split_heads": split_heads, "merge_heads": merge_heads},
                                frozenset({"_split_heads", "_merge_heads"})),
    "sinusoidal_encoding": Answer({"sinusoidal_encoding": sinusoidal_positional_encoding},
                                  frozenset({"sinusoidal_positional_encoding", "SinusoidalPositionalEncoding"})),
    # chapter 7
    "decoder_masks": Answer({"decoder_masks": decoder_masks}, frozenset({"causal_mask", "length_mask"})),
    "cross_attention": Answer({"cross_attention": cross_attention}, frozenset({"scaled_dot_product_attention", "attend_kv"})),
    "attend_with_cache": Answer({"attend_with_cache": attend_with_cache},
                                frozenset({"scaled_dot_product_attention", "attend_kv", "forward_cached"})),
    # chapter 8; chapter 5's window mask centred on t is the band's non-causal twin: most of the exercise
    "online_softmax_merge": Answer({"online_softmax_merge": online_softmax_merge}, frozenset({"online_softmax_merge"})),
    "sliding_window_mask": Answer({"sliding_window_mask": sliding_window_mask},
                                  frozenset({"sliding_window_mask", "_band", "window_mask", "_window_mask"})),
    "linear_attention_step": Answer({"linear_attention_step": linear_attention_step}, frozenset({"linear_attention_step"})),
}

# Derived: the reference functions by the name a checker asks for, and the own-implementation names
# by exercise (what grading.audit and grading.judge read).
REFERENCES: dict[str, Callable] = {key: fn for answer in ANSWERS.values() for key, fn in answer.references.items()}
OWN_IMPLEMENTATION: dict[str, set[str]] = {name: set(answer.own) for name, answer in ANSWERS.items() if answer.own}
