"""The Transformer's encoder side: chapter 6's encoder block and stack, and chapter 7's source encoder.

Vaswani et al. (2017), batch first, with names and weights that mirror PyTorch's
``nn.TransformerEncoderLayer``::

    x (B, T, d_model) -> L x [ self-attention, feed-forward, each with a residual and a LayerNorm ]

:class:`TransformerEncoderBlock` and :class:`TransformerEncoder` work on vectors (chapter 6 tests them
against PyTorch's layers). Chapter 7 puts token embeddings and positions in front
(:class:`TransformerEmbedding`) and gives the result the interface of :class:`utils.seq2seq.Encoder`
(:class:`TransformerSourceEncoder`), so that :class:`utils.seq2seq.Seq2Seq` can join it to any decoder.
Masks: **True = may attend** (:mod:`utils.masks`).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from utils.masks import length_mask
from utils.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding, sinusoidal_positional_encoding
from utils.transformer import MultiHeadAttention
from utils.validate import require_choice, require_int, require_sequence, require_source_batch

__all__ = ["TransformerEncoderBlock", "TransformerEncoder", "TransformerEmbedding", "TransformerSourceEncoder"]

POSITIONAL = {"sinusoidal": SinusoidalPositionalEncoding, "learned": LearnedPositionalEncoding}


# ----------------------------------------------------------------------------------------------
# The encoder (chapter 6): attention, feed-forward, residuals, layer norm
# ----------------------------------------------------------------------------------------------
class TransformerEncoderBlock(nn.Module):
    """One encoder layer (Vaswani et al. 2017), with names that mirror ``nn.TransformerEncoderLayer``.

    Post-norm (the paper's): ``x = LN(x + MHA(x)); x = LN(x + FFN(x))``. Pre-norm
    (``norm_first=True``, common in later models): ``x = x + MHA(LN(x)); x = x + FFN(LN(x))``.
    ``FFN(x) = W_2 relu(W_1 x + b_1) + b_2``. Residuals: He et al. (2016); layer norm: Ba et al. (2016).
    ``attention_class``: the class of ``self_attn``, :class:`MultiHeadAttention` or a subclass with
    its constructor (e.g. :class:`utils.linear_attention.LinearMultiHeadAttention`, chapter 8).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 norm_first: bool = False, layer_norm_eps: float = 1e-5,
                 attention_class: type[MultiHeadAttention] = MultiHeadAttention) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = attention_class(d_model, num_heads, dropout)
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x (B, T, d_model)`` -> ``(x (B, T, d_model), weights (B, h, T, T) or None)``.

        Raises:
            TypeError, ValueError: as :meth:`MultiHeadAttention.forward` (``x`` is its query).
        """
        require_sequence("x", x, self.self_attn.embed_dim)
        def attend(h):
            out, w = self.self_attn(h, h, h, key_padding_mask, need_weights, attn_mask,
                                    average_attn_weights=False, is_causal=is_causal)
            return self.dropout1(out), w

        def feed_forward(h):
            return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(h)))))

        if self.norm_first:
            a, weights = attend(self.norm1(x))
            x = x + a
            x = x + feed_forward(self.norm2(x))
        else:
            a, weights = attend(x)
            x = self.norm1(x + a)
            x = self.norm2(x + feed_forward(x))
        return x, weights

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> TransformerEncoderBlock:
        """Copy a ReLU ``nn.TransformerEncoderLayer``'s weights (same sizes and ``norm_first``)."""
        if layer.norm_first != self.norm_first:
            raise ValueError(f"norm_first differs: ours {self.norm_first}, layer's {layer.norm_first}")
        self.self_attn.load_from_torch(layer.self_attn)
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(self, name).load_state_dict(getattr(layer, name).state_dict())
        return self


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` :class:`TransformerEncoderBlock` (``attention_class`` in each), plus a
    final LayerNorm if pre-norm."""

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 norm_first: bool = False, attention_class: type[MultiHeadAttention] = MultiHeadAttention) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerEncoderBlock(d_model, num_heads, d_ff, dropout, norm_first,
                                                            attention_class=attention_class)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                need_weights: bool = False) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """``x (B, T, d_model)`` -> ``(x, [weights (B, h, T, T) per layer] or None)``.

        Raises:
            TypeError, ValueError: as :meth:`MultiHeadAttention.forward` (``x`` is its query).
        """
        if len(self.layers):
            first = cast(TransformerEncoderBlock, self.layers[0])  # an nn.ModuleList hands back a plain Module
            require_sequence("x", x, first.self_attn.embed_dim)
        all_weights = []
        for layer in self.layers:
            x, w = layer(x, key_padding_mask, attn_mask, is_causal, need_weights)
            all_weights.append(w)
        return self.norm(x), (all_weights if need_weights else None)


# ----------------------------------------------------------------------------------------------
# Tokens in (chapter 7): embeddings and positions, and the encoder of a Seq2Seq model
# ----------------------------------------------------------------------------------------------
class TransformerEmbedding(nn.Module):
    """What a Transformer's encoder and decoder put before their blocks: ``E x·√d_model + PE``, then dropout.

    The base class of :class:`TransformerSourceEncoder` and :class:`utils.transformer_decoder.TransformerDecoder`:
    it checks the sizes they share (``num_heads``, ``d_ff`` and ``num_layers`` included, so that
    both sides raise the same errors) and owns ``embedding`` (the token table, ``N(0, 1/d_model)``
    so that after the ``√d_model`` scaling it has unit variance, the size of the positional
    encodings) and ``positions`` (``"sinusoidal"`` or ``"learned"``, up to ``max_len``).

    Raises:
        TypeError, ValueError: sizes not positive ints, an unknown ``positional``, ``pad_id``
            outside the vocabulary.
    """

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, d_ff: int, num_layers: int, max_len: int,
                 dropout: float, positional: str, pad_id: int) -> None:
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("d_model", d_model), ("num_heads", num_heads),
                           ("d_ff", d_ff), ("num_layers", num_layers), ("max_len", max_len)):
            require_int(name, size, minimum=1)
        require_choice("positional", positional, sorted(POSITIONAL))
        require_int("pad_id", pad_id, minimum=0, maximum=vocab_size - 1)
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        with torch.no_grad():  # N(0, 1/d_model): unit variance after the √d_model below
            self.embedding.weight.normal_(0.0, d_model ** -0.5)
            self.embedding.weight[pad_id].zero_()
        self.positions = POSITIONAL[positional](d_model, max_len)
        self.dropout = nn.Dropout(dropout)

    def embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``tokens (B, T)`` at positions ``start … start+T-1`` -> ``E y·√d_model + PE``, ``(B, T, d_model)``.

        Raises:
            ValueError: ``start + T > max_len`` (no positional encoding that far).
        """
        T = tokens.shape[1]
        if start + T > self.max_len:
            raise ValueError(f"cannot reach position {start + T - 1}: max_len is {self.max_len} (positions 0 "
                             f"to {self.max_len - 1}); build the model with a larger max_len")
        pe = self.positions  # the table's rows start … start+T-1: (T, d_model)
        rows = (pe.pe if isinstance(pe, SinusoidalPositionalEncoding) else pe.table.weight)[start:start + T]
        x = self.embedding(tokens) * math.sqrt(self.d_model)  # (B, T) -> (B, T, d_model)
        return self.dropout(x + rows.to(x.dtype))  # (B, T, d) + (T, d)


class TransformerSourceEncoder(TransformerEmbedding):
    """``src (B, S)`` -> ``E x·√d_model + PE`` -> chapter 6's :class:`TransformerEncoder` (pre-norm).

    :class:`utils.seq2seq.Encoder`'s interface: ``forward(src, src_lengths) -> (enc_out (B, S,
    d_model), enc_final (B, d_model))``; ``enc_out`` is zero at padded positions, ``enc_final``
    its mean over each row's real tokens (zero for a length of 0). The Transformer decoder never
    reads ``enc_final`` (it attends to ``enc_out``); it is there for decoders that want one vector.
    ``output_size = d_model``; ``embedding`` is the token table.

    ``count_from_end=True`` gives every source token its position counted from both ends: the first
    ``d_model / 2`` features of its encoding are the sinusoids of ``j`` (from the start), the last
    ``d_model / 2`` those of ``S_b - 1 - j`` (from the end of its own sentence, of length ``S_b``).
    A bidirectional RNN knows both distances because it reads the source both ways; a Transformer
    knows only what its positional encoding says, and a task like reversal, where output ``t``
    copies the source token ``t`` places from the end, needs the second one (chapter 7).
    ``attention_class``: the blocks' self-attention (see :class:`TransformerEncoderBlock`).

    Raises:
        TypeError, ValueError: sizes not positive ints, ``d_model`` not divisible by ``num_heads``
            (by 4 with ``count_from_end``), an unknown ``positional`` (only ``"sinusoidal"`` with
            ``count_from_end``), ``pad_id`` outside the vocabulary; in ``forward``, ``src``
            not ``(B, S)`` ids in the vocabulary with ``S <= max_len``, ``src_lengths`` not
            ``(B,)`` integers in ``[0, S]``.
    """

    half_table: torch.Tensor  # (max_len, d_model / 2), a buffer registered only with count_from_end

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, d_ff: int, num_layers: int, max_len: int,
                 dropout: float = 0.0, positional: str = "sinusoidal", pad_id: int = 0,
                 count_from_end: bool = False, attention_class: type[MultiHeadAttention] = MultiHeadAttention) -> None:
        super().__init__(vocab_size, d_model, num_heads, d_ff, num_layers, max_len, dropout, positional, pad_id)
        self.output_size = d_model
        self.count_from_end = bool(count_from_end)
        if self.count_from_end:
            if positional != "sinusoidal" or d_model % 4:
                raise ValueError("count_from_end needs positional='sinusoidal' and d_model divisible by 4, "
                                 f"got {positional!r} and d_model={d_model}")
            half = sinusoidal_positional_encoding(max_len, d_model // 2)  # (max_len, d_model / 2)
            self.register_buffer("half_table", half, persistent=False)
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first=True,
                                          attention_class=attention_class)

    def _embed_both_ends(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """``E x·√d_model + [PE(j) ; PE(S_b - 1 - j)]``, ``(B, S, d_model)``; padding counts as 0 from the end."""
        B, S = src.shape
        j = torch.arange(S, device=src.device)  # (S,)
        back = (src_lengths.to(src.device).unsqueeze(1) - 1 - j).clamp(min=0)  # (B, 1) - (S,) -> (B, S)
        table = self.half_table.to(device=src.device)
        pe = torch.cat([table[:S].expand(B, S, -1), table[back]], dim=-1)  # (B, S, d/2) + (B, S, d/2) -> (B, S, d)
        x = self.embedding(src) * math.sqrt(self.d_model)  # (B, S) -> (B, S, d_model)
        return self.dropout(x + pe.to(x.dtype))

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, S = require_source_batch(src, src_lengths, self.embedding.num_embeddings, min_length=0,
                                    max_positions=self.max_len)
        keep = length_mask(src_lengths.to(src.device), S)  # (B, S), True = a real token
        x = self._embed_both_ends(src, src_lengths) if self.count_from_end else self.embed(src)
        enc_out, _ = self.encoder(x, key_padding_mask=keep)  # (B, S, d_model)
        enc_out = enc_out.masked_fill(~keep.unsqueeze(-1), 0.0)  # (B, S, 1): padding -> zeros
        count = keep.sum(1, keepdim=True).clamp_min(1).to(enc_out.dtype)  # (B, 1)
        return enc_out, enc_out.sum(1) / count  # masked mean: (B, S, d) -> (B, d)
