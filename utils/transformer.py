"""Self-attention with queries, keys and values: multi-head attention (chapter 6).

Shapes (batch first, always)::

    query (B, T_q, E)   key (B, T_k, kdim)   value (B, T_k, vdim)   output (B, T_q, E)
    per-head tensors (B, h, T, d_k) with d_k = E / h;  weights (B, h, T_q, T_k) or averaged (B, T_q, T_k)

``h`` is the number of heads and ``d_k`` the size of one head (``head_dim`` in the code; a head's
values have ``d_v = d_k`` here), as in Vaswani et al. (2017). In this course ``H`` is the hidden
size of a recurrent network, not a number of heads.

**Masks** (:mod:`utils.masks` builds them from lengths and from order). Every boolean mask here
means **True = may attend**, the course's convention and that of
:func:`torch.nn.functional.scaled_dot_product_attention`. ``torch.nn.MultiheadAttention``
uses the opposite one for booleans (True = *ignore*), so to give it one of our masks, pass
``~mask``. Float masks mean the same everywhere: they are added to the scores (``-inf`` blocks).
``key_padding_mask`` is ``(B, T_k)`` (True = a real token); ``attn_mask`` is ``(T_q, T_k)``,
``(B*h, T_q, T_k)`` as in PyTorch, or anything broadcastable to ``(B, h, T_q, T_k)``.
A query that may attend to no key at all gets zero weights and a zero context, never NaN
(``nn.MultiheadAttention`` may return NaN there, depending on the PyTorch version and on which of
its internal paths it takes).

Two paths compute the same thing: the readable one goes through
:func:`utils.attention.scaled_dot_product_attention` and returns the weights; the fast one calls
``F.scaled_dot_product_attention`` and is used when the weights are not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from utils.attention import scaled_dot_product_attention
from utils.masks import causal_mask
from utils.validate import (
    require_features,
    require_float,
    require_int,
    require_mask,
    require_number,
    require_same_dtype,
    require_sequence,
    require_tensor,
)

if TYPE_CHECKING:
    from typing import Self  # new in Python 3.11; requires-python allows 3.10, where annotations stay strings

__all__ = ["MultiHeadAttention"]


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, T, h*d_k) -> (B, h, T, d_k)``: each of the ``h = num_heads`` heads gets its own slice of the features.

    Private: chapter 6 asks learners to write this one (and :func:`_merge_heads`) themselves.

    Raises:
        TypeError: ``x`` not a tensor, ``num_heads`` not an int.
        ValueError: ``x`` not 3-D, ``num_heads < 1``, or ``E`` not divisible by it.
    """
    num_heads = require_int("num_heads", num_heads, minimum=1)
    require_tensor("x", x)
    if x.dim() != 3 or x.shape[-1] % num_heads:
        raise ValueError(f"x must be (B, T, E) with E divisible by num_heads={num_heads}, got {tuple(x.shape)}")
    return x.unflatten(-1, (num_heads, -1)).transpose(-3, -2)  # (B, T, h, d_k) -> (B, h, T, d_k)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, h, T, d_k) -> (B, T, h*d_k)``: the heads' outputs side by side (the inverse of split).

    Raises:
        TypeError: ``x`` not a tensor.
        ValueError: ``x`` not 4-D.
    """
    require_tensor("x", x)
    if x.dim() != 4:
        raise ValueError(f"x must be (B, H, T, d), got shape {tuple(x.shape)}")
    return x.transpose(-3, -2).flatten(-2)  # (B, h, T, d_k) -> (B, T, h, d_k) -> (B, T, h*d_k)


class MultiHeadAttention(nn.Module):
    """``MultiHead(Q, K, V) = Concat(head_1..head_h) W^O``, ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Vaswani et al. (2017). The ``h`` per-head projections are stored side by side in one
    ``nn.Linear`` each for queries, keys and values, which is what ``_split_heads`` relies on.

    Args:
        embed_dim: ``E``, the size of queries and of the output.
        num_heads: ``h``, the number of heads; ``E`` must be divisible by it (``d_k = E / h``,
            stored as ``head_dim``).
        dropout: dropout on the attention weights, in training mode only.
        bias: biases in the four projections.
        kdim, vdim: the sizes of keys and values (default ``E``), for cross-attention.
        batch_first: must be True (the course is batch first); kept for PyTorch's signature.

    Works in float16, bfloat16, float32 and float64 (CPU tested; both paths), with ``T_q = 0``,
    ``T_k = 0`` and an empty batch.

    Raises:
        TypeError: sizes that are not ints, a dropout that is not a number.
        ValueError: sizes below 1, ``embed_dim`` not divisible by ``num_heads``, dropout outside
            ``[0, 1)``, ``batch_first=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = True) -> None:
        super().__init__()
        if not batch_first:
            raise ValueError("batch_first must be True: inputs are (B, T, E) throughout the course")
        embed_dim = require_int("embed_dim", embed_dim, minimum=1)
        num_heads = require_int("num_heads", num_heads, minimum=1)
        kdim = None if kdim is None else require_int("kdim", kdim, minimum=1)
        vdim = None if vdim is None else require_int("vdim", vdim, minimum=1)
        dropout = require_number("dropout", dropout, low=0.0, high=1.0, high_open=True)
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim, self.dropout, self.batch_first = kdim or embed_dim, vdim or embed_dim, dropout, True
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^Q of every head, side by side
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias)  # W^K
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^O
        self.fast_path = True  # set False to always take the readable path

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query (B, T_q, E)`` to ``key (B, T_k, kdim)`` / ``value (B, T_k, vdim)``.

        ``key`` and ``value`` default to ``query`` (self-attention). Masks: see the module
        docstring (bool True = may attend). ``is_causal`` builds the causal mask itself (PyTorch's
        module only takes it as a hint next to an ``attn_mask``); given both, they are combined.

        Returns:
            ``(output (B, T_q, E), weights)``: weights ``(B, T_q, T_k)`` averaged over heads, or
            ``(B, h, T_q, T_k)`` if not ``average_attn_weights``; None if not ``need_weights``.
            A query that may attend to no key gets zero weights and a zero context (output
            ``= out_proj.bias``) on both paths, with finite gradients.

        Raises:
            TypeError: inputs that are not floating-point tensors of the module's dtype; an
                integer mask (use ``mask.bool()``: True = may attend).
            ValueError: shapes that do not fit (``(B, T, E)``, shared ``B`` and ``T_k``); masks of
                the wrong shape, or float masks of 0s and 1s; NaN or ``+inf`` in the scores
                at an allowed position, on both paths (the fast path checks its output and, if it is
                not finite, computes it again on the readable path). A masked key is not read: NaN
                or inf in its value never reaches the output.
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        B, T_q, _ = query.shape
        T_k = key.shape[1]
        mask = self._merge_masks(key_padding_mask, attn_mask, B, T_q, T_k, query)
        k, v = self.project_kv(key, value)  # (B, h, T_k, d_k) each
        return self._attend(query, k, v, mask, need_weights, average_attn_weights, is_causal)

    # -- a key-value cache (chapter 7): project keys and values once, attend to them many times --
    def project_kv(self, key: torch.Tensor, value: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head keys and values ``K W^K``, ``V W^V``: ``(B, T_k, kdim)`` -> ``(B, h, T_k, d_k)`` each.

        ``value`` defaults to ``key``. A decoder computes these once per source sentence (for
        cross-attention) or once per token (for a key-value cache), then calls :meth:`attend_kv`.

        Raises:
            TypeError: not floating-point tensors of the module's dtype.
            ValueError: not ``(B, T_k, kdim)`` and ``(B, T_k, vdim)`` with a shared ``B`` and ``T_k``.
        """
        value = key if value is None else value
        for name, t, size in (("key", key, self.kdim), ("value", value, self.vdim)):
            require_tensor(name, t, dim=3, shape=f"(B, T_k, {size})")
            require_features(name, t, size, "this attention expects")
            require_float(name, t)
        require_same_dtype(("key", key), ("value", value))
        if key.dtype != self.k_proj.weight.dtype:
            raise TypeError(f"key has dtype {key.dtype} but the module's weights are {self.k_proj.weight.dtype}; "
                            f"convert one of them (e.g. module.to({key.dtype}))")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must share B and T_k")
        k = _split_heads(self.k_proj(key), self.num_heads)  # (B, T_k, E) -> (B, h, T_k, d_k)
        v = _split_heads(self.v_proj(value), self.num_heads)  # (B, T_k, E) -> (B, h, T_k, d_k)
        return k, v

    def attend_kv(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                  attn_mask: torch.Tensor | None = None,
                  average_attn_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` with keys and values already projected by :meth:`project_kv`.

        ``query (B, T_q, E)``, ``k``, ``v (B, h, T_k, d_k)``; masks and the result as in
        :meth:`forward` (``forward(q, key, value) == attend_kv(q, *project_kv(key, value))``).

        Raises:
            TypeError: ``query`` not a floating-point tensor of the module's dtype (and of ``k``'s).
            ValueError: ``query`` not ``(B, T_q, E)``; ``k``, ``v`` not ``(B, h, T_k, d_k)`` with
                the query's ``B``, this module's ``h`` and ``d_k``; masks of the wrong shape.
        """
        require_sequence("query", query, self.embed_dim)
        require_float("query", query)
        B, T_q, _ = query.shape
        want = f"(B={B}, H={self.num_heads}, T_k, d={self.head_dim})"
        for name, t in (("k", k), ("v", v)):
            require_tensor(name, t, dim=4, shape=want)
            if (t.shape[0], t.shape[1], t.shape[3]) != (B, self.num_heads, self.head_dim) or t.shape[2] != k.shape[2]:
                raise ValueError(f"{name} must be {want} with k and v sharing T_k, got {tuple(t.shape)}")
        require_same_dtype(("query", query), ("k", k), ("v", v))
        if query.dtype != self.out_proj.weight.dtype:
            raise TypeError(f"query has dtype {query.dtype} but the module's weights are "
                            f"{self.out_proj.weight.dtype}; convert one of them")
        mask = self._merge_masks(key_padding_mask, attn_mask, B, T_q, k.shape[2], query)
        return self._attend(query, k, v, mask, need_weights, average_attn_weights, False)

    def _attend(self, query, k, v, mask, need_weights, average_attn_weights, is_causal):
        """The rest of :meth:`forward`: project the queries, attend (readable or fast), ``W^O``."""
        T_q, T_k = query.shape[1], k.shape[2]
        q = _split_heads(self.q_proj(query), self.num_heads)  # (B, T_q, E) -> (B, h, T_q, d_k)
        p = self.dropout if self.training else 0.0
        readable = need_weights or not self.fast_path
        if is_causal and (readable or mask is not None):  # fold the causal mask into the others
            causal = causal_mask(T_q, T_k, query.device)  # (T_q, T_k), True = may attend
            if mask is None or mask.dtype == torch.bool:
                mask = causal if mask is None else mask & causal
            else:
                mask = mask.masked_fill(~causal, float("-inf"))
            is_causal = False
        weights = None
        if readable:  # softmax(Q Kᵀ / √d_k) V, spelled out, weights kept
            context, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:  # PyTorch's fused kernels: the same numbers, no weights
            given = mask  # as passed, for the readable path below
            empty = None
            if mask is not None and T_k > 0:  # keep the promise: a query with no key left gets zeros
                allowed = mask if mask.dtype == torch.bool else mask > float("-inf")
                has_key = allowed.any(-1, keepdim=True)
                if not bool(has_key.all()):  # let those rows see every key (finite, no NaN in the
                    empty = ~has_key  # kernel's forward or backward), then zero their context
                    mask = mask | empty if mask.dtype == torch.bool else mask.masked_fill(empty, 0.0)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal)
            if empty is not None:
                context = context.masked_fill(empty, 0.0)
            if not bool(torch.isfinite(context).all()):  # NaN or inf came in: the kernel multiplies a
                # masked key's value by its zero weight (0 · NaN = NaN). Redo it readably: that path
                # never reads a masked key, and names NaN or +inf in the scores.
                context, _ = scaled_dot_product_attention(q, k, v, attn_mask=given, dropout_p=p, is_causal=is_causal)
        output = self.out_proj(_merge_heads(context))  # (B, h, T_q, d_k) -> (B, T_q, E) -> W^O
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # (B, h, T_q, T_k) -> (B, T_q, T_k)
        return output, (weights if need_weights else None)

    def _check_inputs(self, query, key, value) -> None:
        named = (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim))
        for name, t, size in named:
            require_sequence(name, t, size)
            require_float(name, t)
        require_same_dtype(("query", query), ("key", key), ("value", value))
        weight = self.out_proj.weight
        if query.dtype != weight.dtype:
            raise TypeError(f"query has dtype {query.dtype} but the module's weights are {weight.dtype}; "
                            f"convert one of them (e.g. module.to({query.dtype}))")
        if not query.shape[0] == key.shape[0] == value.shape[0] or key.shape[1] != value.shape[1]:
            raise ValueError(f"query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} must share B, and key and value T_k")

    def _merge_masks(self, key_padding_mask, attn_mask, B, T_q, T_k, ref) -> torch.Tensor | None:
        """One mask broadcastable to ``(B, h, T_q, T_k)``: bool (True = may attend) or float (added)."""
        masks = []
        require_mask("attn_mask", attn_mask, None)
        require_mask("key_padding_mask", key_padding_mask, None, meaning="True = a real token")
        if attn_mask is not None:
            if attn_mask.dim() == 2 and attn_mask.shape == (T_q, T_k):
                attn_mask = attn_mask.view(1, 1, T_q, T_k)
            elif attn_mask.dim() == 3 and attn_mask.shape == (B * self.num_heads, T_q, T_k):
                attn_mask = attn_mask.view(B, self.num_heads, T_q, T_k)  # PyTorch's (B*h, T_q, T_k)
            else:
                try:
                    torch.broadcast_to(attn_mask, (B, self.num_heads, T_q, T_k))
                except RuntimeError:
                    raise ValueError(f"attn_mask has shape {tuple(attn_mask.shape)}; expected ({T_q}, {T_k}), "
                                     f"({B * self.num_heads}, {T_q}, {T_k}) or broadcastable to "
                                     f"({B}, {self.num_heads}, {T_q}, {T_k})") from None
            masks.append(attn_mask)
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, T_k):
                raise ValueError(f"key_padding_mask must be (B, T_k) = ({B}, {T_k}), "
                                 f"got {tuple(key_padding_mask.shape)}")
            masks.append(key_padding_mask.view(B, 1, 1, T_k))  # (B, T_k) -> (B, 1, 1, T_k)
        if not masks:
            return None
        if all(m.dtype == torch.bool for m in masks):
            return masks[0] if len(masks) == 1 else masks[0] & masks[1]
        zero = torch.zeros((), dtype=ref.dtype, device=ref.device)
        as_float = [torch.where(m, zero, float("-inf")) if m.dtype == torch.bool else m.to(ref.dtype) for m in masks]
        return as_float[0] if len(as_float) == 1 else as_float[0] + as_float[1]

    # -- copying weights to and from PyTorch's module ------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A new ``MultiHeadAttention`` with ``module``'s sizes and weights (same device, dtype)."""
        ours = cls(module.embed_dim, module.num_heads, module.dropout, bias=module.in_proj_bias is not None,
                   kdim=module.kdim, vdim=module.vdim)
        ref = module.out_proj.weight
        return ours.to(device=ref.device, dtype=ref.dtype).load_from_torch(module)

    @torch.no_grad()
    def load_from_torch(self, module: nn.MultiheadAttention) -> Self:
        """Copy ``module``'s weights into this one (sizes must agree). Returns ``self``.

        PyTorch keeps ``W^Q, W^K, W^V`` stacked in ``in_proj_weight (3E, E)`` when
        ``kdim == vdim == E``, and in ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``
        otherwise. Its ``batch_first`` setting does not change the weights.
        """
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError("add_bias_kv and add_zero_attn have no counterpart here")
        mine = (self.embed_dim, self.num_heads, self.kdim, self.vdim, self.q_proj.bias is not None)
        theirs = (module.embed_dim, module.num_heads, module.kdim, module.vdim, module.in_proj_bias is not None)
        if mine != theirs:
            raise ValueError(f"(embed_dim, num_heads, kdim, vdim, bias) differ: ours {mine}, module's {theirs}")
        if module._qkv_same_embed_dim:
            w_q, w_k, w_v = module.in_proj_weight.chunk(3)  # (3E, E) -> 3 x (E, E)
        else:
            w_q, w_k, w_v = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
        for proj, w in ((self.q_proj, w_q), (self.k_proj, w_k), (self.v_proj, w_v)):
            proj.weight.copy_(w)
        if module.in_proj_bias is not None:
            for proj, b in zip((self.q_proj, self.k_proj, self.v_proj), module.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
        self.out_proj.load_state_dict(module.out_proj.state_dict())
        return self

    @torch.no_grad()
    def to_torch(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention(batch_first=True)`` with this module's weights."""
        w = self.out_proj.weight
        module = nn.MultiheadAttention(self.embed_dim, self.num_heads, self.dropout, bias=self.q_proj.bias is not None,
                                       kdim=self.kdim, vdim=self.vdim, batch_first=True, device=w.device, dtype=w.dtype)
        weights = (self.q_proj.weight, self.k_proj.weight, self.v_proj.weight)
        if module._qkv_same_embed_dim:
            module.in_proj_weight.copy_(torch.cat(weights))
        else:
            for name, wt in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), weights):
                getattr(module, name).copy_(wt)
        if module.in_proj_bias is not None:
            module.in_proj_bias.copy_(torch.cat((self.q_proj.bias, self.k_proj.bias, self.v_proj.bias)))
        module.out_proj.load_state_dict(self.out_proj.state_dict())
        return module
