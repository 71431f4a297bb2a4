"""The Transformer (chapter 7): a decoder with causal self-attention and cross-attention, a
key–value cache, and the whole encoder–decoder built from chapter 6's pieces.

Vaswani et al. (2017), in the course's notation (batch first, ``L`` layers, ``H`` heads of size ``d``)::

    src (B, S)    -> E x·√d_model + PE -> L encoder blocks           -> enc_out (B, S, d_model)
    tgt_in (B, T) -> E y·√d_model + PE -> L decoder blocks, each:
                       causal self-attention   position t sees y_0 … y_t only
                       cross-attention         queries from the decoder, keys/values = enc_out
                       feed-forward            W_2 relu(W_1 x + b_1) + b_2
                  -> LayerNorm -> W_o        -> logits (B, T, V)

The encoder side (the embeddings, chapter 6's blocks, :class:`~utils.transformer_encoder.TransformerSourceEncoder`)
is in :mod:`utils.transformer_encoder`; this module has the decoder and :func:`build_transformer_model`,
which joins the two.

**Training** needs no recurrence: under the causal mask all ``T`` positions are computed in ONE
parallel pass (:meth:`TransformerDecoder.teacher_forced`). **Decoding** is still token by token,
with a **key–value cache**: :meth:`~TransformerDecoder.init_state` projects the cross-attention
keys and values of ``enc_out`` once per source; each :meth:`~TransformerDecoder.step` projects
only the new token's query, key and value, appends them to the cache and attends over it. The
state is batch first, so ``Seq2Seq``, greedy decoding, beam search, ``fit`` and ``decode_trace`` work unchanged.

**Pre-norm.** The paper's post-norm (``x = LN(x + F(x))``, Vaswani et al. 2017) needs a
learning-rate warm-up to train stably. The course's models use pre-norm (``x = x + F(LN(x))``,
one final LayerNorm after the stack), which trains stably from the first step without a warm-up
(Xiong et al., 2020, "On Layer Normalization in the Transformer Architecture"). ``norm_first``
chooses; names and weights mirror ``nn.TransformerDecoderLayer``. Masks: **True = may attend**
(for PyTorch's modules pass ``~mask``). Token embeddings start at ``N(0, 1/d_model)``: after the
``√d_model`` scaling they have unit variance, the size of the positional encodings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from utils.device import model_seed
from utils.grouped_query import GroupedQueryAttention
from utils.linear_attention import LinearMultiHeadAttention
from utils.seq2seq import Seq2Seq
from utils.transformer import MultiHeadAttention
from utils.transformer_encoder import TransformerEmbedding, TransformerSourceEncoder
from utils.validate import require_choice, require_int, require_sequence, require_src_mask, require_tensor, require_token_ids

__all__ = ["TransformerDecoderBlock", "TransformerDecoderState", "TransformerDecoder", "build_transformer_model",
           "cross_attention_maps", "ATTENTION"]

ATTENTION = {"softmax": MultiHeadAttention, "linear": LinearMultiHeadAttention}  # build_transformer_model's choices


class TransformerDecoderBlock(nn.Module):
    """One decoder layer, with names that mirror ``nn.TransformerDecoderLayer`` (ReLU).

    Post-norm (``norm_first=False``, the paper's)::

        x = LN1(x + SelfAttn(x));  x = LN2(x + CrossAttn(x, m));  x = LN3(x + FFN(x))

    Pre-norm (``norm_first=True``, the course's models)::

        x = x + SelfAttn(LN1(x));  x = x + CrossAttn(LN2(x), m);  x = x + FFN(LN3(x))

    ``m`` is the encoder's output (``memory``).

    ``num_kv_heads``: None (multi-head attention) or ``g``, the key/value heads that both
    attentions share among their ``num_heads`` query heads (:class:`utils.grouped_query.GroupedQueryAttention`,
    chapter 8): the cache then holds ``g`` heads instead of ``num_heads``. ``attention_class``: the
    class of both attentions without it (:class:`MultiHeadAttention` or a subclass with its constructor).

    Raises:
        TypeError, ValueError: sizes not positive ints, ``d_model`` not divisible by ``num_heads``,
            ``num_heads`` not divisible by ``num_kv_heads``, a dropout outside ``[0, 1)``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 norm_first: bool = False, layer_norm_eps: float = 1e-5, num_kv_heads: int | None = None,
                 attention_class: type[MultiHeadAttention] = MultiHeadAttention) -> None:
        super().__init__()
        require_int("d_ff", d_ff, minimum=1)
        self.norm_first = norm_first
        self.self_attn: MultiHeadAttention
        self.multihead_attn: MultiHeadAttention
        if num_kv_heads is None:
            self.self_attn = attention_class(d_model, num_heads, dropout)  # causal, over the target
            self.multihead_attn = attention_class(d_model, num_heads, dropout)  # cross, over memory
        else:
            self.self_attn = GroupedQueryAttention(d_model, num_heads, num_kv_heads, dropout)
            self.multihead_attn = GroupedQueryAttention(d_model, num_heads, num_kv_heads, dropout)
        self.num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads  # the heads a cache holds
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model, eps=layer_norm_eps) for _ in range(3))
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(4))

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None, tgt_is_causal: bool = False,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``tgt (B, T, d_model)``, ``memory (B, S, d_model)`` -> ``(x (B, T, d_model), weights)``.

        ``weights``: the cross-attention weights ``(B, H, T, S)`` if ``need_weights``, else None.
        ``tgt_is_causal`` builds the causal mask itself (PyTorch's layer takes it only as a hint).

        Raises:
            TypeError, ValueError: as :meth:`MultiHeadAttention.forward` (``tgt`` is the query).
        """
        require_sequence("tgt", tgt, self.self_attn.embed_dim)
        require_sequence("memory", memory, self.self_attn.embed_dim)

        def self_attend(h):
            return self.self_attn(h, h, h, tgt_key_padding_mask, False, tgt_mask, is_causal=tgt_is_causal)[0]

        def cross_attend(h):
            return self.multihead_attn(h, memory, memory, memory_key_padding_mask, need_weights, memory_mask,
                                       average_attn_weights=False)

        return self._sublayers(tgt, self_attend, cross_attend)

    def forward_cached(self, x: torch.Tensor, self_k: torch.Tensor, self_v: torch.Tensor, cross_k: torch.Tensor,
                       cross_v: torch.Tensor, memory_key_padding_mask: torch.Tensor | None = None,
                       need_weights: bool = False):
        """The layer for ``x (B, T, d_model)``, ``T`` new tokens after ``P`` cached ones (usually ``T = 1``).

        ``self_k``, ``self_v (B, H, P, d)``: this layer's self-attention cache; ``cross_k``,
        ``cross_v (B, H, S, d)``: ``multihead_attn.project_kv(memory)``, once per source (``H`` is
        :attr:`num_kv_heads`: the query heads, or ``g`` with grouped-query attention).
        Returns ``(x (B, T, d_model), self_k, self_v (B, H, P+T, d), weights (B, H, T, S) or None)``.

        Raises:
            ValueError: ``x`` not ``(B, T, d_model)``; a cache not ``(B, H, P, d)``.
            TypeError, ValueError: otherwise as :meth:`MultiHeadAttention.attend_kv`.
        """
        require_sequence("x", x, self.self_attn.embed_dim)
        B, H, d = x.shape[0], self.num_kv_heads, self.self_attn.head_dim
        for name, t in (("self_k", self_k), ("self_v", self_v)):
            require_tensor(name, t, dim=4, shape=f"(B={B}, H={H}, P, d={d})")
            if (t.shape[0], t.shape[1], t.shape[3]) != (B, H, d) or t.shape != self_k.shape:
                raise ValueError(f"{name} must be (B={B}, H={H}, P, d={d}) like self_k, got {tuple(t.shape)}")
        T, P = x.shape[1], self_k.shape[2]
        grown: list[torch.Tensor] = []

        def self_attend(h):
            k, v = self.self_attn.project_kv(h)  # only the new tokens: (B, T, d_model) -> (B, H, T, d)
            k, v = torch.cat([self_k, k], dim=2), torch.cat([self_v, v], dim=2)  # -> (B, H, P+T, d)
            grown.extend((k, v))
            # new token t (position P+t) may see positions 0 … P+t; one new token sees everything
            mask = None if T == 1 else torch.ones(T, P + T, dtype=torch.bool, device=h.device).tril(P)
            return self.self_attn.attend_kv(h, k, v, need_weights=False, attn_mask=mask)[0]

        def cross_attend(h):
            return self.multihead_attn.attend_kv(h, cross_k, cross_v, memory_key_padding_mask, need_weights,
                                                 average_attn_weights=False)

        x, weights = self._sublayers(x, self_attend, cross_attend)
        return x, grown[0], grown[1], weights

    def _sublayers(self, x, self_attend, cross_attend):
        """Residuals and layer norms around the three sublayers, pre- or post-norm."""
        def feed_forward(h):
            return self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(h)))))

        if self.norm_first:
            x = x + self.dropout1(self_attend(self.norm1(x)))
            context, weights = cross_attend(self.norm2(x))
            x = x + self.dropout2(context)
            x = x + feed_forward(self.norm3(x))
        else:
            x = self.norm1(x + self.dropout1(self_attend(x)))
            context, weights = cross_attend(x)
            x = self.norm2(x + self.dropout2(context))
            x = self.norm3(x + feed_forward(x))
        return x, weights

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerDecoderLayer) -> TransformerDecoderBlock:
        """Copy a ReLU ``nn.TransformerDecoderLayer``'s weights (same sizes and ``norm_first``). Returns ``self``.

        Raises:
            ValueError: ``norm_first`` or the sizes differ.
        """
        if layer.norm_first != self.norm_first:
            raise ValueError(f"norm_first differs: ours {self.norm_first}, layer's {layer.norm_first}")
        self.self_attn.load_from_torch(layer.self_attn)
        self.multihead_attn.load_from_torch(layer.multihead_attn)
        for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
            getattr(self, name).load_state_dict(getattr(layer, name).state_dict())
        return self


class TransformerDecoderState(NamedTuple):
    """The key–value cache (batch first, so beam search can reorder it). ``P`` tokens decoded so far."""

    self_k: torch.Tensor  # (B, L, H, P, d): every layer's self-attention keys of the tokens so far
    self_v: torch.Tensor  # (B, L, H, P, d): … and values
    cross_k: torch.Tensor  # (B, L, H, S, d): every layer's cross-attention keys of enc_out, once per source
    cross_v: torch.Tensor  # (B, L, H, S, d): … and values
    position: torch.Tensor  # (B,) long: P, the position of the next token


class TransformerDecoder(TransformerEmbedding):
    """Target ``E y·√d_model + PE``, ``num_layers`` :class:`TransformerDecoderBlock`, a final
    LayerNorm (pre-norm only) and ``W_o``: the ``init_state``/``step`` interface of
    :mod:`utils.seq2seq`, with a key–value cache.

    Args: as :class:`TransformerSourceEncoder`; ``max_len`` bounds the target positions (decoding
    past it raises); ``norm_first``: pre-norm (default) or the paper's post-norm; ``num_kv_heads``:
    None, or the key/value heads of grouped-query attention in every block, and ``attention_class``
    (see :class:`TransformerDecoderBlock`).

    Raises:
        TypeError, ValueError: as :class:`TransformerSourceEncoder`.
    """

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, d_ff: int, num_layers: int, max_len: int,
                 dropout: float = 0.0, positional: str = "sinusoidal", pad_id: int = 0,
                 norm_first: bool = True, num_kv_heads: int | None = None,
                 attention_class: type[MultiHeadAttention] = MultiHeadAttention) -> None:
        super().__init__(vocab_size, d_model, num_heads, d_ff, num_layers, max_len, dropout, positional, pad_id)
        self.num_heads = num_heads
        self.layers = nn.ModuleList(TransformerDecoderBlock(d_model, num_heads, d_ff, dropout, norm_first,
                                                            num_kv_heads=num_kv_heads, attention_class=attention_class)
                                    for _ in range(num_layers))
        self.num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.out = nn.Linear(d_model, vocab_size)  # W_o

    def run_layers(self, x: torch.Tensor, memory: torch.Tensor, memory_key_padding_mask: torch.Tensor | None = None,
                   need_weights: str = "none") -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block stack in one causal pass: ``x (B, T, d_model)`` -> ``(h (B, T, d_model), weights)``.

        ``h`` is after the final norm. ``need_weights``: ``"none"`` (None), ``"last"`` (the last
        layer's cross-attention averaged over heads, ``(B, T, S)``) or ``"all"`` (``(L, B, H, T, S)``).

        Raises:
            ValueError: an unknown ``need_weights``; see :meth:`TransformerDecoderBlock.forward`.
        """
        if need_weights not in ("none", "last", "all"):
            raise ValueError(f"need_weights must be 'none', 'last' or 'all', got {need_weights!r}")
        maps = []
        for i, layer in enumerate(self.layers):
            want = need_weights == "all" or (need_weights == "last" and i == len(self.layers) - 1)
            x, w = layer(x, memory, memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=True,
                         need_weights=want)
            maps.append(w)
        if need_weights == "none":
            return self.norm(x), None
        weights = maps[-1].mean(1) if need_weights == "last" else torch.stack(maps)  # (B, T, S) | (L, B, H, T, S)
        return self.norm(x), weights

    def forward(self, tgt_in: torch.Tensor, enc_out: torch.Tensor, src_mask: torch.Tensor | None = None,
                need_weights: str = "last") -> tuple[torch.Tensor, torch.Tensor | None]:
        """``tgt_in (B, T)`` ids -> ``(logits (B, T, V), weights)`` in one parallel pass (see :meth:`run_layers`).

        Target padding needs no mask: under the causal mask no real position sees a later one.

        Raises:
            TypeError, ValueError: ``tgt_in`` not ``(B, T)`` ids in the vocabulary with ``T <= max_len``;
                bad ``enc_out``/``src_mask`` (see :meth:`init_state`).
        """
        require_token_ids("tgt_in", tgt_in, self.embedding.num_embeddings, dim=2, shape="(B, T) token ids")
        self._check_memory(enc_out, src_mask, tgt_in.shape[0])
        h, weights = self.run_layers(self.embed(tgt_in), enc_out, src_mask, need_weights)
        return self.out(h), weights

    def teacher_forced(self, tgt_in: torch.Tensor, state: TransformerDecoderState, enc_out: torch.Tensor,
                       src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: every step at once, from :meth:`init_state`'s state -> ``(logits (B, T, V), weights (B, T, S))``.

        Raises:
            ValueError: a state that has already decoded tokens; see :meth:`forward`.
        """
        if state.self_k.shape[3]:
            raise ValueError(f"teacher_forced starts from init_state's state, but this one has decoded "
                             f"{state.self_k.shape[3]} tokens already")
        return self(tgt_in, enc_out, src_mask, need_weights="last")

    def init_state(self, enc_out: torch.Tensor, enc_final=None,
                   src_mask: torch.Tensor | None = None) -> TransformerDecoderState:
        """An empty self-attention cache and every layer's cross-attention keys and values of ``enc_out``.

        ``enc_out (B, S, d_model)``; ``enc_final`` is not read; ``src_mask (B, S)`` True at real tokens.

        Raises:
            TypeError: ``enc_out`` not a floating-point tensor; ``src_mask`` not bool.
            ValueError: ``enc_out`` not ``(B, S, d_model)``; ``src_mask`` not ``(B, S)``.
        """
        self._check_memory(enc_out, src_mask)
        blocks = cast(Iterable[TransformerDecoderBlock], self.layers)  # an nn.ModuleList yields plain Modules
        cross = [layer.multihead_attn.project_kv(enc_out) for layer in blocks]  # L × (B, H, S, d)
        B, L, H = enc_out.shape[0], len(self.layers), self.num_kv_heads  # H: the heads the cache holds
        empty = enc_out.new_zeros(B, L, H, 0, self.d_model // self.num_heads)  # P = 0 tokens so far, d per head
        return TransformerDecoderState(empty, empty, torch.stack([k for k, _ in cross], 1),  # (B, L, H, S, d)
                                       torch.stack([v for _, v in cross], 1),
                                       torch.zeros(B, dtype=torch.long, device=enc_out.device))

    def step(self, prev_token: torch.Tensor, state: TransformerDecoderState, enc_out: torch.Tensor,
             src_mask: torch.Tensor | None = None):
        """One token with the cache: ``prev_token (B,)`` -> ``(logits (B, V), new state, weights (B, S))``.

        ``weights``: the last layer's cross-attention, averaged over heads. ``enc_out`` is not read
        again: its keys and values are in the state.

        Raises:
            TypeError, ValueError: ``prev_token`` not ``(B,)`` ids in the vocabulary; a state that
                is not a :class:`TransformerDecoderState` of this batch; ``src_mask`` not ``(B, S)``
                bool; a step past ``max_len``.
        """
        require_token_ids("prev_token", prev_token, self.embedding.num_embeddings, dim=1, shape="(B,) token ids")
        if not isinstance(state, TransformerDecoderState):
            raise TypeError(f"state must be a TransformerDecoderState (from init_state), got {type(state).__name__}")
        B, S = prev_token.shape[0], state.cross_k.shape[3]
        if state.cross_k.shape[0] != B:
            raise ValueError(f"state holds {state.cross_k.shape[0]} rows but prev_token has {B}")
        require_src_mask(src_mask, B, S)
        P = state.self_k.shape[3]
        x = self.embed(prev_token.unsqueeze(1), start=P)  # (B,) -> (B, 1) -> (B, 1, d_model)
        ks, vs, w = [], [], None
        for i, layer in enumerate(cast(Iterable[TransformerDecoderBlock], self.layers)):  # a ModuleList yields Modules
            x, k, v, w = layer.forward_cached(x, state.self_k[:, i], state.self_v[:, i], state.cross_k[:, i],
                                              state.cross_v[:, i], src_mask, need_weights=i == len(self.layers) - 1)
            ks.append(k)
            vs.append(v)
        assert w is not None  # the last layer's weights (num_layers >= 1)
        logits = self.out(self.norm(x)).squeeze(1)  # (B, 1, V) -> (B, V)
        # L × (B, H, P+1, d) -> (B, L, H, P+1, d)
        new = TransformerDecoderState(torch.stack(ks, 1), torch.stack(vs, 1),
                                      state.cross_k, state.cross_v, state.position + 1)
        return logits, new, w.mean(1).squeeze(1)  # (B, H, 1, S) -> (B, 1, S) -> (B, S)

    def _check_memory(self, enc_out, src_mask, batch: int | None = None) -> None:
        require_tensor("enc_out", enc_out, dim=3, shape=f"(B, S, {self.d_model})")
        if enc_out.shape[-1] != self.d_model or (batch is not None and enc_out.shape[0] != batch):
            raise ValueError(f"enc_out must be (B, S, d_model={self.d_model})"
                             f"{'' if batch is None else f' with B = {batch}'}, got shape {tuple(enc_out.shape)}")
        if not enc_out.is_floating_point():
            raise TypeError(f"enc_out must be a floating-point tensor, got dtype {enc_out.dtype}")
        require_src_mask(src_mask, *enc_out.shape[:2])


def build_transformer_model(vocab_size_src: int, vocab_size_tgt: int, d_model: int, num_heads: int, d_ff: int,
                            num_layers: int, max_len: int, dropout: float = 0.0, seed: int = 0,
                            sos_id: int = 1, eos_id: int = 2, pad_id: int = 0,
                            positional: str = "sinusoidal", count_from_end: bool = False,
                            num_kv_heads: int | None = None, attention: str = "softmax") -> Seq2Seq:
    """A pre-norm Transformer encoder–decoder (``num_layers`` blocks each side) joined by
    :class:`utils.seq2seq.Seq2Seq`, on the CPU. ``max_len`` bounds source and target positions.
    Its weights come from ``torch.manual_seed(model_seed(seed))`` inside
    :func:`torch.random.fork_rng`: the same model every time (for a given ``COURSE_SEED_OFFSET``),
    and the caller's random state is left as it was. ``count_from_end``: source positions counted
    from both ends (see :class:`TransformerSourceEncoder`). ``num_kv_heads``: the decoder's attentions
    share that many key/value heads (grouped-query attention, chapter 8; None: multi-head attention),
    which is what its cache stores; the encoder keeps multi-head attention. ``attention``: ``"softmax"``
    (chapter 6's :class:`MultiHeadAttention`) or ``"linear"`` (:class:`~utils.linear_attention.LinearMultiHeadAttention`,
    chapter 8) in every attention, encoder and decoder; only the class changes, so the weights are the
    same draws either way.

    Raises:
        TypeError, ValueError: as :class:`TransformerSourceEncoder` and :class:`TransformerDecoder`;
            an unknown ``attention``; ``attention="linear"`` with ``num_kv_heads`` (not supported).
    """
    require_choice("attention", attention, tuple(ATTENTION))
    if attention != "softmax" and num_kv_heads is not None:
        raise ValueError(f"attention={attention!r} with num_kv_heads={num_kv_heads} is not supported: "
                         "grouped-query attention is softmax attention here; pass num_kv_heads=None")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed(seed))
        encoder = TransformerSourceEncoder(vocab_size_src, d_model, num_heads, d_ff, num_layers, max_len,
                                           dropout, positional, pad_id, count_from_end, ATTENTION[attention])
        decoder = TransformerDecoder(vocab_size_tgt, d_model, num_heads, d_ff, num_layers, max_len, dropout,
                                     positional, pad_id, num_kv_heads=num_kv_heads, attention_class=ATTENTION[attention])
    return Seq2Seq(encoder, decoder, sos_id, eos_id, pad_id)


@torch.no_grad()
def cross_attention_maps(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor,
                         tgt_in: torch.Tensor) -> torch.Tensor:
    """Every layer's and head's cross-attention under teacher forcing: ``(L, B, H, T, S)``, in eval mode.

    Raises:
        TypeError: ``model.decoder`` not a :class:`TransformerDecoder`.
        TypeError, ValueError: bad ids or lengths (see :meth:`TransformerDecoder.forward`).
    """
    if not isinstance(model.decoder, TransformerDecoder):
        raise TypeError(f"model.decoder must be a TransformerDecoder, got {type(model.decoder).__name__}")
    was_training = model.training
    model.eval()
    try:
        enc_out, src_mask, _ = model.encode(src, src_lengths)
        return model.decoder(tgt_in, enc_out, src_mask, need_weights="all")[1]
    finally:
        model.train(was_training)
