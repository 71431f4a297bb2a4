"""Beam search for any decoder that follows the ``init_state``/``step`` interface of
:mod:`utils.seq2seq` (the plain decoder of chapter 1, the attention decoders of chapters 4 and 5).

Greedy decoding keeps one partial output and extends it with its single most likely token.
Beam search keeps the ``beam_size`` partial outputs with the highest log-probability
``log p(y_1 … y_t | x) = Σ_t' log p(y_t' | y_<t', x)``; at each step it extends each of them by every
token and keeps the best ``beam_size`` of all the extensions (Sutskever et al. 2014 and Bahdanau
et al. 2015 both decode this way). A hypothesis that has produced ``<eos>`` is finished: it stays
in the beam with its score frozen, and competes with the unfinished ones until every hypothesis
of the example is finished or ``max_len`` is reached. With ``beam_size = 1`` it is greedy decoding.

Everything is batched: the ``B`` examples and their ``K`` hypotheses are ``B * K`` rows of one
decoder batch, and the decoder's state (a tensor or a tuple of tensors, batch first) is
reordered with ``index_select`` whenever hypotheses are extended or dropped.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["BeamResult", "beam_search", "select_state"]


class BeamResult(NamedTuple):
    """The outcome of :func:`beam_search`.

    Attributes:
        tokens: ``(B, T)`` the best hypothesis of each example, laid out like
            ``Seq2Seq.greedy_decode``'s output: it ends with ``<eos>`` and then ``<pad>``.
        scores: ``(B,)`` its log-probability (divided by ``length ** length_penalty``).
        weights: ``(B, T, S)`` its attention weights at every step, or None for a decoder
            without attention.
        hypotheses: ``(B, K, T)`` all ``K`` final hypotheses, best first.
        hypothesis_scores: ``(B, K)`` their scores, in decreasing order.
    """

    tokens: torch.Tensor
    scores: torch.Tensor
    weights: torch.Tensor | None
    hypotheses: torch.Tensor
    hypothesis_scores: torch.Tensor


def select_state(state, index: torch.Tensor):
    """Rows ``index`` of a decoder state: a tensor (batch first), or a (named) tuple of them."""
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple
        return type(state)(*(select_state(s, index) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(select_state(s, index) for s in state)
    if state is None:
        return None
    raise TypeError(f"cannot reorder a decoder state of type {type(state).__name__}")


@torch.no_grad()
def beam_search(model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int,
                beam_size: int = 4, length_penalty: float = 0.0) -> BeamResult:
    """Decode ``src`` with beam search.

    Args:
        model: a :class:`utils.seq2seq.Seq2Seq` (anything with ``encode``, ``decoder.step``,
            ``sos_id``, ``eos_id``, ``pad_id``).
        src: ``(B, S)`` source ids; ``src_lengths``: ``(B,)``.
        max_len: the most output tokens (``<eos>`` included).
        beam_size: ``K``, hypotheses kept per example (1 = greedy decoding).
        length_penalty: ``α``; finished hypotheses are ranked by ``log p / length ** α``
            (0: plain log-probability, which favours short outputs; 1: per-token average).

    Returns:
        A :class:`BeamResult`.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    was_training = model.training
    model.eval()
    enc_out, src_mask, state = model.encode(src, src_lengths)
    B, K, device = src.shape[0], beam_size, src.device
    # Every example's rows b*K … b*K+K-1 start as copies of its encoding.
    rows = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,)
    enc_out, src_mask, state = enc_out.index_select(0, rows), src_mask.index_select(0, rows), select_state(state, rows)
    scores = torch.zeros(B, K, device=device)
    scores[:, 1:] = float("-inf")  # only the first copy is alive at the start
    prev = torch.full((B * K,), model.sos_id, dtype=torch.long, device=device)
    done = torch.zeros(B * K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B * K, dtype=torch.long, device=device)  # tokens so far, <eos> included
    tokens = torch.empty(B * K, 0, dtype=torch.long, device=device)
    weights = None
    offsets = (torch.arange(B, device=device) * K).unsqueeze(1)  # (B, 1): first row of each example

    for _ in range(max_len):
        logits, state, w = model.decoder.step(prev, state, enc_out, src_mask)
        logp = torch.log_softmax(logits.float(), dim=-1)  # (B*K, V)
        V = logp.shape[-1]
        # A finished hypothesis may only be extended by <pad>, at no cost.
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, model.pad_id] = 0.0
        logp = torch.where(done.unsqueeze(1), frozen, logp)
        total = scores.view(B * K, 1) + logp  # (B*K, V)
        scores, flat = total.view(B, K * V).topk(K, dim=-1)  # best K extensions per example
        beam = flat // V  # which hypothesis each one extends: (B, K)
        token = flat % V  # with which token
        pick = (offsets + beam).view(-1)  # (B*K,) rows to keep
        state = select_state(state, pick)
        tokens = torch.cat([tokens.index_select(0, pick), token.view(-1, 1)], dim=1)
        if w is not None:
            w = w.index_select(0, pick).unsqueeze(1)  # (B*K, 1, S)
            weights = w if weights is None else torch.cat([weights.index_select(0, pick), w], dim=1)
        was_done = done.index_select(0, pick)
        lengths = lengths.index_select(0, pick) + (~was_done).long()
        # Finished: produced <eos>, or a dead extension (score -inf, when fewer than K exist).
        done = was_done | (token.view(-1) == model.eos_id) | torch.isinf(scores.view(-1))
        prev = token.view(-1)
        if bool(done.all()):
            break

    final = scores / lengths.view(B, K).clamp_min(1).float() ** length_penalty  # (B, K)
    final, order = final.sort(dim=-1, descending=True)
    pick = (offsets + order).view(-1)
    hypotheses = tokens.index_select(0, pick).view(B, K, -1)  # (B, K, T)
    best = offsets.view(-1) + order[:, 0]  # (B,)
    tokens_best = tokens.index_select(0, best)
    # Columns beyond the longest best hypothesis hold only <pad> (they come from worse ones).
    keep = int(lengths.index_select(0, best).max())
    model.train(was_training)
    return BeamResult(
        tokens=tokens_best[:, :keep],
        scores=final[:, 0],
        weights=None if weights is None else weights.index_select(0, best)[:, :keep],
        hypotheses=hypotheses,
        hypothesis_scores=final,
    )
