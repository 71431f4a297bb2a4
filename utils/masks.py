"""Boolean masks: which positions a query may attend to, built from lengths or from order.

The course has one convention (that of :func:`torch.nn.functional.scaled_dot_product_attention`):
**True means "may attend"**::

    length_mask(lengths (B,), max_len)  -> (B, S)      True at the real tokens, False at padding
    causal_mask(T_q, T_k)               -> (T_q, T_k)  True where key j <= query t

Both broadcast to the scores: ``length_mask(...)[:, None, :]`` is ``(B, 1, S)`` against scores
``(B, T, S)``; ``causal_mask`` is the same for every example. Where the opposite polarity is
wanted, invert the mask with ``~``: ``nn.MultiheadAttention``'s boolean masks mean True = *ignore*
(``key_padding_mask=~length_mask(...)``), and ``tokens.masked_fill(~length_mask(...), pad_id)``
writes the padding.
"""

from __future__ import annotations

import torch

from utils.device import resolve_device
from utils.validate import require_int, require_lengths

__all__ = ["length_mask", "causal_mask"]


def length_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool mask, True on the first ``lengths[b]`` (real) positions.

    >>> length_mask(torch.tensor([3, 1]), 4)
    tensor([[ True,  True,  True, False],
            [ True, False, False, False]])

    ``max_len`` defaults to the longest length. The mask lives on ``lengths``' device. A length of
    0 gives a row of False (a fully masked row, which attention turns into zero weights); an empty
    batch gives a ``(0, max_len)`` mask.

    Raises:
        TypeError: ``lengths`` not an integer tensor; ``max_len`` not an int.
        ValueError: ``lengths`` not 1-D, negative, or above ``max_len``.
    """
    if max_len is not None:
        max_len = require_int("max_len", max_len, minimum=0)
    require_lengths("lengths", lengths, max_len=max_len, min_length=0)
    max_len = (int(lengths.max()) if len(lengths) else 0) if max_len is None else max_len
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (1, S) < (B, 1) -> (B, S)


def causal_mask(T_q: int, T_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """``(T_q, T_k)`` bool, True where key ``j <= t``: query ``t`` may see positions ``0..t`` only.

    ``T_k`` defaults to ``T_q``.

    Raises:
        TypeError: ``T_q``/``T_k`` not ints; ``device`` not a str or device.
        ValueError: negative sizes; a device this machine does not have.
    """
    T_q = require_int("T_q", T_q, minimum=0)
    T_k = T_q if T_k is None else require_int("T_k", T_k, minimum=0)
    if isinstance(device, str):
        device = resolve_device(device)
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()
