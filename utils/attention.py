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
zero weights (and a zero output), never NaN.

Scoring functions, with the papers that introduced them:

* dot ``qᵀk`` and general ``qᵀ W_a k`` — Luong, Pham and Manning (2015);
* scaled dot ``qᵀk / √d_k`` — Vaswani et al. (2017);
* additive ``vᵀ tanh(W_q q + W_k k)`` — Bahdanau, Cho and Bengio (2015), whose alignment model is
  ``a(s_{i-1}, h_j) = v_aᵀ tanh(W_a s_{i-1} + U_a h_j)``; Luong's *concat* score
  ``v_aᵀ tanh(W_a [h_t; h̄_s])`` is the same function with ``W_a`` split in two. The inner
  ``tanh(W_k k + W_q q)`` is the *attention unit* of Xu et al. (2015), ``m_i = tanh(W_y y_i + W_c c)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "dot_score",
    "scaled_dot_score",
    "GeneralScore",
    "AdditiveScore",
    "masked_softmax",
    "attention_pool",
    "attend",
    "scaled_dot_product_attention",
    "check_query_key",
]


# ----------------------------------------------------------------------------------------------
# Input checks: clear errors that name the argument and the shapes
# ----------------------------------------------------------------------------------------------
def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_query_key(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor | None = None,
    same_features: bool = True,
) -> None:
    """Raise a ``ValueError`` naming the argument and shapes if query/key/value do not fit.

    Args:
        query: ``(..., T_q, d_q)``.
        key: ``(..., T_k, d_k)``; ``d_k`` must equal ``d_q`` when ``same_features``.
        value: ``(..., T_k, d_v)`` or None.
        same_features: whether the score needs ``d_q == d_k`` (dot products do; additive and
            general scores project, so they do not).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(
                f"{name} must have at least 2 dimensions (..., T, d), got shape {_shape(t)}"
            )
    if same_features and query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"key has {key.shape[-1]} features but query has {query.shape[-1]} "
            f"(query {_shape(query)}, key {_shape(key)})"
        )
    if value is not None and value.shape[-2] != key.shape[-2]:
        raise ValueError(
            f"value has {value.shape[-2]} positions but key has {key.shape[-2]} "
            f"(key {_shape(key)}, value {_shape(value)})"
        )
    try:
        torch.broadcast_shapes(query.shape[:-2], key.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"query and key batch dimensions do not broadcast: query {_shape(query)}, "
            f"key {_shape(key)}"
        ) from None


def _check_mask(mask: torch.Tensor | None, scores: torch.Tensor, name: str = "mask") -> None:
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        shape = None
    if shape != scores.shape:
        raise ValueError(
            f"{name} of shape {_shape(mask)} does not broadcast to the scores' shape "
            f"{_shape(scores)} (True = may attend)"
        )


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
    """
    check_query_key(query, key)
    return query @ key.transpose(-2, -1)  # (..., T_q, d) @ (..., d, T_k) -> (..., T_q, T_k)


def scaled_dot_score(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product scores ``q · k / √d_k`` (Vaswani et al. 2017).

    If the components of ``q`` and ``k`` are independent with mean 0 and variance 1, ``q · k``
    has variance ``d_k``; dividing by ``√d_k`` brings it back to 1 so the softmax does not
    saturate as ``d_k`` grows.
    """
    return dot_score(query, key) / math.sqrt(query.shape[-1])


class GeneralScore(nn.Module):
    """Bilinear ("general") scores ``e_{t,j} = q_tᵀ W_a k_j`` (Luong et al. 2015).

    Args:
        query_size: ``d_q``.
        key_size: ``d_k`` (may differ from ``d_q``).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.W_a = nn.Linear(key_size, query_size, bias=False)  # maps k (d_k) to W_a k (d_q)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """``query (..., T_q, d_q)``, ``key (..., T_k, d_k)`` -> scores ``(..., T_q, T_k)``."""
        check_query_key(query, key, same_features=False)
        _check_features("query", query, self.query_size)
        _check_features("key", key, self.key_size)
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
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.W_q = nn.Linear(query_size, hidden_size, bias=False)
        self.W_k = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, key: torch.Tensor) -> torch.Tensor:
        """``W_k k_j`` for every key: ``(..., T_k, d_k)`` -> ``(..., T_k, d_a)``."""
        _check_features("key", key, self.key_size)
        return self.W_k(key)

    def units(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        projected_key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The attention units ``m_{t,j} = tanh(W_q q_t + W_k k_j)``: ``(..., T_q, T_k, d_a)``."""
        if projected_key is None:
            if key is None:
                raise ValueError("pass key or projected_key")
            check_query_key(query, key, same_features=False)
            projected_key = self.project_keys(key)
        _check_features("query", query, self.query_size)
        q = self.W_q(query).unsqueeze(-2)  # (..., T_q, d_a) -> (..., T_q, 1, d_a)
        k = projected_key.unsqueeze(-3)  # (..., T_k, d_a) -> (..., 1, T_k, d_a)
        return torch.tanh(q + k)  # broadcast -> (..., T_q, T_k, d_a)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        projected_key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores ``(..., T_q, T_k)`` from ``query (..., T_q, d_q)`` and ``key`` or its projection."""
        return self.v(self.units(query, key, projected_key)).squeeze(-1)


def _check_features(name: str, t: torch.Tensor, expected: int) -> None:
    if t.shape[-1] != expected:
        raise ValueError(
            f"{name} has {t.shape[-1]} features but this layer expects {expected} "
            f"({name} shape {_shape(t)})"
        )


# ----------------------------------------------------------------------------------------------
# From scores to weights to a weighted average
# ----------------------------------------------------------------------------------------------
def masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1
) -> torch.Tensor:
    """Softmax over ``dim`` that gives masked positions exactly zero weight.

    Args:
        scores: any shape, usually ``(..., T_q, T_k)``.
        mask: boolean, broadcastable to ``scores``; **True = may attend**. None = no mask.
        dim: the dimension that sums to one (the keys).

    Returns:
        Weights with the shape of ``scores``. Each row sums to 1 over its unmasked keys; a row
        whose keys are all masked is all zeros rather than NaN (a plain softmax of a row of
        ``-inf`` is ``0/0``).
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if mask is None:
        return torch.softmax(scores, dim=dim)
    _check_mask(mask, scores)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {mask.dtype}")
    filled = scores.masked_fill(~mask, float("-inf"))
    # Rows with no allowed key: compute on zeros (any finite value works), then zero them.
    any_allowed = mask.expand_as(scores).any(dim=dim, keepdim=True)
    filled = torch.where(any_allowed, filled, torch.zeros_like(filled))
    weights = torch.softmax(filled, dim=dim)
    return weights * any_allowed


def attention_pool(weights: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The weighted average ``c_t = Σ_j α_{t,j} v_j``.

    Args:
        weights: ``(..., T_q, T_k)``, each row a probability distribution (or zeros).
        value: ``(..., T_k, d_v)``.

    Returns:
        ``(..., T_q, d_v)``.
    """
    if weights.shape[-1] != value.shape[-2]:
        raise ValueError(
            f"weights cover {weights.shape[-1]} keys but value has {value.shape[-2]} positions "
            f"(weights {_shape(weights)}, value {_shape(value)})"
        )
    return weights @ value  # (..., T_q, T_k) @ (..., T_k, d_v) -> (..., T_q, d_v)


def attend(
    scores: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores to ``(context, weights)``: masked softmax over the keys, then pooling."""
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
    to the scores. ``is_causal`` lets query ``t`` see keys ``0..t`` only.

    Args:
        query: ``(..., T_q, d_k)``.
        key: ``(..., T_k, d_k)``.
        value: ``(..., T_k, d_v)``.

    Returns:
        ``(output (..., T_q, d_v), weights (..., T_q, T_k))``. Fully masked rows give zero
        weights and a zero output, never NaN.
    """
    check_query_key(query, key, value)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    scores = scaled_dot_score(query, key)  # (..., T_q, T_k)
    mask = None
    if is_causal:
        T_q, T_k = scores.shape[-2:]
        mask = torch.ones(T_q, T_k, dtype=torch.bool, device=scores.device).tril()
    if attn_mask is not None:
        _check_mask(attn_mask, scores, "attn_mask")
        if attn_mask.dtype == torch.bool:
            mask = attn_mask if mask is None else mask & attn_mask
        else:
            scores = scores + attn_mask
    weights = masked_softmax(scores, mask)
    # A float mask of -inf can still empty a row: turn its NaNs into zeros as promised.
    weights = torch.nan_to_num(weights, nan=0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return attention_pool(weights, value), weights
