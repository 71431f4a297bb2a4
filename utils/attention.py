"""Attention as a weighted average: scoring functions, masked softmax and pooling.

Notation (see the course's notation page): a query ``q`` is scored against every key ``k_j``;
the scores ``e_j`` become weights ``α_j = softmax_j(e_j)``; the output is the weighted average of
the values, ``c = Σ_j α_j v_j``. Batched shapes::

    query  (B, T_q, d_q)     one row per query (a decoder step, or a token attending to others)
    key    (B, T_k, d_k)     one row per key (an encoder annotation h_j)
    value  (B, T_k, d_v)     one row per key
    scores, weights (B, T_q, T_k)
    output / context (B, T_q, d_v)

Any number of leading dimensions may stand in for ``B`` (multi-head code uses ``(B, heads, …)``).
A boolean ``mask`` broadcastable to the scores means **True = may attend**, the convention of
:func:`torch.nn.functional.scaled_dot_product_attention`. A query whose keys are all masked gets
zero weights (and a zero output), never NaN. A masked key is not read at all: not its score, and
not its value either, so NaN or inf stored at a masked position never reaches an output.

Scoring functions, with the papers that introduced them:

* dot ``qᵀk`` and general ``qᵀ W_a k`` — Luong, Pham and Manning (2015);
* scaled dot ``qᵀk / √d_k`` — Vaswani et al. (2017);
* additive ``vᵀ tanh(W_q q + W_k k)`` — Bahdanau, Cho and Bengio (2015), whose alignment model is
  ``a(s_{i-1}, h_j) = v_aᵀ tanh(W_a s_{i-1} + U_a h_j)``; Luong's *concat* score
  ``v_aᵀ tanh(W_a [h_t; h̄_s])`` is the same function with ``W_a`` split in two. Xu et al. (2015)
  score image region ``a_i`` against the decoder state ``h_{t-1}`` with a multilayer perceptron,
  ``e_{t,i} = f_att(a_i, h_{t-1})``; chapter 3 gives it one tanh layer, the *attention unit*
  ``m_i = tanh(W_a h_{t-1} + U_a a_i)`` with ``e_{t,i} = v_aᵀ m_i``: the additive score, with the
  state as the query and the regions as keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from utils.validate import (
    check_query_key,
    require_broadcast_batch,
    require_features,
    require_float,
    require_int,
    require_layer_dtype,
    require_mask,
    require_number,
    require_same_dtype,
    require_tensor,
    shape_of,
)

__all__ = [
    "dot_score",
    "scaled_dot_score",
    "GeneralScore",
    "AdditiveScore",
    "masked_softmax",
    "attention_pool",
    "attend",
    "scaled_dot_product_attention",
]


# ----------------------------------------------------------------------------------------------
# Scoring functions: e = score(q, k), shape (..., T_q, T_k)
# ----------------------------------------------------------------------------------------------
def dot_score(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Dot-product scores ``e_{t,j} = q_t · k_j`` (Luong et al. 2015, "dot").

    Args:
        query: ``(..., T_q, d)``.
        key: ``(..., T_k, d)``.

    Returns:
        ``(..., T_q, T_k)``.

    Raises:
        TypeError, ValueError: see :func:`utils.validate.check_query_key` (``d = 0`` included: a score over no
            features is meaningless).
    """
    check_query_key(query, key)
    return query @ key.transpose(-2, -1)  # (..., T_q, d) @ (..., d, T_k) -> (..., T_q, T_k)


def scaled_dot_score(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product scores ``q · k / √d_k`` (Vaswani et al. 2017).

    If the components of ``q`` and ``k`` are independent with mean 0 and variance 1, ``q · k``
    has variance ``d_k``; dividing by ``√d_k`` brings it back to 1 so the softmax does not
    saturate as ``d_k`` grows.

    Raises:
        TypeError, ValueError: see :func:`utils.validate.check_query_key`; ``d_k = 0`` is a ``ValueError``
            (rather than ``0 / √0 = NaN`` scores).
    """
    return dot_score(query, key) / math.sqrt(query.shape[-1])


class GeneralScore(nn.Module):
    """Bilinear ("general") scores ``e_{t,j} = q_tᵀ W_a k_j`` (Luong et al. 2015).

    Args:
        query_size: ``d_q``.
        key_size: ``d_k`` (may differ from ``d_q``).

    Raises:
        TypeError: sizes that are not ints.
        ValueError: sizes below 1 (a score over no features is meaningless).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        require_int("query_size", query_size, minimum=1)
        require_int("key_size", key_size, minimum=1)
        self.query_size, self.key_size = query_size, key_size
        self.W_a = nn.Linear(key_size, query_size, bias=False)  # maps k (d_k) to W_a k (d_q)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """``query (..., T_q, d_q)``, ``key (..., T_k, d_k)`` -> scores ``(..., T_q, T_k)``.

        Raises:
            TypeError: not tensors, not floating point, or a dtype other than the layer's.
            ValueError: wrong feature sizes or batch dimensions (see :func:`utils.validate.check_query_key`).
        """
        check_query_key(query, key, same_features=False)
        require_features("query", query, self.query_size)
        require_features("key", key, self.key_size)
        require_layer_dtype("query", query, self)
        return query @ self.W_a(key).transpose(-2, -1)


class AdditiveScore(nn.Module):
    """Additive scores ``e_{t,j} = vᵀ tanh(W_q q_t + W_k k_j)`` (Bahdanau et al. 2015).

    In Bahdanau's notation ``W_q = W_a`` (applied to the decoder state ``s_{t-1}``) and
    ``W_k = U_a`` (applied to the annotations ``h_j``). ``W_k k_j`` does not depend on the
    query, so :meth:`project_keys` computes it once per source sentence and :meth:`forward`
    accepts the result through ``projected_key``.

    Args:
        query_size: ``d_q``.
        key_size: ``d_k``.
        hidden_size: ``d_a``, the size of the attention unit ``tanh(W_q q + W_k k)``.

    Raises:
        TypeError: sizes that are not ints.
        ValueError: sizes below 1 (a score over no features is meaningless).
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, size in (("query_size", query_size), ("key_size", key_size), ("hidden_size", hidden_size)):
            require_int(name, size, minimum=1)
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, key: torch.Tensor) -> torch.Tensor:
        """``W_k k_j`` for every key: ``(..., T_k, d_k)`` -> ``(..., T_k, d_a)``.

        Raises:
            TypeError: ``key`` is not a floating-point tensor of the layer's dtype.
            ValueError: ``key`` has fewer than 2 dimensions or ``d_k`` features.
        """
        require_tensor("key", key, min_dim=2, shape="(..., T_k, d_k)")
        require_float("key", key)
        require_features("key", key, self.key_size)
        require_layer_dtype("key", key, self)
        return self.W_k(key)

    def units(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        projected_key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The attention units ``m_{t,j} = tanh(W_q q_t + W_k k_j)``: ``(..., T_q, T_k, d_a)``.

        Raises:
            TypeError, ValueError: as :meth:`forward`.
        """
        if projected_key is None:
            if key is None:
                raise ValueError("pass key or projected_key")
            check_query_key(query, key, same_features=False)
            projected_key = self.project_keys(key)
        else:
            require_tensor("query", query, min_dim=2, shape="(..., T_q, d_q)")
            require_tensor("projected_key", projected_key, min_dim=2, shape="(..., T_k, d_a)")
            require_float("query", query)
            require_same_dtype(("query", query), ("projected_key", projected_key))
            require_features("projected_key", projected_key, self.hidden_size)
            require_broadcast_batch("query", query, "projected_key", projected_key)
        require_features("query", query, self.query_size)
        require_layer_dtype("query", query, self)
        return self._units(query, projected_key)

    def _units(self, query: torch.Tensor, projected_key: torch.Tensor) -> torch.Tensor:
        """:meth:`units` without the checks, for callers that have made them once already."""
        q = self.W_q(query).unsqueeze(-2)  # (..., T_q, d_a) -> (..., T_q, 1, d_a)
        k = projected_key.unsqueeze(-3)  # (..., T_k, d_a) -> (..., 1, T_k, d_a)
        return torch.tanh(q + k)  # broadcast -> (..., T_q, T_k, d_a)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        projected_key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores ``(..., T_q, T_k)`` from ``query (..., T_q, d_q)`` and ``key`` or its projection.

        Raises:
            TypeError: not tensors, not floating point, or dtypes that differ (from each other or
                from the layer's weights).
            ValueError: neither ``key`` nor ``projected_key``; wrong feature sizes (``d_q``,
                ``d_k``, or ``d_a`` for ``projected_key``); batch dimensions that do not broadcast.
        """
        return self.v(self.units(query, key, projected_key)).squeeze(-1)


# ----------------------------------------------------------------------------------------------
# From scores to weights to a weighted average
# ----------------------------------------------------------------------------------------------
def masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1
) -> torch.Tensor:
    """Softmax over ``dim`` that gives masked positions exactly zero weight.

    Args:
        scores: any shape, usually ``(..., T_q, T_k)``; float16, bfloat16, float32 or float64.
            ``-inf`` blocks a position like the mask does.
        mask: boolean, broadcastable to ``scores``; **True = may attend**. None = no mask.
        dim: the dimension that sums to one (the keys).

    Returns:
        Weights with the shape of ``scores``. Each row sums to 1 over its unmasked keys; a row
        whose keys are all masked (or all ``-inf``) is all zeros rather than NaN (a plain softmax
        of a row of ``-inf`` is ``0/0``), with zero gradients. Scores at masked positions are
        never read, whatever they hold (NaN included). A dimension of size 0 gives an empty result.

    Raises:
        TypeError: ``scores`` is not a floating-point tensor; ``mask`` is not a bool tensor.
        ValueError: ``mask`` does not broadcast to ``scores``; ``scores`` hold NaN or ``+inf`` at
            a position the mask allows (in float16, scores above 65504 overflow to ``inf``).
    """
    require_tensor("scores", scores)
    require_float("scores", scores)
    require_mask("mask", mask, scores.shape, float_ok=False)
    return _masked_softmax(scores, mask, dim)


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1,
                    name: str = "scores") -> torch.Tensor:
    """:func:`masked_softmax` without the type checks (callers have done them)."""
    filled = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
    if filled.shape[dim] == 0:  # no keys at all: nothing to normalise
        return torch.softmax(filled, dim=dim)
    # One reduction tells every row's state: finite (the usual case), -inf (nothing allowed),
    # NaN or +inf (bad input, which would make the whole row NaN).
    row_max = filled.detach().amax(dim=dim, keepdim=True)
    if bool(torch.isfinite(row_max).all()):
        return torch.softmax(filled, dim=dim)
    bad = torch.isnan(row_max) | (row_max == float("inf"))
    if bool(bad.any()):
        hint = (" (float16 scores above 65504 overflow to inf: compute them in float32)"
                if scores.dtype in (torch.float16, torch.bfloat16) else "")
        raise ValueError(f"{name} contain NaN or +inf at positions that may be attended to, in "
                         f"{int(bad.sum())} of {bad.numel()} rows{hint}")
    any_allowed = row_max > float("-inf")  # rows with at least one key left
    # Rows with no allowed key: compute on zeros (any finite value works), then zero them.
    filled = torch.where(any_allowed, filled, torch.zeros_like(filled))
    weights = torch.softmax(filled, dim=dim)
    return weights * any_allowed


def attention_pool(weights: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The weighted average ``c_t = Σ_j α_{t,j} v_j``.

    Args:
        weights: ``(..., T_q, T_k)``, each row a probability distribution (or zeros).
        value: ``(..., T_k, d_v)``.

    Returns:
        ``(..., T_q, d_v)``; zeros where ``T_k = 0``. A key whose weight is exactly 0 (masked,
        outside a window, dropped out) is not read: NaN or inf in its value does not reach that
        output row (``0 · NaN`` would be NaN), so a fully masked row stays zero. NaN or inf in a
        value that has a nonzero weight is passed through, as in any weighted sum.

    Raises:
        TypeError: not tensors, not floating point, or different dtypes.
        ValueError: fewer than 2 dimensions, ``T_k`` differs, or batch dimensions that do not
            broadcast.
    """
    require_tensor("weights", weights, min_dim=2, shape="(..., T_q, T_k)")
    require_tensor("value", value, min_dim=2, shape="(..., T_k, d_v)")
    require_float("weights", weights)
    require_same_dtype(("weights", weights), ("value", value))
    if weights.shape[-1] != value.shape[-2]:
        raise ValueError(
            f"weights cover {weights.shape[-1]} keys but value has {value.shape[-2]} positions "
            f"(weights {shape_of(weights)}, value {shape_of(value)})"
        )
    require_broadcast_batch("weights", weights, "value", value)
    return _pool(weights, value)


def _pool(weights: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``weights @ value`` without reading values at zero weight (:func:`attention_pool` unchecked)."""
    context = weights @ value  # (..., T_q, T_k) @ (..., T_k, d_v) -> (..., T_q, d_v)
    if bool(torch.isfinite(context).all()):  # the usual case: nothing non-finite was read
        return context
    # NaN or inf in the values (or weights). Recompute with non-finite values set to 0, and keep
    # the first result only where a row gives a nonzero weight to a non-finite value entry. That
    # one is detached: its backward would multiply zero gradients by the NaN values (0 · NaN).
    bad = ~torch.isfinite(value)  # (..., T_k, d_v)
    clean = weights @ value.masked_fill(bad, 0.0)
    reads_bad = ((weights != 0).to(value.dtype) @ bad.to(value.dtype)) > 0  # (..., T_q, d_v)
    return torch.where(reads_bad, context.detach(), clean)


def attend(
    scores: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores to ``(context, weights)``: masked softmax over the keys, then pooling.

    A masked key is not read: NaN or inf in its score or its value does not reach the outputs.

    Raises:
        TypeError, ValueError: see :func:`masked_softmax` and :func:`attention_pool`.
    """
    weights = masked_softmax(scores, mask)
    return attention_pool(weights, value), weights


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q Kᵀ / √d_k) V``, readable, returning the weights as well (Vaswani et al. 2017).

    Same arguments as :func:`torch.nn.functional.scaled_dot_product_attention` (which returns
    only the output). A bool ``attn_mask`` means True = may attend; a float ``attn_mask`` is added
    to the scores. ``is_causal`` lets query ``t`` see keys ``0..t`` only. Works in float16,
    bfloat16, float32 and float64, with ``T_q = 0``, ``T_k = 0`` or an empty batch.

    Args:
        query: ``(..., T_q, d_k)``.
        key: ``(..., T_k, d_k)``.
        value: ``(..., T_k, d_v)``.

    Returns:
        ``(output (..., T_q, d_v), weights (..., T_q, T_k))``. Fully masked rows give zero
        weights and a zero output, never NaN, and zero gradients. A masked key is not read: NaN
        or inf in its ``value`` (or its ``key``) does not reach the output. NaN in the ``value`` of
        a key that is attended to is passed through to the outputs that read it.

    Raises:
        TypeError: inputs that are not floating-point tensors of one dtype; an integer
            ``attn_mask`` (use ``attn_mask.bool()``: True = may attend).
        ValueError: shapes that do not fit (see :func:`utils.validate.check_query_key`; ``d_k = 0`` included);
            an ``attn_mask`` that does not broadcast to ``(..., T_q, T_k)`` or is a float mask of
            0s and 1s; ``dropout_p`` outside ``[0, 1)``; NaN or ``+inf`` in the scores at an
            allowed position (from NaN or inf in ``query``, ``key`` or ``attn_mask``, or float16
            overflow).
    """
    check_query_key(query, key, value)
    require_number("dropout_p", dropout_p, low=0.0, high=1.0, high_open=True)
    scores = scaled_dot_score(query, key)  # (..., T_q, T_k)
    require_mask("attn_mask", attn_mask, scores.shape)
    mask = None
    if is_causal:
        T_q, T_k = scores.shape[-2:]
        mask = torch.ones(T_q, T_k, dtype=torch.bool, device=scores.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            mask = attn_mask if mask is None else mask & attn_mask
        else:
            scores = scores + attn_mask
            # -inf blocks a key whatever its score, even NaN (NaN + -inf is NaN): mask it too.
            allowed = attn_mask != float("-inf")
            mask = allowed if mask is None else mask & allowed
    # A float mask of -inf can empty a row too: masked_softmax gives such rows zeros.
    weights = _masked_softmax(scores, mask, name="scores (query @ keyᵀ / √d_k, plus any float attn_mask)")
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return attention_pool(weights, value), weights
