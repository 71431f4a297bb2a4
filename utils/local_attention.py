"""Local attention (Luong, Pham and Manning 2015), as plain functions: attend to a window only.

Global attention weighs every source position; local attention only those in a window
``[p_t − w, p_t + w]`` around a centre ``p_t`` (``w`` the half-width), with positions counted
from 0 (``s = 0 … S−1``, decoder steps ``t = 0, 1, …``)::

    window_mask(p_t, S, w)                  -> (..., S) bool   which positions lie in the window
    gaussian_factor(p_t, S, σ)              -> (..., S)        exp(−(s − p_t)² / (2σ²))
    local_weights(scores, p_t, w)           -> (B, T, S)       softmax inside the window, times the Gaussian
    predict_position(h_t, W_p, v_p, S)      -> (B,) or (B, T)  local-p's p_t = S · sigmoid(v_pᵀ tanh(W_p h_t))
    windowed_dot_attention(h_t, enc_out, p_t, w) -> context (B, d), weights (B, 2w+1), positions:
                                               dot-score local attention that reads the window only

``local-m`` puts ``p_t = t`` (monotonic); ``local-p`` predicts ``p_t`` (``S`` the source
length) and multiplies the weights inside the window by the Gaussian with ``σ = w/2``, *without*
renormalising. Luong et al. call the half-width ``D``; the course writes ``w``, because ``D`` is
the annotation size here (``enc_out (B, S, D)``), as in chapter 4. :class:`utils.luong.LuongAttention`
puts these pieces together (chapter 5).
"""

from __future__ import annotations

import torch

from utils.attention import _pool, masked_softmax
from utils.validate import (
    require_finite,
    require_float,
    require_int,
    require_lengths,
    require_number,
    require_same_dtype,
    require_src_mask,
    require_tensor,
)

__all__ = ["window_mask", "gaussian_factor", "local_weights", "predict_position", "windowed_dot_attention"]


def _require_finite_position(name: str, position: torch.Tensor) -> None:
    """A window centre must be a finite number: NaN would silently give an empty window (every
    comparison with NaN is False) and NaN Gaussian weights."""
    if position.is_floating_point():
        require_finite(name, position, f" (shape {tuple(position.shape)}): a window centre p_t must be a "
                                       f"finite position (a NaN p_t usually comes from NaN in the decoder state h_t)")


def window_mask(position: torch.Tensor, S: int, w: float) -> torch.Tensor:
    """True where source position ``s`` lies in the window ``[p_t − w, p_t + w]``.

    Args:
        position: ``p_t``, any shape ``(...)`` (e.g. ``(B, T)``), real or integer.
        S: the number of source positions.
        w: the window's half-width.

    Returns:
        ``(..., S)`` bool.

    Raises:
        TypeError: ``position`` not a tensor; ``S`` not an int; ``w`` not a number.
        ValueError: ``S`` negative; ``w`` negative or not finite; ``position`` holds NaN or ±inf.
    """
    require_tensor("position", position)
    require_int("S", S, minimum=0)
    require_number("w", w, low=0.0)
    _require_finite_position("position", position)
    return _window_mask(position, S, w)


def _window_mask(position: torch.Tensor, S: int, w: float) -> torch.Tensor:
    s = torch.arange(S, device=position.device, dtype=torch.float32)  # (S,)
    distance = (s - position.unsqueeze(-1).float()).abs()  # (..., 1) against (S,) -> (..., S)
    return distance <= w


def gaussian_factor(position: torch.Tensor, S: int, sigma: float) -> torch.Tensor:
    """``exp(−(s − p_t)² / (2σ²))`` for every source position ``s = 0 … S−1``: ``(..., S)``.

    Raises:
        TypeError: ``position`` not a tensor; ``sigma`` not a number.
        ValueError: ``sigma`` not a positive finite number, or so small that ``2σ²`` underflows
            to 0 in ``position``'s dtype; ``S`` negative; ``position`` holds NaN or ±inf.
    """
    require_tensor("position", position)
    require_int("S", S, minimum=0)
    require_number("sigma", sigma, low=0.0, low_open=True)
    _require_finite_position("position", position)
    return _gaussian_factor(position, S, sigma)


def _gaussian_factor(position: torch.Tensor, S: int, sigma: float) -> torch.Tensor:
    s = torch.arange(S, device=position.device, dtype=position.dtype if position.is_floating_point()
                     else torch.float32)
    if float(torch.tensor(2.0 * sigma ** 2, dtype=s.dtype)) == 0.0:
        raise ValueError(f"sigma={sigma} is too small: 2·sigma² underflows to 0 in {s.dtype}")
    return torch.exp(-((s - position.unsqueeze(-1)) ** 2) / (2.0 * sigma ** 2))


def local_weights(scores: torch.Tensor, position: torch.Tensor, w: float,
                  src_mask: torch.Tensor | None = None, gaussian: bool = True) -> torch.Tensor:
    """Local attention weights from scores ``(B, T, S)`` and window centres ``p_t (B, T)``.

    ``align = softmax`` over the source positions that are real (``src_mask``, ``(B, S)``) and
    inside ``[p_t − w, p_t + w]``; with ``gaussian``, multiplied by ``exp(−(s − p_t)² / (2σ²))``,
    ``σ = w/2``, and **not** renormalised (Luong et al. 2015). A window that holds no real
    position gives zero weights.

    Raises:
        TypeError: ``scores`` not a floating-point tensor; ``src_mask`` not bool.
        ValueError: ``position`` not ``scores.shape[:-1]``, or holding NaN or ±inf (a window
            centre must be a finite position); ``src_mask`` not ``(B, S)``; ``w`` negative, or 0
            with ``gaussian``; NaN or ``+inf`` in the scores inside the window.
    """
    require_tensor("scores", scores, min_dim=2, shape="(B, T, S)")
    require_float("scores", scores)
    require_tensor("position", position)
    S = scores.shape[-1]
    if position.shape != scores.shape[:-1]:
        raise ValueError(f"position must have shape {tuple(scores.shape[:-1])} (one p_t per query), "
                         f"got {tuple(position.shape)}")
    if gaussian and not w > 0:
        raise ValueError(f"gaussian=True needs w > 0 (the Gaussian's sigma is w/2), got w={w}")
    if gaussian and w / 2.0 == 0.0:
        raise ValueError(f"w={w} is too small for gaussian=True: sigma = w/2 underflows to 0")
    require_src_mask(src_mask, scores.shape[0], S)
    require_number("w", w, low=0.0)
    _require_finite_position("position", position)
    allowed = _window_mask(position, S, w)  # (B, T, S)
    if src_mask is not None:
        allowed = allowed & src_mask.unsqueeze(-2)  # (B, S) -> (B, 1, S)
    weights = masked_softmax(scores, allowed)
    if gaussian:
        weights = weights * _gaussian_factor(position.to(scores.dtype), S, w / 2.0)
    return weights


def predict_position(hidden: torch.Tensor, W_p: torch.Tensor, v_p: torch.Tensor,
                     src_lengths: torch.Tensor) -> torch.Tensor:
    """local-p's window centre ``p_t = S · sigmoid(v_pᵀ tanh(W_p h_t))``.

    Args:
        hidden: ``h_t``, ``(B, H)`` or ``(B, T, H)``.
        W_p: ``(H, d_p)`` (so ``h_t @ W_p`` is ``W_p h_t``).
        v_p: ``(d_p,)``.
        src_lengths: ``(B,)`` the source lengths ``S`` (each example its own).

    Returns:
        ``(B,)`` or ``(B, T)``: real numbers in ``[0, S]``.

    Raises:
        TypeError: floating-point tensors expected for ``hidden``, ``W_p``, ``v_p`` (one dtype),
            integers for ``src_lengths``.
        ValueError: shapes that do not fit (``H``, ``d_p``, ``B``); negative lengths.
    """
    require_tensor("hidden", hidden, dim=(2, 3), shape="(B, H) or (B, T, H)")
    require_tensor("W_p", W_p, dim=2, shape=f"(H, d_p) = ({hidden.shape[-1]}, d_p)")
    require_tensor("v_p", v_p, dim=1, shape=f"(d_p,) = ({W_p.shape[-1]},)")
    require_float("hidden", hidden)
    require_same_dtype(("hidden", hidden), ("W_p", W_p), ("v_p", v_p))
    if W_p.shape[0] != hidden.shape[-1] or v_p.shape[0] != W_p.shape[1]:
        raise ValueError(f"hidden {tuple(hidden.shape)}, W_p {tuple(W_p.shape)} and v_p {tuple(v_p.shape)} "
                         f"do not fit: need W_p (H, d_p) and v_p (d_p,)")
    require_lengths("src_lengths", src_lengths, batch=hidden.shape[0], min_length=0)
    z = torch.tanh(hidden @ W_p) @ v_p  # (B, [T,] d_p) -> (B, [T])
    S = src_lengths.to(z.dtype)
    return (S.view(-1, *([1] * (z.dim() - 1))) * torch.sigmoid(z))


def windowed_dot_attention(query: torch.Tensor, enc_out: torch.Tensor, center: torch.Tensor,
                           w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Local attention that *only touches* the ``2w + 1`` annotations of the window (dot score).

    The masked version (:func:`local_weights`) scores every position and then zeroes most of
    them, which saves nothing; this one gathers the window first, so its work per step is
    ``O(w · d)`` instead of ``O(S · d)``. Positions beyond the source's ends are masked.

    Args:
        query: ``h_t (B, d)``.
        enc_out: ``(B, S, d)``.
        center: integer window centres ``(B,)`` (float centres are truncated to integers).
        w: half-width.

    Returns:
        ``(context (B, d), weights (B, 2w+1), positions (B, 2w+1))``; ``positions`` are the
        source indices of the window (out-of-range ones clamped, with weight 0).

    Raises:
        TypeError: ``query``/``enc_out`` not floating-point tensors of one dtype; ``w`` not an int.
        ValueError: shapes that do not fit; ``S = 0``; ``w`` negative; ``center`` not ``(B,)``, or
            a float ``center`` holding NaN or ±inf (which has no integer value).
    """
    require_tensor("query", query, dim=2, shape="(B, d)")
    require_tensor("enc_out", enc_out, dim=3, shape="(B, S, d)")
    require_tensor("center", center, dim=1, shape="(B,)")
    require_float("query", query)
    require_same_dtype(("query", query), ("enc_out", enc_out))
    require_int("w", w, minimum=0)
    if enc_out.shape[0] != query.shape[0] or enc_out.shape[2] != query.shape[1] or center.shape[0] != query.shape[0]:
        raise ValueError(f"query {tuple(query.shape)}, enc_out {tuple(enc_out.shape)} and center "
                         f"{tuple(center.shape)} must share B and d")
    if enc_out.shape[1] == 0:
        raise ValueError("enc_out has no source positions (S = 0)")
    _require_finite_position("center", center)
    B, S, d = enc_out.shape
    offsets = torch.arange(-w, w + 1, device=enc_out.device)  # (W,), W = 2w + 1 window positions
    positions = center.long().unsqueeze(1) + offsets  # (B, W)
    inside = (positions >= 0) & (positions < S)
    positions = positions.clamp(0, S - 1)
    keys = enc_out.gather(1, positions.unsqueeze(-1).expand(-1, -1, d))  # (B, W, d)
    scores = (keys @ query.unsqueeze(-1)).squeeze(-1)  # (B, W, d) @ (B, d, 1) -> (B, W)
    weights = masked_softmax(scores, inside)
    context = _pool(weights.unsqueeze(1), keys).squeeze(1)  # (B, 1, W) @ (B, W, d) -> (B, d)
    return context, weights, positions
