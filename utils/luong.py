"""Luong, Pham and Manning (2015): global and local attention, multiplicative scores, input feeding.

In the course's notation (batch first; :mod:`utils.seq2seq` has the encoder and the decoder
interface). Luong attends *after* the recurrent step, from the current state ``h_t``::

    h_t     = GRU(h_{t-1}, [E y_{t-1} ; h̃_{t-1}])     input feeding: the last attentional state goes in
    a_t(s)  = softmax_s(score(h_t, h̄_s))              h̄_s = enc_out[:, s], the source annotations
    c_t     = Σ_s a_t(s) h̄_s
    h̃_t     = tanh(W_c [c_t ; h_t])                    the attentional state
    p(y_t | y_<t, x) = softmax(W_s h̃_t)

Scores (:data:`SCORES`): ``dot`` ``h_tᵀ h̄_s``; ``general`` ``h_tᵀ W_a h̄_s``; ``concat``
``v_aᵀ tanh(W_a [h_t ; h̄_s])`` (the additive score of :mod:`utils.attention`, with ``W_a`` split
in two); ``location`` ``a_t = softmax(W_a h_t)``, which never looks at the source at all.

Windows (:data:`WINDOWS`): ``global`` attends to every source position; ``local-m`` only to
``[p_t − w, p_t + w]`` with ``p_t = t`` (monotonic); ``local-p`` predicts
``p_t = S · sigmoid(v_pᵀ tanh(W_p h_t))`` (``S`` the source length) and multiplies the weights
inside the window by ``exp(−(s − p_t)² / (2σ²))`` with ``σ = w/2``, *without* renormalising.
The window functions themselves are in :mod:`utils.local_attention`.
Positions are counted from 0 (``s = 0 … S−1``, decoder steps ``t = 0, 1, …``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from utils.attention import AdditiveScore, GeneralScore, attention_pool, masked_softmax
from utils.device import model_seed
from utils.local_attention import gaussian_factor, local_weights, predict_position
from utils.seq2seq import Encoder, Seq2Seq
from utils.validate import (
    require_choice,
    require_float,
    require_int,
    require_number,
    require_query_and_annotations,
    require_same_dtype,
    require_src_mask,
    require_tensor,
    require_token_ids,
)

__all__ = [
    "SCORES", "WINDOWS", "LuongAttention", "LuongAttentionOutput", "LuongState", "LuongDecoder",
    "build_luong_model", "teacher_forced_trace",
    "gaussian_factor",  # re-exported, not defined here: utils.widgets imports it from utils.luong
]

SCORES = ("dot", "general", "concat", "location")
WINDOWS = ("global", "local-m", "local-p")


# ----------------------------------------------------------------------------------------------
# The attention layer
# ----------------------------------------------------------------------------------------------
class LuongAttentionOutput(NamedTuple):
    context: torch.Tensor  # c_t (B, [T,] D)
    weights: torch.Tensor  # a_t (B, [T,] S)
    position: torch.Tensor | None  # p_t (B, [T]) for local attention, None for global


class LuongAttention(nn.Module):
    """Luong's attention from the current decoder state ``h_t`` to the annotations ``h̄_s``.

    Args:
        query_size: ``H``, the decoder state size.
        key_size: ``D``, the annotation size (must equal ``H`` for the dot score).
        score: one of :data:`SCORES`.
        window: one of :data:`WINDOWS`.
        w: the local window's half-width (ignored for ``global``).
        max_src_len: the longest source, needed by the ``location`` score (``W_a`` has one row
            per source position).
        attention_size: ``d_a`` for ``concat`` and ``d_p`` for local-p (default ``H``).
        gaussian: multiply by the Gaussian (default: yes for local-p, no otherwise).

    Raises:
        TypeError: sizes that are not ints, ``w`` not a number.
        ValueError: an unknown ``score`` or ``window``; sizes below 1; ``w`` negative (or 0 with
            a Gaussian window); the dot
            score with ``query_size != key_size``; the location score without ``max_src_len``.
            ``forward`` raises for inputs of the wrong shape, dtype or mask type.
    """

    def __init__(self, query_size: int, key_size: int, score: str = "general",
                 window: str = "global", w: float = 2, max_src_len: int | None = None,
                 attention_size: int | None = None, gaussian: bool | None = None) -> None:
        super().__init__()
        require_choice("score", score, SCORES)
        require_choice("window", window, WINDOWS)
        if score == "dot" and query_size != key_size:
            raise ValueError(f"the dot score needs query_size == key_size, got {query_size} and {key_size}")
        if score == "location" and not max_src_len:
            raise ValueError("the location score needs max_src_len (one row of W_a per source position)")
        require_int("query_size", query_size, minimum=1)
        require_int("key_size", key_size, minimum=1)
        require_number("w", w, low=0.0)
        if max_src_len is not None:
            require_int("max_src_len", max_src_len, minimum=1)
        self.query_size, self.key_size, self.score_name, self.window = query_size, key_size, score, window
        self.w = w
        self.gaussian = (window == "local-p") if gaussian is None else gaussian
        if self.gaussian and window != "global" and not w > 0:
            raise ValueError(f"a Gaussian window needs w > 0 (sigma = w/2), got w={w}")
        d_a = attention_size or query_size
        if score == "general":
            self.general = GeneralScore(query_size, key_size)  # W_a
        elif score == "concat":
            self.concat = AdditiveScore(query_size, key_size, d_a)  # W_a = [W_q, W_k], v_a = v
        elif score == "location":
            assert max_src_len is not None  # without one, the location score raised above
            self.max_src_len = max_src_len
            self.location = nn.Linear(query_size, max_src_len, bias=False)  # W_a
        if window == "local-p":
            self.W_p = nn.Linear(query_size, d_a, bias=False)
            self.v_p = nn.Linear(d_a, 1, bias=False)
            # v_p = 0: every window starts centred on the middle of its source (sigmoid(0) = 1/2),
            # far from sigmoid's flat ends, and moves from there as v_p learns. With PyTorch's
            # default init some seeds started, and stayed, with p_t far from the fields of a date.
            nn.init.zeros_(self.v_p.weight)

    def project_keys(self, enc_out: torch.Tensor) -> torch.Tensor:
        """The part of the score that does not depend on ``t``, once per sentence: ``W_a h̄_s``
        (general, ``(B, S, H)``), ``W_k h̄_s`` (concat, ``(B, S, d_a)``), ``h̄_s`` itself otherwise."""
        if self.score_name == "general":
            return self.general.W_a(enc_out)
        if self.score_name == "concat":
            return self.concat.project_keys(enc_out)
        return enc_out

    def scores(self, query: torch.Tensor, enc_out: torch.Tensor,
               keys: torch.Tensor | None = None) -> torch.Tensor:
        """``score(h_t, h̄_s)`` for ``query (B, T, H)`` -> ``(B, T, S)``."""
        keys = self.project_keys(enc_out) if keys is None else keys
        if self.score_name in ("dot", "general"):
            return query @ keys.transpose(-2, -1)  # (B, T, H) @ (B, H, S) -> (B, T, S)
        if self.score_name == "concat":
            return self.concat(query, projected_key=keys)
        S = enc_out.shape[1]
        if S > self.max_src_len:
            raise ValueError(f"the source has {S} positions but the location score was built for "
                             f"max_src_len={self.max_src_len}")
        return self.location(query)[..., :S]  # W_a h_t, one score per position: (B, T, S)

    def position(self, query: torch.Tensor, step: torch.Tensor | None,
                 src_lengths: torch.Tensor) -> torch.Tensor | None:
        """The window centres ``p_t (B, T)``: ``t`` for local-m, predicted for local-p."""
        if self.window == "global":
            return None
        if self.window == "local-m":
            if step is None:
                raise ValueError("local-m needs the decoder step t (step=)")
            return step.to(query.dtype).expand(query.shape[:-1])
        return predict_position(query, self.W_p.weight.T, self.v_p.weight[0], src_lengths)

    def forward(self, query: torch.Tensor, enc_out: torch.Tensor, src_mask: torch.Tensor | None = None,
                step: torch.Tensor | None = None, keys: torch.Tensor | None = None) -> LuongAttentionOutput:
        """Attend from ``h_t`` (``(B, H)`` or ``(B, T, H)``) to ``enc_out (B, S, D)``.

        Args:
            src_mask: ``(B, S)`` True at real tokens (None: all real).
            step: the decoder step ``t`` for local-m, ``(B,)`` or ``(B, T)``.
            keys: :meth:`project_keys` of ``enc_out``, if already computed.

        Returns:
            :class:`LuongAttentionOutput` ``(context, weights, position)`` with a ``T`` axis
            only if ``query`` had one.
        """
        B, S = require_query_and_annotations(query, enc_out, self.query_size, self.key_size)
        require_float("query", query)
        require_same_dtype(("query", query), ("enc_out", enc_out))
        require_src_mask(src_mask, B, S)
        if step is not None:
            require_tensor("step", step)
            if step.is_floating_point():
                raise TypeError(f"step must hold integer decoder steps, got dtype {step.dtype}")
        one_step = query.dim() == 2
        q = query.unsqueeze(1) if one_step else query  # (B, H) -> (B, 1, H)
        if step is not None and one_step:
            step = step.reshape(B, 1)
        scores = self.scores(q, enc_out, keys)  # (B, T, S)
        src_lengths = src_mask.sum(-1) if src_mask is not None else torch.full((B,), S, device=q.device)
        p = self.position(q, step, src_lengths)  # (B, T) or None
        if p is None:
            weights = masked_softmax(scores, None if src_mask is None else src_mask.unsqueeze(1))
        else:
            weights = local_weights(scores, p, self.w, src_mask, self.gaussian)
        context = attention_pool(weights, enc_out)  # (B, T, S) @ (B, S, D) -> (B, T, D)
        if one_step:
            return LuongAttentionOutput(context.squeeze(1), weights.squeeze(1),
                                        None if p is None else p.squeeze(1))
        return LuongAttentionOutput(context, weights, p)


# ----------------------------------------------------------------------------------------------
# The decoder, with input feeding
# ----------------------------------------------------------------------------------------------
class LuongState(NamedTuple):
    """What the decoder carries (batch first, so beam search can reorder it)."""

    hidden: torch.Tensor  # h_{t-1} (B, H)
    attentional: torch.Tensor  # h̃_{t-1} (B, H), zeros before the first step
    step: torch.Tensor  # t (B,), the index of the next output step
    keys: torch.Tensor  # LuongAttention.project_keys(enc_out), once per sentence
    position: torch.Tensor  # p_{t-1} (B,), the last window centre (NaN for global attention)


class LuongDecoder(nn.Module):
    """A GRU decoder that attends from its current state, with Luong's attentional state.

    Args:
        vocab_size: target vocabulary size ``V``.
        emb_dim: target embedding size ``E``.
        hidden_size: decoder state size ``H``.
        annotation_size: ``D``, the size of the annotations (``Encoder.output_size``).
        score, window, w, max_src_len, attention_size: see :class:`LuongAttention`.
        input_feeding: concatenate ``h̃_{t-1}`` to the input ``E y_{t-1}``.
        pad_id: target padding id.

    ``init_state(enc_out, enc_final (B, D), src_mask)`` sets ``h_0 = tanh(W_b enc_final)``;
    ``step(prev_token (B,), state, enc_out, src_mask) -> (logits (B, V), new state, weights (B, S))``.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, annotation_size: int,
                 score: str = "general", window: str = "global", w: float = 2,
                 max_src_len: int | None = None, attention_size: int | None = None,
                 input_feeding: bool = True, pad_id: int = 0) -> None:
        super().__init__()
        self.hidden_size, self.annotation_size, self.input_feeding = hidden_size, annotation_size, input_feeding
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.bridge = nn.Linear(annotation_size, hidden_size)  # W_b: enc_final -> h_0
        self.cell = nn.GRUCell(emb_dim + (hidden_size if input_feeding else 0), hidden_size)
        self.attention = LuongAttention(hidden_size, annotation_size, score, window, w,
                                        max_src_len, attention_size)
        self.combine = nn.Linear(annotation_size + hidden_size, hidden_size, bias=False)  # W_c
        self.out = nn.Linear(hidden_size, vocab_size)  # W_s

    def init_state(self, enc_out: torch.Tensor, enc_final, src_mask: torch.Tensor | None = None) -> LuongState:
        """``h_0 = tanh(W_b enc_final)``, ``h̃_0 = 0``, ``t = 0``, and the projected keys."""
        final = enc_final[0] if isinstance(enc_final, tuple) else enc_final  # (B, D)
        if final.shape[-1] != self.annotation_size:
            raise ValueError(f"enc_final has {final.shape[-1]} features but the decoder expects "
                             f"{self.annotation_size}")
        h0 = torch.tanh(self.bridge(final))  # (B, H)
        B = h0.shape[0]
        return LuongState(h0, torch.zeros_like(h0), torch.zeros(B, dtype=torch.long, device=h0.device),
                          self.attention.project_keys(enc_out),
                          torch.full((B,), float("nan"), device=h0.device))

    def attentional_state(self, context: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``h̃_t = tanh(W_c [c_t ; h_t])``."""
        return torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))

    def _step(self, embedded: torch.Tensor, state: LuongState, enc_out: torch.Tensor,
              src_mask: torch.Tensor | None):
        x = torch.cat([embedded, state.attentional], -1) if self.input_feeding else embedded
        hidden = self.cell(x, state.hidden)  # h_t (B, H): the recurrent step comes first
        att = self.attention(hidden, enc_out, src_mask, step=state.step, keys=state.keys)
        attentional = self.attentional_state(att.context, hidden)  # h̃_t (B, H)
        position = att.position if att.position is not None else state.position
        new = LuongState(hidden, attentional, state.step + 1, state.keys, position)
        return attentional, new, att.weights

    def step(self, prev_token: torch.Tensor, state: LuongState, enc_out: torch.Tensor,
             src_mask: torch.Tensor | None) -> tuple[torch.Tensor, LuongState, torch.Tensor]:
        """One output token: ``prev_token (B,)`` -> ``(logits (B, V), new state, weights (B, S))``.

        Raises:
            TypeError, ValueError: ``prev_token`` not ``(B,)`` ids in the vocabulary; see also
                :meth:`LuongAttention.forward`.
        """
        require_token_ids("prev_token", prev_token, self.embedding.num_embeddings, dim=1, shape="(B,) token ids")
        attentional, new, weights = self._step(self.embedding(prev_token), state, enc_out, src_mask)
        return self.out(attentional), new, weights

    def run(self, tgt_in: torch.Tensor, state: LuongState, enc_out: torch.Tensor,
            src_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced steps, also returning the window centres:
        ``(logits (B, T, V), weights (B, T, S), positions (B, T))`` (NaN positions for global:
        global attention has no window centre).

        Raises:
            TypeError, ValueError: ``tgt_in`` not ``(B, T)`` ids in the vocabulary; see also
                :meth:`LuongAttention.forward`.
        """
        require_token_ids("tgt_in", tgt_in, self.embedding.num_embeddings, dim=2, shape="(B, T) token ids")
        embedded = self.embedding(tgt_in)  # (B, T, E)
        outs, weights, positions = [], [], []
        for t in range(tgt_in.shape[1]):  # input feeding makes every step wait for the last
            attentional, state, w = self._step(embedded[:, t], state, enc_out, src_mask)
            outs.append(attentional)
            weights.append(w)
            positions.append(state.position)
        return self.out(torch.stack(outs, 1)), torch.stack(weights, 1), torch.stack(positions, 1)

    def teacher_forced(self, tgt_in: torch.Tensor, state: LuongState, enc_out: torch.Tensor,
                       src_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``T`` steps when every input is known: ``(logits (B, T, V), weights (B, T, S))``."""
        logits, weights, _ = self.run(tgt_in, state, enc_out, src_mask)
        return logits, weights


def build_luong_model(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_size: int,
                      score: str = "general", window: str = "global", w: float = 2,
                      max_src_len: int | None = None, input_feeding: bool = True, seed: int = 0,
                      sos_id: int = 1, eos_id: int = 2, pad_id: int = 0):
    """A bidirectional GRU encoder (``hidden_size`` per direction, annotations ``2·hidden_size``)
    and a :class:`LuongDecoder` with state ``2·hidden_size`` (so every score, dot included,
    fits), joined by :class:`utils.seq2seq.Seq2Seq`, initialised from
    ``torch.manual_seed(model_seed(seed))`` (see :func:`utils.device.model_seed`)."""
    torch.manual_seed(model_seed(seed))
    encoder = Encoder(src_vocab_size, emb_dim, hidden_size, cell="gru", bidirectional=True, pad_id=pad_id)
    decoder = LuongDecoder(tgt_vocab_size, emb_dim, encoder.output_size, encoder.output_size, score,
                           window, w, max_src_len, input_feeding=input_feeding, pad_id=pad_id)
    return Seq2Seq(encoder, decoder, sos_id, eos_id, pad_id)


@torch.no_grad()
def teacher_forced_trace(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights ``(B, T, S)`` and window centres ``p_t (B, T)`` of a Luong model fed the true
    previous tokens of ``batch`` (a :class:`utils.data.Batch` on the model's device)."""
    was_training = model.training
    model.eval()
    enc_out, src_mask, state = model.encode(batch.src, batch.src_lengths)
    _, weights, positions = model.decoder.run(batch.tgt_in, state, enc_out, src_mask)
    model.train(was_training)
    return weights, positions
