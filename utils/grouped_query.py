"""What the key–value cache costs, and grouped-query attention (chapter 8).

Decoding with chapter 7's key–value cache stores, for every layer and every token so far, a key
and a value for each of the ``h`` heads::

    bytes = 2 · L · h · d · T · B · (bytes per number)        (:func:`kv_cache_bytes`)

Multi-query attention (Shazeer, ``shazeer2019``) lets all ``h`` query heads share ONE key head and
ONE value head; grouped-query attention (Ainslie et al., ``ainslie2023``) sits in between: ``g``
key/value heads, each shared by a group of ``h / g`` query heads. The cache shrinks by ``h / g``;
the queries keep their ``h`` heads. :class:`GroupedQueryAttention` is the course's
:class:`~utils.transformer.MultiHeadAttention` with smaller key and value projections:
``num_kv_heads = num_heads`` is multi-head attention (same weights, same numbers),
``num_kv_heads = 1`` is multi-query attention.

Shapes (batch first): ``x (B, T, d_model)``; queries ``(B, h, T, d)`` with ``d = d_model / h``;
keys, values and the cache ``(B, g, P, d)`` with ``g = num_kv_heads``. Query head ``i`` reads
key/value head ``i // (h / g)``. Masks: bool, **True = may attend** (see :mod:`utils.transformer`).
"""

from __future__ import annotations

import torch
from torch import nn

from utils.transformer import MultiHeadAttention, _split_heads
from utils.validate import require_float, require_int, require_same_dtype, require_sequence, require_tensor

__all__ = ["GroupedQueryAttention", "kv_cache_bytes"]


def kv_cache_bytes(num_layers: int, num_kv_heads: int, d_head: int, seq_len: int, batch: int,
                   dtype: torch.dtype = torch.float32) -> int:
    """Bytes a key–value cache holds: ``2 · L · g · d · T · B · (bytes per number of dtype)``.

    The 2 is for keys and values. Per token and layer it is ``2 · g · d`` numbers, whatever ``T``;
    the whole cache grows linearly with the length ``T`` and the batch ``B``.

    Args:
        num_layers: ``L``; num_kv_heads: ``g`` (``h`` for multi-head attention); d_head: ``d``;
        seq_len: ``T``, tokens in the cache; batch: ``B``; dtype: the cache's dtype.

    Raises:
        TypeError: sizes that are not ints; ``dtype`` not a ``torch.dtype``.
        ValueError: ``L``, ``g`` or ``d`` below 1, ``T`` or ``B`` negative.
    """
    for name, value, low in (("num_layers", num_layers, 1), ("num_kv_heads", num_kv_heads, 1), ("d_head", d_head, 1),
                             ("seq_len", seq_len, 0), ("batch", batch, 0)):
        require_int(name, value, minimum=low)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype (e.g. torch.float16), got {type(dtype).__name__}")
    return 2 * num_layers * num_kv_heads * d_head * seq_len * batch * dtype.itemsize


class GroupedQueryAttention(MultiHeadAttention):
    """Self-attention with ``num_heads`` query heads sharing ``num_kv_heads`` key/value heads.

    ``head_i = Attention(Q W_i^Q, K W_{g(i)}^K, V W_{g(i)}^V)`` with ``g(i) = i // (h / g)``, then
    ``Concat(head_1..head_h) W^O`` as in :class:`~utils.transformer.MultiHeadAttention`, whose
    ``forward`` (masks, ``is_causal``, the readable and the fast path) this class keeps. Only
    ``k_proj`` and ``v_proj`` shrink, to ``g · d`` outputs, and :meth:`project_kv` returns ``g``
    heads: the cache holds ``g`` heads, and each is repeated for its group just before attending
    (fused kernels, ``F.scaled_dot_product_attention(enable_gqa=True)``, skip even that copy).

    Args:
        d_model: ``E``; num_heads: ``h`` (``E`` divisible by it); num_kv_heads: ``g`` (``h``
            divisible by it); dropout: on the weights, in training only; bias: in the projections.

    Raises:
        TypeError, ValueError: sizes not positive ints, or not divisible as above; dropout outside ``[0, 1)``.
    """

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, dropout: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__(d_model, num_heads, dropout, bias)
        num_kv_heads = require_int("num_kv_heads", num_kv_heads, minimum=1)
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads={num_heads} must be divisible by num_kv_heads={num_kv_heads}")
        self.num_kv_heads, self.group_size = num_kv_heads, num_heads // num_kv_heads
        if num_kv_heads != num_heads:  # g key and value heads of size d: g · d outputs instead of E
            self.k_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=bias)
            self.v_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=bias)

    def project_kv(self, key: torch.Tensor, value: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``K W^K``, ``V W^V`` in ``g`` heads: ``(B, S, d_model)`` -> ``(B, g, S, d)`` each (what a cache stores).

        Raises:
            TypeError: not floating-point tensors of the module's dtype.
            ValueError: not ``(B, S, d_model)``, or ``key`` and ``value`` of other ``B`` or ``S``.
        """
        value = key if value is None else value
        for name, t in (("key", key), ("value", value)):
            require_sequence(name, t, self.embed_dim)
            require_float(name, t)
        require_same_dtype(("key", key), ("value", value))
        self._check_dtype("key", key)
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must share B and S")
        k = _split_heads(self.k_proj(key), self.num_kv_heads)  # (B, S, g·d) -> (B, g, S, d)
        v = _split_heads(self.v_proj(value), self.num_kv_heads)
        return k, v

    def attend_kv(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                  attn_mask: torch.Tensor | None = None,
                  average_attn_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` with keys and values from :meth:`project_kv`: ``k``, ``v (B, g, S, d)``.

        Masks and the result as in :meth:`MultiHeadAttention.attend_kv`.

        Raises:
            TypeError: ``query`` not a floating-point tensor of the module's dtype (and of ``k``'s).
            ValueError: ``query`` not ``(B, T, d_model)``; ``k``, ``v`` not ``(B, g, S, d)``; bad masks.
        """
        require_sequence("query", query, self.embed_dim)
        require_float("query", query)
        B, T = query.shape[:2]
        want = f"(B={B}, g={self.num_kv_heads}, S, d={self.head_dim})"
        for name, t in (("k", k), ("v", v)):
            require_tensor(name, t, dim=4, shape=want)
            if (t.shape[0], t.shape[1], t.shape[3]) != (B, self.num_kv_heads, self.head_dim) or t.shape[2] != k.shape[2]:
                raise ValueError(f"{name} must be {want} with k and v sharing S, got {tuple(t.shape)}")
        require_same_dtype(("query", query), ("k", k), ("v", v))
        self._check_dtype("query", query)
        mask = self._merge_masks(key_padding_mask, attn_mask, B, T, k.shape[2], query)
        return self._attend(query, k, v, mask, need_weights, average_attn_weights, False)

    def _attend(self, query, k, v, mask, need_weights, average_attn_weights, is_causal):
        """Repeat each key/value head for its group of query heads, then attend as multi-head attention."""
        k = k.repeat_interleave(self.group_size, dim=1)  # (B, g, S, d) -> (B, h, S, d): heads 0,0,…,1,1,…
        v = v.repeat_interleave(self.group_size, dim=1)
        return super()._attend(query, k, v, mask, need_weights, average_attn_weights, is_causal)

    def _check_dtype(self, name: str, t: torch.Tensor) -> None:
        if t.dtype != self.out_proj.weight.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but the module's weights are {self.out_proj.weight.dtype}; "
                            f"convert one of them (e.g. module.to({t.dtype}))")

    # -- decoding with a cache of g heads (chapter 7's convention: batch first, grown along time) --
    def empty_cache(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cache_k, cache_v)``, each ``(B, g, 0, d)`` on the module's device and dtype: no token yet."""
        batch = require_int("batch", batch, minimum=0)
        w = self.out_proj.weight
        empty = w.new_zeros(batch, self.num_kv_heads, 0, self.head_dim)
        return empty, empty.clone()

    def forward_cached(self, x: torch.Tensor, cache_k: torch.Tensor,
                       cache_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Causal self-attention for ``x (B, T, d_model)``, ``T`` new tokens after the ``P`` cached ones.

        As :meth:`utils.transformer_decoder.TransformerDecoderBlock.forward_cached`: project only
        the new tokens' keys and values, append them along time (dim 2), attend; new token ``t``
        (position ``P + t``) sees positions ``0 … P + t``. Usually ``T = 1``, one decoding step;
        token by token from :meth:`empty_cache`, it gives ``forward(x, is_causal=True)``.

        Returns:
            ``(output (B, T, d_model), cache_k, cache_v (B, g, P + T, d))``.

        Raises:
            TypeError, ValueError: ``x`` not ``(B, T, d_model)``; a cache not ``(B, g, P, d)``.
        """
        require_sequence("x", x, self.embed_dim)
        B, T = x.shape[:2]
        want = f"(B={B}, g={self.num_kv_heads}, P, d={self.head_dim})"
        for name, t in (("cache_k", cache_k), ("cache_v", cache_v)):
            require_tensor(name, t, dim=4, shape=want)
            if (t.shape[0], t.shape[1], t.shape[3]) != (B, self.num_kv_heads, self.head_dim) or t.shape != cache_k.shape:
                raise ValueError(f"{name} must be {want} like cache_k, got {tuple(t.shape)}")
        P = cache_k.shape[2]
        k, v = self.project_kv(x)  # the new tokens only: (B, T, d_model) -> (B, g, T, d)
        k, v = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)  # -> (B, g, P+T, d)
        mask = None if T == 1 else torch.ones(T, P + T, dtype=torch.bool, device=x.device).tril(P)
        output, _ = self.attend_kv(x, k, v, need_weights=False, attn_mask=mask)
        return output, k, v

    # -- PyTorch's module has h key/value heads: only multi-head attention copies to and from it --
    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> GroupedQueryAttention:
        """A ``GroupedQueryAttention`` with ``num_kv_heads = num_heads`` and ``module``'s weights."""
        ours = cls(module.embed_dim, module.num_heads, module.num_heads, module.dropout,
                   bias=module.in_proj_bias is not None)
        ref = module.out_proj.weight
        return ours.to(device=ref.device, dtype=ref.dtype).load_from_torch(module)

    def load_from_torch(self, module: nn.MultiheadAttention) -> GroupedQueryAttention:
        """Copy ``module``'s weights (only with ``num_kv_heads = num_heads``). Returns ``self``.

        Raises:
            ValueError: ``num_kv_heads < num_heads``, or sizes that differ.
        """
        self._require_multi_head("load_from_torch")
        return super().load_from_torch(module)

    def to_torch(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention(batch_first=True)`` with these weights (only with ``num_kv_heads = num_heads``)."""
        self._require_multi_head("to_torch")
        return super().to_torch()

    def _require_multi_head(self, what: str) -> None:
        if self.group_size != 1:
            raise ValueError(f"{what} needs num_kv_heads == num_heads (nn.MultiheadAttention has a key and a value "
                             f"head per query head), but this module has {self.num_kv_heads} for {self.num_heads}")
