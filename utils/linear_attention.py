"""Linear attention as a recurrence (chapter 8): Katharopoulos et al. (``katharopoulos2020``),
"Transformers are RNNs".

Softmax attention weighs key ``j`` by ``exp(q_t · k_j / √d_k)``: every query meets every key, a
``(T, S)`` matrix. Linear attention replaces that similarity by ``φ(q_t) · φ(k_j)`` for a feature
map ``φ`` with positive values (here ``φ(x) = elu(x) + 1``, the paper's). The sum over keys then
factors::

    out_t = Σ_j φ(q_t)ᵀφ(k_j) v_j / Σ_j φ(q_t)ᵀφ(k_j) = φ(q_t)ᵀ S / φ(q_t)ᵀ z,
    S = Σ_j φ(k_j) v_jᵀ  (d_k, d_v),   z = Σ_j φ(k_j)  (d_k,)

so the cost is linear in the length, and in the causal case (``j <= t``) ``S`` and ``z`` are a
running state: a recurrent network whose state has ``d_k · d_v + d_k`` numbers per head whatever
the length. That is chapter 1's fixed-size bottleneck come back, and the chapter measures what it
costs. Shapes: ``query (..., T, d_k)``, ``key (..., S, d_k)``, ``value (..., S, d_v)``; ``(B, h)``
for the leading dimensions in multi-head code. :class:`LinearMultiHeadAttention` puts it in chapter 6's
multi-head module, and so in chapter 7's Transformer (``build_transformer_model(..., attention="linear")``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.masks import causal_mask
from utils.transformer import MultiHeadAttention, _merge_heads, _split_heads
from utils.validate import check_query_key, require_float, require_same_dtype, require_tensor, shape_of

__all__ = ["elu_feature_map", "linear_attention", "linear_attention_step", "LinearMultiHeadAttention"]


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """``φ(x) = elu(x) + 1``, elementwise (Katharopoulos et al., 2020): ``x + 1`` for ``x > 0``,
    ``exp(x)`` below, so positive, and ``φ(q) · φ(k) > 0`` is a valid similarity. (In float32,
    ``exp(x) − 1 + 1`` rounds to 0 for ``x`` below about −17; a query whose features all do so
    gets a zero output, never NaN.)"""
    return F.elu(x) + 1


def _divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, zero where ``den = 0`` (no key, or ``φ`` underflowed to 0)."""
    return num / torch.where(den > 0, den, torch.ones_like(den))


def linear_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """Linear attention in parallel: the softmax's ``exp(q · k)`` replaced by ``φ(q) · φ(k)``.

    ::

        out_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t,   S_t = Σ_j φ(k_j) v_jᵀ  (d_k, d_v),   z_t = Σ_j φ(k_j)  (d_k,)

    with ``j <= t`` if ``causal`` (cumulative sums over time, position ``t`` included), else every
    ``j``. Regrouping ``(φ(Q) φ(K)ᵀ) V`` as ``φ(Q) (φ(K)ᵀ V)`` is what makes the cost linear in
    the length: no ``(T, S)`` matrix. (The causal form here keeps every ``S_t``, ``T · d_k · d_v``
    numbers; :func:`linear_attention_step` needs only the last one.)

    Args:
        query: ``(..., T, d_k)``; key: ``(..., S, d_k)``; value: ``(..., S, d_v)``; ``S = T`` if causal.

    Returns:
        ``(..., T, d_v)``.

    Raises:
        TypeError, ValueError: see :func:`utils.validate.check_query_key`; ``S != T`` with ``causal``.
    """
    check_query_key(query, key, value)
    if causal and key.shape[-2] != query.shape[-2]:
        raise ValueError(f"causal linear attention needs as many keys as queries, got query {shape_of(query)} "
                         f"and key {shape_of(key)}")
    return _from_features(elu_feature_map(query), elu_feature_map(key), value, causal)


def _from_features(phi_q: torch.Tensor, phi_k: torch.Tensor, value: torch.Tensor, causal: bool) -> torch.Tensor:
    """:func:`linear_attention` after ``φ``: ``phi_q (..., T, d_k)``, ``phi_k (..., S, d_k)`` ->
    ``(..., T, d_v)``. A key whose ``phi_k`` row is zero (and its value row too) is left out."""
    if causal:
        states = torch.cumsum(phi_k.unsqueeze(-1) * value.unsqueeze(-2), dim=-3)  # (..., T, d_k, 1) * (..., T, 1, d_v) -> S_t
        norms = torch.cumsum(phi_k, dim=-2)  # (..., T, d_k): z_t
        num = (phi_q.unsqueeze(-2) @ states).squeeze(-2)  # (..., T, 1, d_k) @ (..., T, d_k, d_v) -> (..., T, d_v)
        den = (phi_q * norms).sum(dim=-1, keepdim=True)  # (..., T, 1)
    else:
        num = phi_q @ (phi_k.transpose(-2, -1) @ value)  # (..., T, d_k) @ (..., d_k, d_v) -> (..., T, d_v)
        den = phi_q @ phi_k.sum(dim=-2).unsqueeze(-1)  # (..., T, d_k) @ (..., d_k, 1) -> (..., T, 1)
    return _divide(num, den)


def linear_attention_step(state_S: torch.Tensor, state_z: torch.Tensor, q_t: torch.Tensor, k_t: torch.Tensor,
                          v_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of causal linear attention as a recurrence (Katharopoulos et al., 2020)::

        S_t = S_{t-1} + φ(k_t) v_tᵀ          first the state takes in position t …
        z_t = z_{t-1} + φ(k_t)
        out_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t    … then the query reads it: t sees itself

    The state has ``d_k · d_v + d_k`` numbers per head whatever ``t`` is: a key-value cache grows
    with every token, this state never does. Start from zeros; ``T`` steps give
    :func:`linear_attention` with ``causal=True``.

    Args:
        state_S: ``(B, h, d_k, d_v)``; state_z: ``(B, h, d_k)`` (any leading dimensions for ``(B, h)``).
        q_t, k_t: ``(B, h, d_k)``, the raw query and key (``φ`` is applied here); v_t: ``(B, h, d_v)``.

    Returns:
        ``(out_t (B, h, d_v), S_t, z_t)``; the inputs are not changed.

    Raises:
        TypeError: not float tensors of one dtype.
        ValueError: shapes that do not fit together.
    """
    named = (("state_S", state_S), ("state_z", state_z), ("q_t", q_t), ("k_t", k_t), ("v_t", v_t))
    for name, t in named:
        require_tensor(name, t, min_dim=2 if name == "state_S" else 1)
        require_float(name, t)
    require_same_dtype(*named)
    d_k, d_v = state_S.shape[-2:]
    if state_z.shape[-1] != d_k or q_t.shape[-1] != d_k or k_t.shape[-1] != d_k or v_t.shape[-1] != d_v:
        raise ValueError(f"state_S (..., d_k={d_k}, d_v={d_v}) needs state_z, q_t, k_t (..., {d_k}) and v_t (..., {d_v}); "
                         f"got {shape_of(state_z)}, {shape_of(q_t)}, {shape_of(k_t)}, {shape_of(v_t)}")
    phi_q, phi_k = elu_feature_map(q_t), elu_feature_map(k_t)
    S = state_S + phi_k.unsqueeze(-1) * v_t.unsqueeze(-2)  # (..., d_k, 1) * (..., 1, d_v) -> (..., d_k, d_v)
    z = state_z + phi_k  # (..., d_k)
    num = (phi_q.unsqueeze(-2) @ S).squeeze(-2)  # (..., 1, d_k) @ (..., d_k, d_v) -> (..., d_v)
    den = (phi_q * z).sum(dim=-1, keepdim=True)  # (..., 1)
    return _divide(num, den), S, z


class LinearMultiHeadAttention(MultiHeadAttention):
    """Chapter 6's :class:`~utils.transformer.MultiHeadAttention` with linear attention in every head.

    The same projections under the same names (a ``state_dict`` moves between the two), the same
    arguments, masks and results; only what happens between ``K W^K`` and ``W^O`` changes. Head
    ``i`` weighs key ``j`` by ``φ(q_t) · φ(k_j)`` instead of ``exp(q_t · k_j / √d_k)``::

        head_i = Σ_j w_tj v_j,   w_tj = φ(q_t)ᵀφ(k_j) / Σ_j' φ(q_t)ᵀφ(k_j')   (masked keys left out)

    (Katharopoulos et al., 2020; ``φ`` = :func:`elu_feature_map`, no ``1/√d_k``, as in
    :func:`linear_attention`). Two paths give the same numbers:

    - **linear** (no ``(T_q, T_k)`` matrix): :func:`linear_attention`'s regrouping, taken when
      the weights are not asked for, there is no dropout, and the mask only removes keys
      (a ``key_padding_mask``: their ``φ(k_j)`` and ``v_j`` are set to zero before the sums) with
      ``is_causal`` at most (the running sums, for ``T_q = T_k``);
    - **quadratic**, the readable one: the ``(B, h, T_q, T_k)`` weights above, spelled out, for
      ``need_weights`` (so chapter 7's :func:`~utils.transformer_decoder.cross_attention_maps`
      still draws them), dropout in training (on the weights, as in the parent) and any other mask
      (e.g. the offset causal mask of a key–value cache). A bool mask (True = may attend) zeroes
      ``φ(q_t)ᵀφ(k_j)``; a float mask ``m`` is added to softmax's scores, which multiplies
      ``exp(score)`` by ``exp(m)``: here it multiplies ``φ(q_t)ᵀφ(k_j)`` by ``exp(m)`` (``-inf`` removes
      the key).

    ``form="quadratic"`` always takes the second path. Which is faster depends on the sizes:
    the linear path does about ``T · d_k · d_v`` work per head and, when causal, keeps every running
    state; the quadratic one ``T_q · T_k · (d_k + d_v)``. For chapter 7's reversal strings
    (``T <= 41``, ``d_k = 16``) a training step of the causal linear path took 1.7 times as long
    on the CPU (measured, chapter 8), for the same numbers; the linear path wins once ``T`` is
    many times ``d_k``.

    A query that may attend to no key gets zero weights and a zero context (output ``=
    out_proj.bias``), never NaN. Args, returns, raises: as the parent's, and ``form``: ``"auto"``
    (the linear path whenever it applies) or ``"quadratic"``; another value raises ValueError.
    """

    FORMS = ("auto", "quadratic")

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = True,
                 form: str = "auto") -> None:
        super().__init__(embed_dim, num_heads, dropout, bias, kdim, vdim, batch_first)
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {self.FORMS}, got {form!r}")
        self.form = form

    def _attend(self, query, k, v, mask, need_weights, average_attn_weights, is_causal):
        """Project the queries, attend linearly (either path), ``W^O``: ``k``, ``v (B, h, T_k, d_k)``."""
        T_q, T_k = query.shape[1], k.shape[2]
        q = _split_heads(self.q_proj(query), self.num_heads)  # (B, T_q, E) -> (B, h, T_q, d_k)
        phi_q, phi_k = elu_feature_map(q), elu_feature_map(k)  # positive features
        p = self.dropout if self.training else 0.0
        if mask is not None and mask.dim() < 4:  # e.g. (T_k,) -> (1, 1, 1, T_k)
            mask = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
        keys_only = mask is None or (mask.dtype == torch.bool and mask.shape[-2] == 1)  # (B|1, h|1, 1, T_k)
        weights = None
        if self.form == "auto" and not need_weights and p == 0.0 and keys_only and (not is_causal or T_q == T_k):
            if mask is not None:
                drop = ~mask.transpose(-2, -1)  # (B|1, h|1, 1, T_k) -> (B|1, h|1, T_k, 1): True = left out
                phi_k, v = phi_k.masked_fill(drop, 0.0), v.masked_fill(drop, 0.0)
            context = _from_features(phi_q, phi_k, v, causal=is_causal)  # (B, h, T_q, d_k)
        else:
            sim = phi_q @ phi_k.transpose(-2, -1)  # (B, h, T_q, d_k) @ (B, h, d_k, T_k) -> (B, h, T_q, T_k)
            if is_causal:
                sim = sim.masked_fill(~causal_mask(T_q, T_k, query.device), 0.0)  # key j <= query t only
            if mask is not None:
                sim = sim.masked_fill(~mask, 0.0) if mask.dtype == torch.bool else sim * torch.exp(mask)
            weights = _divide(sim, sim.sum(dim=-1, keepdim=True))  # each row sums to 1 (0 if no key)
            context = F.dropout(weights, p) @ v  # (B, h, T_q, T_k) @ (B, h, T_k, d_k) -> (B, h, T_q, d_k)
        output = self.out_proj(_merge_heads(context))  # (B, h, T_q, d_k) -> (B, T_q, E) -> W^O
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # (B, h, T_q, T_k) -> (B, T_q, T_k)
        return output, (weights if need_weights else None)
