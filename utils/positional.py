"""Positional encodings: self-attention alone cannot tell order, so positions are added to the inputs.

Without them, permuting the tokens of a sequence only permutes the outputs of self-attention.
Two ways to break that symmetry, both added to token embeddings ``x (B, T, d_model)``:

* fixed sinusoids (Vaswani et al. 2017), which exist for every position and whose dot products
  depend on the distance between positions;
* a learned table with one vector per position up to ``max_len``.
"""

from __future__ import annotations

import torch
from torch import nn

from utils.device import resolve_device
from utils.validate import require_float, require_int, require_number, require_tensor

__all__ = ["sinusoidal_positional_encoding", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding"]


def sinusoidal_positional_encoding(max_len: int, d_model: int, base: float = 10000.0,
                                   device: torch.device | str | None = None,
                                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(max_len, d_model)``: ``PE(pos, 2i) = sin(pos / base^{2i/d})``, ``PE(pos, 2i+1) = cos(…)``.

    Vaswani et al. (2017). Every pair of columns is one frequency; wavelengths grow
    geometrically from ``2π`` to almost ``2π · base``. An odd ``d_model`` drops the last cosine column.
    Computed in float64, returned in ``dtype`` (float16, bfloat16, float32 or float64).

    Raises:
        TypeError: ``max_len``/``d_model`` not ints, ``base`` not a number, ``dtype`` not a
            floating-point dtype.
        ValueError: ``max_len`` or ``d_model`` below 1, ``base`` not a finite number above 1, a
            device this machine does not have.
    """
    max_len = require_int("max_len", max_len, minimum=1)
    d_model = require_int("d_model", d_model, minimum=1)
    base = require_number("base", base, low=1.0, low_open=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype (e.g. torch.float32), got {dtype}")
    if device is not None:
        device = resolve_device(device)
    pos = torch.arange(max_len, device=device, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, device=device, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / base ** (two_i / d_model)  # (max_len, ceil(d/2))
    pe = torch.zeros(max_len, d_model, device=device, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """``x + PE[:T]`` for ``x (B, T, d_model)``, with fixed sinusoids (a buffer, not trained).

    The sinusoids are cast to ``x``'s dtype (float16 included: they lie in ``[-1, 1]``), so the
    result has the dtype of ``x``.

    Raises:
        TypeError, ValueError: bad sizes (as :func:`sinusoidal_positional_encoding`); in
            ``forward``, an ``x`` that is not a floating-point ``(B, T, d_model)`` tensor with
            ``T <= max_len``.
    """

    pe: torch.Tensor  # (max_len, d_model), the buffer registered below (nn.Module types its attributes Tensor | Module)

    def __init__(self, d_model: int, max_len: int = 512, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model, base), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions(x, self.d_model, self.max_len)
        return x + self.pe[: x.shape[1]].to(x.dtype)  # (B, T, d) + (T, d)


class LearnedPositionalEncoding(nn.Module):
    """``x + P[:T]`` with ``P (max_len, d_model)`` a trained table, one vector per position.

    ``x`` must have the table's dtype, as for any layer with weights (convert the module with
    ``.to(dtype)``): adding a float32 table to float16 embeddings would quietly return float32.

    Raises:
        TypeError: ``d_model``/``max_len`` not ints; in ``forward``, an ``x`` that is not a
            floating-point tensor of the table's dtype.
        ValueError: ``d_model``/``max_len`` below 1; in ``forward``, an ``x`` that is not
            ``(B, T, d_model)`` with ``T <= max_len``.
    """

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        require_int("d_model", d_model, minimum=1)
        require_int("max_len", max_len, minimum=1)
        self.d_model, self.max_len = d_model, max_len
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_positions(x, self.d_model, self.max_len)
        table = self.table.weight
        if x.dtype != table.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the table's weights are {table.dtype}; convert one "
                            f"of them (e.g. module.to({x.dtype}) or x.to({table.dtype}))")
        return x + table[: x.shape[1]]  # (B, T, d) + (T, d)


def _check_positions(x: torch.Tensor, d_model: int, max_len: int) -> None:
    require_tensor("x", x)
    if x.dim() != 3 or x.shape[-1] != d_model or x.shape[1] > max_len:
        raise ValueError(f"x must be (B, T, {d_model}) with T <= max_len={max_len}, got {tuple(x.shape)}")
    require_float("x", x)
