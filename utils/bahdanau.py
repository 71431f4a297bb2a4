"""The attention decoder of Bahdanau, Cho and Bengio (2015): learning to align and translate.

In the course's notation (batch first; see :mod:`utils.seq2seq` for the encoder and the decoder
interface), with a bidirectional encoder whose annotations are ``h_j = [→h_j ; ←h_j]``::

    e_{t,j} = v_aᵀ tanh(W_a s_{t-1} + U_a h_j)       alignment model, query = the state *before* step t
    α_{t,j} = softmax_j(e_{t,j})                       padded source positions get exactly 0
    c_t     = Σ_j α_{t,j} h_j                          context
    s_t     = GRU(s_{t-1}, [E y_{t-1} ; c_t])          the context enters every gate
    p(y_t | y_<t, x) = softmax(W_o maxout(U_o s_t + V_o E y_{t-1} + C_o c_t))
    s_0     = tanh(W_s ←h_1)                           from the backward state at the first word

``U_a h_j`` does not depend on ``t``: :class:`BahdanauDecoder` computes it once per source
sentence in :meth:`~BahdanauDecoder.init_state` and carries it in the state, so each step only
adds ``W_a s_{t-1}`` to it. :class:`BahdanauDecoder` follows the ``init_state``/``step``
interface of :mod:`utils.seq2seq`, so :class:`utils.seq2seq.Seq2Seq`, its greedy decoding,
:func:`utils.beam.beam_search` and the training and evaluation helpers all work with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import torch
from torch import nn

from utils.attention import AdditiveScore, attend
from utils.device import model_seed
from utils.seq2seq import Encoder, Seq2Seq
from utils.validate import require_finite, require_float, require_query_and_annotations, require_src_mask, require_tensor, require_token_ids

__all__ = ["AdditiveAttention", "BahdanauState", "BahdanauDecoder", "build_bahdanau_model",
           "alignment_accuracy", "DecodeTrace", "decode_trace"]


class AdditiveAttention(nn.Module):
    """Bahdanau's alignment model, its softmax over the source, and the context vector.

    Reuses :class:`utils.attention.AdditiveScore` (``W_q`` is the paper's ``W_a``, ``W_k`` its
    ``U_a``, ``v`` its ``v_a``) and :func:`utils.attention.attend` (masked softmax, weighted sum).
    ``score.W_q.weight`` is ``(d_a, H)``, the paper's ``W_a`` itself; chapter 4's exercise 1 takes
    its transpose ``(H, d_a)``, so that ``s_prev @ W_a`` computes ``W_a s_{t-1}`` row by row.

    Args:
        query_size: the decoder state size ``H``.
        key_size: the annotation size ``D`` (``2H_enc`` for a bidirectional encoder).
        hidden_size: ``d_a``, the size of the attention unit ``tanh(W_a s + U_a h)``.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.score = AdditiveScore(query_size, key_size, hidden_size)

    def project_keys(self, enc_out: torch.Tensor) -> torch.Tensor:
        """``U_a h_j`` for every annotation: ``(B, S, D) -> (B, S, d_a)``, once per sentence."""
        return self.score.project_keys(enc_out)

    def forward(self, query: torch.Tensor, enc_out: torch.Tensor,
                src_mask: torch.Tensor | None = None,
                projected_keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from the decoder state(s) to the annotations.

        Args:
            query: ``s_{t-1}``, ``(B, H)`` for one step or ``(B, T, H)`` for several.
            enc_out: the annotations ``h_j``, ``(B, S, D)``.
            src_mask: ``(B, S)`` bool, True at real source tokens (None: all real).
            projected_keys: ``U_a h_j`` from :meth:`project_keys`, ``(B, S, d_a)``; computed
                here if None.

        Returns:
            ``(context, weights)``: ``(B, D)`` and ``(B, S)`` for a ``(B, H)`` query, or
            ``(B, T, D)`` and ``(B, T, S)`` for a ``(B, T, H)`` one.

        Raises:
            TypeError: inputs that are not floating-point tensors of one dtype; a ``src_mask``
                that is not bool (True = a real token).
            ValueError: shapes that do not fit (``B``, ``S``, ``H``, ``D``, ``d_a``).
        """
        B, S = require_query_and_annotations(query, enc_out)
        require_float("enc_out", enc_out)
        require_src_mask(src_mask, B, S)
        if projected_keys is None:
            projected_keys = self.project_keys(enc_out)
        one_step = query.dim() == 2
        q = query.unsqueeze(1) if one_step else query  # (B, H) -> (B, 1, H)
        scores = self.score(q, projected_key=projected_keys)  # e: (B, T, S)
        mask = None if src_mask is None else src_mask.unsqueeze(1)  # (B, S) -> (B, 1, S)
        context, weights = attend(scores, enc_out, mask)  # (B, T, D), (B, T, S)
        if one_step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def _step_unchecked(self, query: torch.Tensor, enc_out: torch.Tensor, blocked: torch.Tensor | None,
                        projected_keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` for one ``(B, H)`` query, without its checks and their per-step
        synchronisations: the same operations, so bit for bit the same numbers and gradients.

        Only for inputs :meth:`forward` has already accepted, with finite ``enc_out`` and at least
        one real token in every row (the cases :func:`utils.attention.attend` otherwise handles:
        a NaN at a padded position, an all-padding row). ``blocked`` is ``~src_mask`` as
        ``(B, 1, S)``, or None. NaN scores are not caught here: the caller checks the weights.
        """
        scores = self.score.v(self.score._units(query.unsqueeze(1), projected_keys)).squeeze(-1)  # (B, 1, S)
        if blocked is not None:
            scores = scores.masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, 1, S)
        context = weights @ enc_out  # (B, 1, S) @ (B, S, D) -> (B, 1, D)
        return context.squeeze(1), weights.squeeze(1)


class BahdanauState(NamedTuple):
    """What the decoder carries from step to step (batch first, so beam search can reorder it)."""

    hidden: torch.Tensor  # s_{t-1} (B, H)
    keys: torch.Tensor  # U_a h_j (B, S, d_a), computed once per sentence


class BahdanauDecoder(nn.Module):
    """The RNNsearch decoder: a GRU that re-reads the source through attention at every step.

    Args:
        vocab_size: target vocabulary size ``V``.
        emb_dim: target embedding size ``E``.
        hidden_size: decoder state size ``H``.
        annotation_size: ``D``, the size of the annotations ``h_j`` (``Encoder.output_size``; the
            encoder must be bidirectional, since ``s_0`` is made from the backward half).
        attention_size: ``d_a`` (default ``H``).
        readout_size: size of the maxout layer before the output (default ``H``).
        pad_id: target padding id.

    Shapes: ``init_state(enc_out (B, S, D), enc_final, src_mask (B, S)) -> BahdanauState`` and
    ``step(prev_token (B,), state, enc_out, src_mask) -> (logits (B, V), new state,
    weights (B, S))``; ``teacher_forced`` runs every step when all inputs are known.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, annotation_size: int,
                 attention_size: int | None = None, readout_size: int | None = None,
                 pad_id: int = 0) -> None:
        super().__init__()
        if annotation_size % 2:
            raise ValueError(f"annotation_size must be even ([→h_j ; ←h_j]), got {annotation_size}")
        self.hidden_size, self.annotation_size = hidden_size, annotation_size
        readout_size = readout_size or hidden_size
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)  # E
        self.attention = AdditiveAttention(hidden_size, annotation_size, attention_size or hidden_size)
        self.init_layer = nn.Linear(annotation_size // 2, hidden_size)  # W_s
        self.cell = nn.GRUCell(emb_dim + annotation_size, hidden_size)  # f
        self.readout = nn.Linear(hidden_size + annotation_size + emb_dim, 2 * readout_size)  # U_o, C_o, V_o
        self.out = nn.Linear(readout_size, vocab_size)  # W_o

    def init_state(self, enc_out: torch.Tensor, enc_final=None,
                   src_mask: torch.Tensor | None = None) -> BahdanauState:
        """``s_0 = tanh(W_s ←h_1)`` and the projected keys ``U_a h_j``, once per sentence.

        ``←h_1`` is the backward half of the first annotation: the backward RNN's state after
        reading the whole source from the end to the first word. ``enc_final`` is not needed.

        Raises:
            TypeError: ``enc_out`` not a floating-point tensor.
            ValueError: ``enc_out`` not ``(B, S, D)`` with ``S >= 1``.
        """
        require_tensor("enc_out", enc_out)
        if enc_out.dim() != 3 or enc_out.shape[-1] != self.annotation_size:
            raise ValueError(f"enc_out must be (B, S, {self.annotation_size}), got shape "
                             f"{tuple(enc_out.shape)}")
        require_float("enc_out", enc_out)
        if enc_out.shape[1] == 0:
            raise ValueError(f"enc_out has no source positions (shape {tuple(enc_out.shape)})")
        backward_first = enc_out[:, 0, self.annotation_size // 2:]  # ←h_1: (B, D/2)
        s0 = torch.tanh(self.init_layer(backward_first))  # (B, H)
        return BahdanauState(s0, self.attention.project_keys(enc_out))

    def output(self, hidden: torch.Tensor, context: torch.Tensor,
               embedded: torch.Tensor) -> torch.Tensor:
        """Logits from ``s_t``, ``c_t`` and ``E y_{t-1}`` (any leading shape, e.g. (B,) or (B, T)).

        A maxout layer of pool size 2 over ``U_o s_t + C_o c_t + V_o E y_{t-1}``, then ``W_o``.
        """
        t = self.readout(torch.cat([hidden, context, embedded], dim=-1))  # (..., 2R)
        t = t.unflatten(-1, (-1, 2)).amax(-1)  # maxout: (..., 2R) -> (..., R, 2) -> (..., R)
        return self.out(t)  # (..., V)

    def step(self, prev_token: torch.Tensor, state: BahdanauState, enc_out: torch.Tensor,
             src_mask: torch.Tensor | None) -> tuple[torch.Tensor, BahdanauState, torch.Tensor]:
        """One output token: ``prev_token (B,)`` -> ``(logits (B, V), new state, weights (B, S))``.

        Raises:
            TypeError, ValueError: ``prev_token`` not ``(B,)`` ids in the vocabulary; see also
                :meth:`AdditiveAttention.forward`.
        """
        require_token_ids("prev_token", prev_token, self.embedding.num_embeddings, dim=1, shape="(B,) token ids")
        embedded = self.embedding(prev_token)  # E y_{t-1}: (B, E)
        context, weights = self.attention(state.hidden, enc_out, src_mask, state.keys)  # query s_{t-1}
        hidden = self.cell(torch.cat([embedded, context], dim=-1), state.hidden)  # s_t: (B, H)
        return self.output(hidden, context, embedded), BahdanauState(hidden, state.keys), weights

    def teacher_forced(self, tgt_in: torch.Tensor, state: BahdanauState, enc_out: torch.Tensor,
                       src_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``T`` steps when every input is known: ``tgt_in (B, T)`` -> ``(logits (B, T, V),
        weights (B, T, S))``.

        The recurrence still runs step by step (``c_t`` needs ``s_{t-1}``), but the embeddings
        are looked up once and the output layer runs once over all steps. The inputs are checked
        once, at the first step; the later steps skip the checks (and the synchronisation each
        check costs), which makes a training step on chapter 1's reversal task about 15% faster
        with the same numbers, bit for bit. Inputs the checks would have to handle at every step
        (NaN in ``enc_out``, a row without a real token) take the checked path at every step.

        Raises:
            TypeError, ValueError: ``tgt_in`` not ``(B, T)`` ids in the vocabulary; see also
                :meth:`AdditiveAttention.forward`, whose error for NaN or +inf scores (e.g. from
                NaN weights after a diverged training) is raised here too.
        """
        require_token_ids("tgt_in", tgt_in, self.embedding.num_embeddings, dim=2, shape="(B, T) token ids")
        embedded = self.embedding(tgt_in)  # (B, T, E)
        hidden, states, contexts, weights = state.hidden, [], [], []
        blocked = None if src_mask is None else ~src_mask.unsqueeze(1)  # (B, 1, S): True at padding
        checked = True
        for t, embedded_t in enumerate(embedded.unbind(1)):  # (B, E) per step
            if checked:
                context, w = self.attention(hidden, enc_out, src_mask, state.keys)
                if t == 0:  # the inputs passed every check: may the later steps skip them?
                    checked = not (bool(torch.isfinite(enc_out).all())
                                   and (src_mask is None or bool(src_mask.any(-1).all())))
            else:
                context, w = self.attention._step_unchecked(hidden, enc_out, blocked, state.keys)
            hidden = self.cell(torch.cat([embedded_t, context], dim=-1), hidden)
            states.append(hidden)
            contexts.append(context)
            weights.append(w)
        stacked = torch.stack(weights, 1)  # (B, T, S)
        if not checked and not bool(torch.isfinite(stacked).all()):
            bad = int((~torch.isfinite(stacked)).any(-1).sum())
            raise ValueError(f"scores contain NaN or +inf at positions that may be attended to, at {bad} of "
                             f"{stacked.shape[0] * stacked.shape[1]} decoder steps (NaN weights after a diverged "
                             f"training?)")
        logits = self.output(torch.stack(states, 1), torch.stack(contexts, 1), embedded)  # (B, T, V)
        return logits, stacked


def build_bahdanau_model(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_size: int,
                         attention_size: int | None = None, seed: int = 0, sos_id: int = 1,
                         eos_id: int = 2, pad_id: int = 0) -> Seq2Seq:
    """A bidirectional GRU encoder (``hidden_size`` per direction) and a :class:`BahdanauDecoder`
    (state ``hidden_size``) joined by :class:`utils.seq2seq.Seq2Seq`, on the CPU. Its weights
    come from ``torch.manual_seed(model_seed(seed))`` inside :func:`torch.random.fork_rng`: the
    same model every time (for a given ``COURSE_SEED_OFFSET``), and the caller's random state is
    left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed(seed))
        encoder = Encoder(src_vocab_size, emb_dim, hidden_size, cell="gru", bidirectional=True,
                          pad_id=pad_id)
        decoder = BahdanauDecoder(tgt_vocab_size, emb_dim, hidden_size, encoder.output_size,
                                  attention_size, pad_id=pad_id)
    return Seq2Seq(encoder, decoder, sos_id, eos_id, pad_id)


def alignment_accuracy(weights: torch.Tensor, source_spans: Sequence[Mapping[str, tuple[int, int]]],
                       target_spans: Mapping[str, tuple[int, int]],
                       by_field: bool = False) -> float | dict[str, float]:
    """How often the most-attended source position lies in the span the output should look at.

    For every example ``b``, every field (e.g. ``"year"``) and every output step ``t`` in
    ``target_spans[field]``, the step is right when ``argmax_j α_{t,j}`` lies in
    ``source_spans[b][field]``. Steps the decoder never reached (it stopped early) count as wrong.

    Args:
        weights: ``(B, T, S)`` attention weights (e.g. from greedy decoding).
        source_spans: for each example, field -> half-open source span ``(start, end)``
            (:func:`utils.data.make_date_task` records them).
        target_spans: field -> the half-open span of output steps that write it
            (:data:`utils.data.TARGET_SPANS` for ISO dates: year 0–3, month 5–6, day 8–9).
        by_field: return a dict with each field's accuracy and ``"all"`` instead of one number.

    Returns:
        The fraction of scored steps that look inside the right span.

    Raises:
        TypeError: ``weights`` not a floating-point tensor.
        ValueError: shapes that do not fit; ``target_spans`` empty or scoring no step; NaN or
            inf in ``weights`` (their argmax would be meaningless).
    """
    require_tensor("weights", weights)
    require_float("weights", weights)
    if weights.dim() != 3 or len(source_spans) != weights.shape[0]:
        raise ValueError(f"weights must be (B, T, S) with B = len(source_spans) = {len(source_spans)}, "
                         f"got shape {tuple(weights.shape)}")
    if not target_spans:
        raise ValueError("target_spans is empty")
    require_finite("weights", weights, " (argmax of NaN is meaningless: the model produced NaN weights)")
    looked = weights.argmax(-1).tolist()  # (B, T): argmax_j α_{t,j}
    right = {field: 0 for field in target_spans}
    total = {field: 0 for field in target_spans}
    for row, spans in zip(looked, source_spans):
        for field, (t0, t1) in target_spans.items():
            start, end = spans[field]
            for t in range(t0, t1):
                total[field] += 1
                right[field] += t < len(row) and start <= row[t] < end
    if not all(total.values()) or not weights.shape[0]:
        raise ValueError(f"nothing to score: {weights.shape[0]} examples, steps per field "
                         f"{ {f: t1 - t0 for f, (t0, t1) in target_spans.items()} }")
    result = {field: right[field] / total[field] for field in target_spans}
    result["all"] = sum(right.values()) / sum(total.values())
    return result if by_field else result["all"]


class DecodeTrace(NamedTuple):
    """Everything greedy decoding did for one source, step by step (for figures and widgets).

    Attributes:
        source: the source tokens (length ``S``).
        output: the output tokens, one per step (``T`` of them, ``<eos>`` last if produced).
        weights: ``(T, S)`` the attention weights at every step (None for a plain decoder).
        probs: ``(T, V)`` the next-token probabilities at every step.
        vocab: the target vocabulary's tokens, so that column ``i`` of ``probs`` is ``vocab[i]``.
    """

    source: list[str]
    output: list[str]
    weights: torch.Tensor | None
    probs: torch.Tensor
    vocab: list[str]


@torch.no_grad()
def decode_trace(model, source: Sequence[str], src_vocab, tgt_vocab, max_len: int = 30) -> DecodeTrace:
    """Greedy-decode one source token list with ``model`` (a :class:`utils.seq2seq.Seq2Seq`),
    recording the weights and the full next-token distribution at every step (on the CPU).

    Raises:
        ValueError: an empty ``source``; see also :meth:`utils.seq2seq.Seq2Seq.encode`.
    """
    if len(source) == 0:
        raise ValueError("source is empty")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    src = torch.tensor([src_vocab.encode(source)], device=device)  # (1, S)
    enc_out, src_mask, state = model.encode(src, torch.tensor([len(source)], device=device))
    prev = torch.full((1,), model.sos_id, dtype=torch.long, device=device)
    output, weights, probs = [], [], []
    for _ in range(max_len):
        logits, state, w = model.decoder.step(prev, state, enc_out, src_mask)
        probs.append(torch.softmax(logits[0].float(), -1).cpu())
        weights.append(None if w is None else w[0].cpu())
        prev = logits.argmax(-1)
        output.append(tgt_vocab.itos[int(prev)])
        if int(prev) == model.eos_id:
            break
    model.train(was_training)
    # a decoder returns weights at every step or at none
    stacked = None if weights[0] is None else torch.stack(cast(list[torch.Tensor], weights))  # (T, S)
    return DecodeTrace(list(source), output, stacked, torch.stack(probs), list(tgt_vocab.itos))
