"""What attention costs, and how to pay less (chapter 8): the online softmax and attention block by
block, sliding windows.

Shapes (batch first; any leading dimensions may stand in for ``(B, h)``)::

    query (..., T, d_k)   key (..., S, d_k)   value (..., S, d_v)   output (..., T, d_v)

Plain attention, ``softmax(Q Kᵀ / √d_k) V`` (:func:`utils.attention.scaled_dot_product_attention`),
builds the ``(T, S)`` score matrix: time and memory grow like ``T · S``. Ways to pay less:

* **Exactly the same numbers, less memory** — the *online softmax* (Milakov and Gimelshein,
  ``milakov2018``; Rabe and Staats, ``rabe2021``; FlashAttention, ``dao2022``). A softmax over the
  keys can be computed a block of keys at a time, keeping per query only a running maximum ``m``,
  a running normaliser ``l`` and a running output ``o``; two partial results merge exactly
  (:func:`online_softmax_merge`). :func:`blockwise_attention` never holds more than one
  ``(T, block)`` tile of scores. FlashAttention does the same in fast on-chip memory, and in its
  backward pass it recomputes the tiles from ``Q``, ``K``, ``V`` and the saved ``(m, l)`` instead
  of storing the ``(T, S)`` weights.
* **Fewer keys per query** — a *sliding window* (:func:`sliding_window_mask`): position ``t`` sees
  only the last ``window`` positions, chapter 5's local-m attention made causal; ``L`` layers reach
  ``L · (window − 1)`` positions back (:func:`stacked_reach`) at a cost linear in ``T``
  (:func:`sliding_window_attention`). Longformer (Beltagy et al., ``beltagy2020``) builds on it.
* **Fewer keys and values to store** — grouped-query attention, :mod:`utils.grouped_query`.
* **No softmax at all** — linear attention as a recurrence, :mod:`utils.linear_attention`.

Masks are bool, **True = may attend**. A query with no key to attend to gets a zero output, never NaN.
"""

from __future__ import annotations

import torch

from utils.attention import _pool, scaled_dot_product_attention
from utils.device import resolve_device
from utils.validate import check_query_key, require_float, require_int, require_mask, require_same_dtype, require_tensor, shape_of

__all__ = ["softmax_partial", "online_softmax_merge", "online_softmax_finish", "blockwise_attention",
           "sliding_window_mask", "stacked_reach", "sliding_window_attention"]

NEG_INF = float("-inf")


# ----------------------------------------------------------------------------------------------
# The online softmax: partial results (m, l, o) over blocks of keys, merged exactly
# ----------------------------------------------------------------------------------------------
def _subtractable(m: torch.Tensor) -> torch.Tensor:
    """``m`` with ``-inf`` (a row that has seen no key) replaced by 0: ``e − m`` must not be ``-inf − (-inf) = NaN``."""
    return torch.where(m == NEG_INF, torch.zeros_like(m), m)


def softmax_partial(scores: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None):
    """The partial result of one block of keys: ``(m, l, o)``, the course's convention throughout.

    For the keys ``j`` of the block (allowed by ``mask``), per query row::

        m = max_j e_j                      the running maximum      (..., T)
        l = Σ_j exp(e_j − m)               the normaliser           (..., T)
        o = Σ_j exp(e_j − m) v_j           the output, NOT divided  (..., T, d_v)

    so that ``softmax(e) V = o / l`` (:func:`online_softmax_finish`). Subtracting ``m`` keeps every
    ``exp`` at most 1 (no overflow, as in any stable softmax). A row with no allowed key in the
    block gets ``m = -inf``, ``l = 0``, ``o = 0``.

    Args:
        scores: ``(..., T, n)``, the block's scores ``e`` (already scaled).
        value: ``(..., n, d_v)``.
        mask: bool, broadcastable to ``scores``; True = may attend.

    Raises:
        TypeError, ValueError: not float tensors of one dtype; ``n`` differs; a mask that does not broadcast.
    """
    require_tensor("scores", scores, min_dim=2, shape="(..., T, n)")
    require_tensor("value", value, min_dim=2, shape="(..., n, d_v)")
    require_float("scores", scores)
    require_same_dtype(("scores", scores), ("value", value))
    if scores.shape[-1] != value.shape[-2]:
        raise ValueError(f"scores cover {scores.shape[-1]} keys but value has {value.shape[-2]} "
                         f"(scores {shape_of(scores)}, value {shape_of(value)})")
    require_mask("mask", mask, scores.shape, float_ok=False)
    return _partial(scores, value, mask)


def _partial(scores, value, mask):
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG_INF)
    if scores.shape[-1] == 0:  # no keys at all: the empty partial result
        m = scores.new_full(scores.shape[:-1], NEG_INF)
        return m, torch.zeros_like(m), (scores @ value)
    m = scores.amax(dim=-1)  # (..., T)
    p = torch.exp(scores - _subtractable(m).unsqueeze(-1))  # (..., T, n): 0 where masked, at most 1 elsewhere
    return m, p.sum(dim=-1), _pool(p, value)  # _pool: a masked key's value is never read (0 · NaN)


def online_softmax_merge(m1: torch.Tensor, l1: torch.Tensor, o1: torch.Tensor,
                         m2: torch.Tensor, l2: torch.Tensor, o2: torch.Tensor):
    """Merge two partial results over disjoint sets of keys into the partial result over both.

    With ``(m, l, o)`` as in :func:`softmax_partial` (``o`` not divided by ``l``)::

        m  = max(m1, m2)
        l  = exp(m1 − m) · l1 + exp(m2 − m) · l2
        o  = exp(m1 − m) · o1 + exp(m2 − m) · o2

    Each side was computed against its own maximum; ``exp(m_i − m) ≤ 1`` moves it to the common
    one. The merge is exact (no approximation: ``exp(e − m1) · exp(m1 − m) = exp(e − m)``), and
    symmetric. Milakov and Gimelshein (2018) derive it for the normaliser; FlashAttention
    (Dao et al., 2022) applies it to ``o`` too. A side with ``m = -inf`` (no key) contributes nothing.

    Args:
        m1, l1: ``(..., T)``; o1: ``(..., T, d_v)``; the same for ``m2, l2, o2``.

    Returns:
        ``(m, l, o)`` with the same shapes.

    Raises:
        TypeError: not tensors of one floating dtype.
        ValueError: an ``o`` without one more dimension than its ``m``, or shapes that do not broadcast.
    """
    named = (("m1", m1), ("l1", l1), ("o1", o1), ("m2", m2), ("l2", l2), ("o2", o2))
    for name, t in named:
        require_tensor(name, t, min_dim=1)
        require_float(name, t)
    require_same_dtype(*named)
    for m, o, side in ((m1, o1, "1"), (m2, o2, "2")):
        if o.dim() != m.dim() + 1 or o.shape[:-1] != m.shape:
            raise ValueError(f"o{side} must be (..., T, d_v) with m{side} (..., T), got o{side} {shape_of(o)} "
                             f"and m{side} {shape_of(m)}")
    try:
        torch.broadcast_shapes(o1.shape, o2.shape)
    except RuntimeError:
        raise ValueError(f"the two partial results do not broadcast: o1 {shape_of(o1)}, o2 {shape_of(o2)}") from None
    m = torch.maximum(m1, m2)
    safe = _subtractable(m)
    a1, a2 = torch.exp(m1 - safe), torch.exp(m2 - safe)  # (..., T): each side's rescale to the common max
    return m, a1 * l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2  # (..., T, 1) * (..., T, d_v)


def online_softmax_finish(l: torch.Tensor, o: torch.Tensor) -> torch.Tensor:  # noqa: E741 - the paper's l
    """The attention output ``o / l``: ``(..., T)``, ``(..., T, d_v)`` -> ``(..., T, d_v)``; zero where ``l = 0``."""
    return o / torch.where(l > 0, l, torch.ones_like(l)).unsqueeze(-1)


def blockwise_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, block_size: int,
                        mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
    """``softmax(Q Kᵀ / √d_k) V`` computed ``block_size`` keys at a time with the online softmax.

    For each block of keys: its ``(T, block)`` tile of scores, its partial result
    (:func:`softmax_partial`), merged into the running one (:func:`online_softmax_merge`); at the
    end ``o / l``. Memory for scores: ``T · block_size`` instead of ``T · S``; the numbers are those
    of :func:`torch.nn.functional.scaled_dot_product_attention` up to rounding.

    Args:
        query: ``(..., T, d_k)``; key: ``(..., S, d_k)``; value: ``(..., S, d_v)``.
        block_size: keys per block (the last block may be shorter).
        mask: bool, broadcastable to ``(..., T, S)``, True = may attend (e.g. a key padding mask
            ``(B, 1, 1, S)``); sliced per block, never expanded to ``(T, S)`` here.
        causal: query ``t`` sees keys ``j <= t`` only (aligned at the top left, as
            ``F.scaled_dot_product_attention(is_causal=True)`` when ``T != S``); blocks that no
            query may see are skipped.

    Returns:
        ``(..., T, d_v)``; a query with no allowed key gets zeros.

    Raises:
        TypeError, ValueError: see :func:`utils.validate.check_query_key`; ``block_size`` not an
            int ``>= 1``; a mask that is not bool or does not broadcast to ``(..., T, S)``.
    """
    check_query_key(query, key, value)
    block_size = require_int("block_size", block_size, minimum=1)
    T, S = query.shape[-2], key.shape[-2]
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    require_mask("mask", mask, (*batch, T, S), float_ok=False)
    scale = query.shape[-1] ** -0.5
    m = query.new_full((*batch, T), NEG_INF)  # nothing seen yet: m = -inf, l = 0, o = 0
    l, o = torch.zeros_like(m), query.new_zeros((*batch, T, value.shape[-1]))  # noqa: E741 - l is the normaliser, as in the online-softmax papers
    rows = torch.arange(T, device=query.device).unsqueeze(-1)  # (T, 1)
    for start in range(0, S, block_size):
        if causal and start > T - 1:  # every later key is in every query's future
            break
        end = min(start + block_size, S)
        tile = (query @ key[..., start:end, :].transpose(-2, -1)) * scale  # (..., T, d_k) @ (..., d_k, n) -> (..., T, n)
        # a mask that varies over the keys is sliced to the block's; one that does not broadcasts as it is
        allowed = mask[..., start:end] if mask is not None and mask.dim() > 0 and mask.shape[-1] != 1 else mask
        if causal:
            future = torch.arange(start, end, device=query.device) > rows  # (T, n)
            allowed = ~future if allowed is None else allowed & ~future
        m, l, o = online_softmax_merge(m, l, o, *_partial(tile, value[..., start:end, :], allowed))  # noqa: E741 - l is the normaliser, as in the online-softmax papers
    return online_softmax_finish(l, o)


# ----------------------------------------------------------------------------------------------
# Sliding windows: chapter 5's local-m attention, made causal and stacked
# ----------------------------------------------------------------------------------------------
def _band(rows: torch.Tensor, cols: torch.Tensor, window: int, causal: bool) -> torch.Tensor:
    """``(n, m)`` bool for query positions ``rows (n,)`` and key positions ``cols (m,)``."""
    offset = rows.unsqueeze(-1) - cols  # (n, 1) - (m,) -> (n, m): how far back key j lies from query t
    return (offset >= 0) & (offset < window) if causal else offset.abs() < window


def sliding_window_mask(T: int, window: int, causal: bool = True,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """``(T, T)`` bool band, True = may attend: each position sees a window of ``window`` positions.

    * ``causal=True``: position ``t`` sees ``t − window + 1, …, t`` (itself and the ``window − 1``
      before it; fewer near the start). ``window = 1`` sees itself only; ``window >= T`` is the
      plain causal mask (:func:`utils.transformer.causal_mask`).
    * ``causal=False``: ``|t − j| < window``, the ``window − 1`` positions on each side too.

    Chapter 5's local-m attention with half-width ``w`` (:func:`utils.luong.window_mask` centred
    on ``p_t = t``) sees ``[t − w, t + w]``: that is ``sliding_window_mask(T, w + 1, causal=False)``,
    and its causal half, ``[t − w, t]``, is ``sliding_window_mask(T, w + 1)``.

    Raises:
        TypeError: ``T``/``window`` not ints; ``device`` not a str or device.
        ValueError: ``T < 0``, ``window < 1`` (a position that sees nothing), an unknown device.
    """
    T = require_int("T", T, minimum=0)
    window = require_int("window", window, minimum=1)
    if isinstance(device, str):
        device = resolve_device(device)
    positions = torch.arange(T, device=device)
    return _band(positions, positions, window, causal)


def stacked_reach(mask: torch.Tensor, num_layers: int) -> torch.Tensor:
    """Which inputs each output can depend on after ``num_layers`` layers that all use ``mask``.

    Layer 1's output at ``t`` reads inputs ``j`` with ``mask[t, j]``; layer 2's reads layer-1
    outputs ``k`` with ``mask[t, k]``, each of which read ``j`` with ``mask[k, j]``: the boolean
    matrix product. So the reach is ``mask`` to the power ``num_layers``. For a causal window of
    ``window`` positions it goes ``num_layers · (window − 1)`` positions back.

    Args:
        mask: ``(T, T)`` bool, True = may attend.
        num_layers: ``L >= 1``.

    Returns:
        ``(T, T)`` bool: ``[t, j]`` True if output ``t`` of layer ``L`` can depend on input ``j``.

    Raises:
        TypeError, ValueError: ``mask`` not a square bool matrix; ``num_layers`` not an int ``>= 1``.
    """
    require_tensor("mask", mask, dim=2, shape="(T, T)")
    if mask.dtype != torch.bool or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be a square (T, T) bool tensor, got {mask.dtype} of shape {shape_of(mask)}")
    num_layers = require_int("num_layers", num_layers, minimum=1)
    step, reach = mask.float(), mask.float()  # counts of paths, at most T each: exact in float32
    for _ in range(num_layers - 1):
        reach = ((reach @ step) > 0).float()
    return reach > 0


def sliding_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, window: int) -> torch.Tensor:
    """Causal self-attention under ``sliding_window_mask(T, window)``, at a cost linear in ``T``.

    The queries go in chunks of ``window``; a chunk ``[s, s + window)`` only needs the keys
    ``[s − window + 1, s + window)``, fewer than ``2 · window`` of them. So the work is about
    ``2 · T · window`` scores instead of ``T²`` (and the memory one chunk's), and the output equals
    ``scaled_dot_product_attention(q, k, v, attn_mask=sliding_window_mask(T, window))``.

    Args:
        query, key: ``(..., T, d_k)``; value: ``(..., T, d_v)`` (self-attention: ``S = T``).
        window: positions each query sees, itself included (``>= 1``).

    Returns:
        ``(..., T, d_v)``.

    Raises:
        TypeError, ValueError: see :func:`utils.validate.check_query_key`; keys of another length
            than the queries; ``window`` not an int ``>= 1``.
    """
    check_query_key(query, key, value)
    window = require_int("window", window, minimum=1)
    T = query.shape[-2]
    if key.shape[-2] != T:
        raise ValueError(f"sliding-window self-attention needs as many keys as queries, got query "
                         f"{shape_of(query)} and key {shape_of(key)}")
    if T == 0:
        return scaled_dot_product_attention(query, key, value)[0]
    chunks = []
    for start in range(0, T, window):
        end, first = min(start + window, T), max(start - window + 1, 0)
        band = _band(torch.arange(start, end, device=query.device), torch.arange(first, end, device=query.device),
                     window, causal=True)  # (end - start, end - first)
        chunks.append(scaled_dot_product_attention(query[..., start:end, :], key[..., first:end, :],
                                                   value[..., first:end, :], attn_mask=band)[0])
    return torch.cat(chunks, dim=-2)  # chunks of (..., ≤ window, d_v) -> (..., T, d_v)
