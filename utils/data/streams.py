"""Streams of random symbols with a question at every position (chapter 8's sliding windows).

:func:`first_symbol_streams` asks, at every position ``t`` of a stream ``x_0 … x_{T-1}``, for the
first symbol ``x_0``. A causal model answers at ``t`` only if information can travel from
position 0 to position ``t``: under a sliding window of ``w`` positions, ``L`` layers carry it
``L · (w − 1)`` positions (:func:`utils.efficient_attention.stacked_reach`), so accuracy against
``t`` shows the reach as a cliff, from 100% down to chance (``1 / n_symbols``).
"""

from __future__ import annotations

from numbers import Integral

import torch

from utils.validate import require_int

__all__ = ["first_symbol_streams"]


def first_symbol_streams(n: int, length: int, n_symbols: int = 10, marked: bool = True,
                         generator: torch.Generator | int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random streams of ``length`` symbols, and at every position the class of the first one.

    Every symbol is drawn uniformly from ``0 … n_symbols − 1``. The target ``y[:, t]`` is the
    class of ``x_0`` at every ``t``: a question whose answer lies ``t`` positions back.

    With ``marked`` (the default), ``x_0`` is written with a second alphabet, ids
    ``n_symbols … 2·n_symbols − 1`` (its class is ``x[:, 0] − n_symbols``): its content alone says
    "I am the start", so a model only has to carry it forward, not also to work out where the
    stream begins. The model's vocabulary is then ``2 · n_symbols`` ids and its classes
    ``n_symbols``. Unmarked, ``x_0`` looks like every other symbol and the model must find it by
    its position, which small models learn much more slowly (chapter 8's scouting notes).

    Args:
        n: how many streams, ``>= 1``.
        length: ``T``, the symbols in each stream, ``>= 1``.
        n_symbols: the classes, ``>= 2`` (chance accuracy is ``1 / n_symbols``).
        marked: write ``x_0`` with the second alphabet.
        generator: an int seeds a fresh generator, so the same int gives the same streams every
            time (a fixed test set); a ``torch.Generator`` is drawn from and advanced, so calling
            again gives fresh streams from a seeded sequence (a training batch per step). The
            global random state is never used. The tensors are made on the generator's device.

    Returns:
        ``(x, y)``, both ``(n, length)`` long: the streams and the targets.

    Raises:
        TypeError: ``n``/``length``/``n_symbols`` not ints, ``marked`` not a bool, ``generator``
            neither a ``torch.Generator`` nor an int.
        ValueError: ``n`` or ``length`` below 1, ``n_symbols`` below 2.
    """
    n = require_int("n", n, minimum=1)
    length = require_int("length", length, minimum=1)
    n_symbols = require_int("n_symbols", n_symbols, minimum=2)
    if not isinstance(marked, bool):
        raise TypeError(f"marked must be a bool, got {type(marked).__name__} {marked!r}")
    if not isinstance(generator, torch.Generator):
        if isinstance(generator, bool) or not isinstance(generator, Integral):
            raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")
        generator = torch.Generator().manual_seed(int(generator))
    x = torch.randint(0, n_symbols, (n, length), generator=generator, device=generator.device)  # (n, T)
    y = x[:, :1].repeat(1, length)  # (n, 1) -> (n, T): x_0's class at every position, its own memory
    if marked:
        x[:, 0] += n_symbols  # x_0 from the second alphabet
    return x, y
