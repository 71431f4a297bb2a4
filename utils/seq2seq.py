"""Recurrent encoder–decoders: an encoder, a decoder interface, and the model that joins them.

The pieces, in the course's notation (batch first)::

    src (B, S) --Encoder--> enc_out (B, S, D)  the annotations h_1 … h_S  (D = H, or 2H if bidirectional)
                            enc_final          the encoder's last state (what a plain decoder gets)
    decoder.init_state(enc_out, enc_final, src_mask)           -> state (s_0)
    decoder.step(prev_token (B,), state, enc_out, src_mask)    -> logits (B, V), new state, weights

Every decoder follows that two-method interface, so the same :class:`Seq2Seq` wrapper, training
step and evaluation serve the plain decoder of chapter 1 (which looks only at ``enc_final``, the
fixed-length context of Sutskever et al. 2014 and Cho et al. 2014) and the attention decoders of
chapters 4 and 5 (which return attention ``weights (B, S)`` from every step). The state is
whatever the decoder needs to carry (a tensor, a tuple); :class:`Seq2Seq` never looks inside it.
A decoder may also offer ``teacher_forced(tgt_in, state, enc_out, src_mask) -> (logits,
weights)``, a fast path for full teacher forcing that must agree with stepping (tested).

``src_mask (B, S)`` is True at real source tokens and False at padding ("may attend"), the
convention of :mod:`utils.attention`; :meth:`Seq2Seq.encode` makes it with
:func:`utils.masks.length_mask`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from utils.masks import length_mask
from utils.validate import require_choice, require_int, require_number, require_source_batch, require_tensor, require_token_ids

__all__ = ["CELLS", "Encoder", "PlainState", "PlainDecoder", "StepDecoder", "Seq2Seq"]

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


# ----------------------------------------------------------------------------------------------
# Encoder
# ----------------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """Embed the source and read it with a recurrent network, padding skipped.

    Args:
        vocab_size: source vocabulary size.
        emb_dim: embedding size.
        hidden_size: H, the state size of each direction.
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (tanh Elman network).
        bidirectional: read the source both ways; annotations are ``h_j = [→h_j ; ←h_j]``.
        num_layers: stacked layers; ``enc_final`` comes from the top one.
        pad_id: the padding id (its embedding is zero and never trained).

    ``forward(src (B, S), src_lengths (B,))`` returns ``(enc_out, enc_final)``, and raises
    ``TypeError`` for a ``src`` or ``src_lengths`` that is not an integer tensor and
    ``ValueError`` for ids outside ``[0, vocab_size)``, ``S = 0``, or lengths outside ``[1, S]``.
    An empty batch (``B = 0``) gives empty outputs:

    * ``enc_out (B, S, D)`` with ``D = H`` or ``2H``; zeros at padded positions;
    * ``enc_final``: ``(B, D)``, the state after the last real token (for a bidirectional encoder
      ``[→h_S ; ←h_1]``, each direction's state after reading the whole source); for an LSTM a
      tuple ``(h, c)`` of two such tensors.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, cell: str = "gru",
                 bidirectional: bool = False, num_layers: int = 1, pad_id: int = 0) -> None:
        super().__init__()
        require_choice("cell", cell, sorted(CELLS))
        for name, size in (("vocab_size", vocab_size), ("emb_dim", emb_dim), ("hidden_size", hidden_size),
                           ("num_layers", num_layers)):
            require_int(name, size, minimum=1)
        self.cell, self.hidden_size, self.bidirectional = cell, hidden_size, bidirectional
        self.num_layers = num_layers
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = CELLS[cell](emb_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor):
        require_source_batch(src, src_lengths, self.embedding.num_embeddings)
        B, S = src.shape
        embedded = self.embedding(src)  # (B, S, E)
        lengths = src_lengths.cpu()
        if bool((lengths == S).all()):  # nothing padded: the fast path
            enc_out, final = self.rnn(embedded)  # (B, S, D)
        else:
            # Packing makes the recurrence stop at each sequence's last real token (and makes
            # the backward direction start there). The lengths must live on the CPU.
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            out, final = self.rnn(packed)
            enc_out, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # (B, S, D)
        if self.cell == "lstm":
            return enc_out, (self._top(final[0]), self._top(final[1]))
        return enc_out, self._top(final)

    def _top(self, final: torch.Tensor) -> torch.Tensor:
        """``(layers * dirs, B, H)`` -> the top layer's ``(B, D)``, directions concatenated."""
        dirs = 2 if self.bidirectional else 1
        top = final.view(self.num_layers, dirs, final.shape[1], self.hidden_size)[-1]  # (dirs, B, H)
        return torch.cat(list(top), dim=-1)  # (B, dirs * H)


# ----------------------------------------------------------------------------------------------
# The plain decoder: one fixed-length context for the whole output
# ----------------------------------------------------------------------------------------------
class PlainState(NamedTuple):
    """The plain decoder's state: its recurrent state and the fixed context it re-reads."""

    hidden: torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # s_t (B, H), or (h, c) for an LSTM
    context: torch.Tensor  # c (B, D): the encoder's final state, the same at every step


class PlainDecoder(nn.Module):
    """A decoder that sees the source only through the encoder's final state ``c``.

    ``s_0 = tanh(W_s c)``; at every step ``s_t = f(s_{t-1}, [E y_{t-1} ; c])`` and
    ``p(y_t | y_<t, x) = softmax(W_o s_t)`` — the RNN encoder–decoder of Cho et al. (2014), where
    the context also enters every step; with ``feed_context=False`` it enters only through
    ``s_0``, as in Sutskever et al. (2014).

    Args:
        vocab_size: target vocabulary size V.
        emb_dim: target embedding size.
        hidden_size: decoder state size H.
        context_size: D, the size of ``enc_final`` (``Encoder.output_size``).
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"``.
        feed_context: concatenate ``c`` to the input at every step.
        pad_id: target padding id.

    Raises:
        ValueError: an unknown ``cell``; in :meth:`init_state`, an ``enc_final`` whose size is not
            ``context_size``. Token ids are checked by :meth:`Seq2Seq.forward`, which feeds them.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, context_size: int,
                 cell: str = "gru", feed_context: bool = True, pad_id: int = 0) -> None:
        super().__init__()
        require_choice("cell", cell, sorted(CELLS))
        self.cell, self.hidden_size, self.feed_context = cell, hidden_size, feed_context
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.bridge = nn.Linear(context_size, hidden_size)  # W_s
        self.rnn = CELLS[cell](emb_dim + (context_size if feed_context else 0), hidden_size,
                               batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)  # W_o

    def init_state(self, enc_out: torch.Tensor, enc_final, src_mask: torch.Tensor) -> PlainState:
        """``s_0 = tanh(W_s c)`` with ``c`` the encoder's final state (``h`` of an LSTM's ``(h, c)``)."""
        context = enc_final[0] if isinstance(enc_final, tuple) else enc_final  # (B, D)
        if context.shape[-1] != self.context_size:
            raise ValueError(f"enc_final has {context.shape[-1]} features but the decoder was "
                             f"built with context_size={self.context_size}")
        s0 = torch.tanh(self.bridge(context))  # (B, H)
        hidden = (s0, torch.zeros_like(s0)) if self.cell == "lstm" else s0
        return PlainState(hidden, context)

    def _inputs(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, E [+ D])`` inputs: embeddings, with ``c`` appended."""
        x = self.embedding(tokens)  # (B, T, E)
        if self.feed_context:
            x = torch.cat([x, context.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        return x

    def _run(self, x: torch.Tensor, hidden):
        """The recurrence over ``x (B, T, ·)``; states travel as ``(1, B, H)`` inside ``nn.RNN``."""
        h = tuple(t.unsqueeze(0) for t in hidden) if self.cell == "lstm" else hidden.unsqueeze(0)
        out, h = self.rnn(x, h)  # out (B, T, H)
        h = tuple(t.squeeze(0) for t in h) if self.cell == "lstm" else h.squeeze(0)
        return out, h

    def step(self, prev_token: torch.Tensor, state: PlainState, enc_out: torch.Tensor,
             src_mask: torch.Tensor) -> tuple[torch.Tensor, PlainState, None]:
        """One step: ``prev_token (B,)`` -> ``(logits (B, V), new state, None)`` (no attention)."""
        out, hidden = self._run(self._inputs(prev_token.unsqueeze(1), state.context), state.hidden)
        return self.out(out[:, 0]), PlainState(hidden, state.context), None

    def teacher_forced(self, tgt_in: torch.Tensor, state: PlainState, enc_out: torch.Tensor,
                       src_mask: torch.Tensor) -> tuple[torch.Tensor, None]:
        """All ``T`` steps at once when every input is known: ``tgt_in (B, T)`` -> logits ``(B, T, V)``."""
        out, _ = self._run(self._inputs(tgt_in, state.context), state.hidden)
        return self.out(out), None


# ----------------------------------------------------------------------------------------------
# The model: encoder + any decoder with init_state/step
# ----------------------------------------------------------------------------------------------
class StepDecoder(Protocol):
    """The two methods :class:`Seq2Seq` calls on its decoder (an ``nn.Module`` that has them).

    :class:`PlainDecoder`, the attention decoders of chapters 4 and 5 and the Transformer decoder of
    chapter 7 all have them, without naming this class: a decoder qualifies by what it can do. The
    state is the decoder's own business (a tensor, a tuple, a NamedTuple), hence ``Any``. A decoder
    may also have ``teacher_forced`` (see the module's docstring), which :meth:`Seq2Seq.forward`
    uses when it finds it.
    """

    def init_state(self, enc_out: torch.Tensor, enc_final: Any, src_mask: torch.Tensor) -> Any:
        """``enc_out (B, S, D)``, the encoder's ``enc_final``, ``src_mask (B, S)`` -> the state ``s_0``."""

    def step(self, prev_token: torch.Tensor, state: Any, enc_out: torch.Tensor,
             src_mask: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """``prev_token (B,)`` -> ``(logits (B, V), new state, weights (B, S) or None)``."""


class Seq2Seq(nn.Module):
    """An encoder and a decoder that follows the ``init_state``/``step`` interface.

    Args:
        encoder: e.g. :class:`Encoder`.
        decoder: e.g. :class:`PlainDecoder`, or chapter 4's attention decoder (a :class:`StepDecoder`).
        sos_id, eos_id, pad_id: target special ids (the :class:`~utils.data.Vocab` defaults).
    """

    def __init__(self, encoder: nn.Module, decoder: StepDecoder, sos_id: int = 1, eos_id: int = 2,
                 pad_id: int = 0) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.sos_id, self.eos_id, self.pad_id = sos_id, eos_id, pad_id

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """-> ``(enc_out (B, S, D), src_mask (B, S), state s_0)``."""
        enc_out, enc_final = self.encoder(src, src_lengths)
        src_mask = length_mask(src_lengths.to(src.device), src.shape[1])
        return enc_out, src_mask, self.decoder.init_state(enc_out, enc_final, src_mask)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode ``T = tgt_in.shape[1]`` steps; return ``(logits (B, T, V), weights (B, T, S) or None)``.

        Raises:
            TypeError: ids that are not integer tensors.
            ValueError: ``teacher_forcing`` outside ``[0, 1]``; ``tgt_in`` not ``(B, T)`` with the
                batch of ``src``, or with ids outside the decoder's vocabulary; bad ``src`` (see
                :class:`Encoder`).

        ``tgt_in`` is ``<sos> y_1 … y_{T-1}``. With ``teacher_forcing = 1`` the decoder is fed the
        true previous token at every step; with a ratio ``r < 1`` each example, at each step, is
        fed the true token with probability ``r`` and its own greedy prediction otherwise (drawn
        from PyTorch's global generator, so ``seed_everything`` makes it repeatable).
        """
        require_number("teacher_forcing", teacher_forcing, low=0.0, high=1.0)
        require_tensor("src", src, dim=2, shape="(B, S) token ids")
        require_tensor("tgt_in", tgt_in)
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"tgt_in must be (B, T) with B = {src.shape[0]}, got {tuple(tgt_in.shape)}")
        self._check_targets(tgt_in)
        enc_out, src_mask, state = self.encode(src, src_lengths)
        if teacher_forcing == 1.0 and hasattr(self.decoder, "teacher_forced"):
            return self.decoder.teacher_forced(tgt_in, state, enc_out, src_mask)
        B, T = tgt_in.shape
        logits, weights = [], []
        prev = tgt_in[:, 0]  # <sos>
        for t in range(T):
            step_logits, state, w = self.decoder.step(prev, state, enc_out, src_mask)
            logits.append(step_logits)
            weights.append(w)
            if t + 1 < T:
                prev = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    guess = step_logits.argmax(-1)
                    forced = torch.rand(B, device=tgt_in.device) < teacher_forcing
                    prev = torch.where(forced, prev, guess)
        return torch.stack(logits, 1), _stack_weights(weights)

    def _check_targets(self, tgt_in: torch.Tensor) -> None:
        embedding = getattr(self.decoder, "embedding", None)
        if isinstance(embedding, nn.Embedding):
            require_token_ids("tgt_in", tgt_in, embedding.num_embeddings)
        elif tgt_in.is_floating_point():
            raise TypeError(f"tgt_in must hold integer token ids, got dtype {tgt_in.dtype}")

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, src_lengths: torch.Tensor,
                      max_len: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Feed back the most likely token until every sequence has produced ``<eos>``.

        Returns:
            ``(tokens (B, T), weights (B, T, S) or None)`` with ``T <= max_len``: each row ends
            with its ``<eos>`` (kept) followed by ``<pad>``; a row that never produced ``<eos>``
            has ``max_len`` tokens.

        Raises:
            TypeError: ``max_len`` not an int; ids that are not integer tensors.
            ValueError: ``max_len`` below 1; bad ``src``/``src_lengths`` (see :class:`Encoder`).
        """
        max_len = require_int("max_len", max_len, minimum=1)
        enc_out, src_mask, state = self.encode(src, src_lengths)
        B = src.shape[0]
        prev = torch.full((B,), self.sos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            step_logits, state, w = self.decoder.step(prev, state, enc_out, src_mask)
            prev = step_logits.argmax(-1)  # (B,)
            tokens.append(prev.masked_fill(done, self.pad_id))
            weights.append(w)
            done = done | (prev == self.eos_id)
            if bool(done.all()):
                break
        return torch.stack(tokens, 1), _stack_weights(weights)


def _stack_weights(weights: list) -> torch.Tensor | None:
    return None if any(w is None for w in weights) else torch.stack(weights, 1)  # (B, T, S)
