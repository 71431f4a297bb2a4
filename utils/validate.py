"""Input checks shared by every public entry point of ``utils``: one line says what was wrong.

Each helper raises with a message that names the argument, what it got and what it expected::

    TypeError: query must be a torch.Tensor, got list
    ValueError: key has 32 features but query has 64
    TypeError: attn_mask has dtype torch.int64; use a bool mask (True = may attend), e.g. attn_mask.bool(), ...

``TypeError`` is for a wrong kind of thing (not a tensor, an integer tensor where a float one is
needed); ``ValueError`` for a right kind with a wrong shape, size or value. Checks on shapes and
dtypes cost nothing; the few that look at values (token ids, lengths) read small tensors only.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import nn

__all__ = ["check_query_key", "require_broadcast_batch", "require_layer_dtype",
    "shape_of", "require_tensor", "require_float", "require_same_dtype", "require_features",
    "require_mask", "require_token_ids", "require_lengths", "require_int", "require_number",
    "require_finite", "require_choice", "require_sequence", "require_source_batch", "require_src_mask",
    "require_query_and_annotations", "MASK_CONVENTION",
]

MASK_CONVENTION = ("use a bool mask (True = may attend), e.g. {name}.bool(), or a float mask "
                   "that is added to the scores (0 = keep, -inf = block)")


def shape_of(t: torch.Tensor) -> tuple[int, ...]:
    """``tuple(t.shape)``, the form every message prints."""
    return tuple(t.shape)


def require_tensor(name: str, x, *, dim: int | tuple[int, ...] | None = None, min_dim: int | None = None,
                   shape: str | None = None) -> torch.Tensor:
    """``x`` itself, if it is a tensor with ``dim`` (one or several allowed) or at least ``min_dim`` dimensions.

    Args:
        shape: how the expected shape reads in the message, e.g. ``"(B, T, 8)"``.

    Raises:
        TypeError: ``x`` is not a ``torch.Tensor`` (a list, None, a NumPy array).
        ValueError: it has the wrong number of dimensions.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    dims = (dim,) if isinstance(dim, int) else dim
    if min_dim is not None and x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions{' ' + shape if shape else ''}, "
                         f"got shape {shape_of(x)}")
    if dims is not None and x.dim() not in dims:
        want = shape or f"{' or '.join(map(str, dims))}-D"
        raise ValueError(f"{name} must be {want}, got shape {shape_of(x)}")
    return x


def require_float(name: str, x: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``x`` holds floating-point numbers (float16/bfloat16/32/64)."""
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype} "
                        f"(convert it with {name}.float())")


def require_same_dtype(*named: tuple[str, torch.Tensor]) -> None:
    """Raise ``TypeError`` unless every ``(name, tensor)`` has the dtype of the first one."""
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.dtype != first.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but {first_name} has {first.dtype}; "
                            f"convert one of them (e.g. {name}.to({first_name}.dtype))")


def require_features(name: str, t: torch.Tensor, expected: int, what: str = "this layer expects") -> None:
    """Raise ``ValueError`` unless the last dimension of ``t`` is ``expected``."""
    if t.shape[-1] != expected:
        raise ValueError(f"{name} has {t.shape[-1]} features but {what} {expected} "
                         f"({name} shape {shape_of(t)})")


def require_mask(name: str, mask, target: torch.Size | tuple[int, ...] | None, *, float_ok: bool = True,
                 meaning: str = "True = may attend") -> torch.Tensor | None:
    """Check a mask: None, or a bool tensor (or float, if ``float_ok``) broadcastable to ``target``
    (``target=None``: the caller checks the shape).

    An integer mask is rejected: a 0/1 ``long`` mask would silently be read as an additive float
    mask (adding 1 to allowed scores blocks nothing). A float mask whose values are only 0 and 1
    is rejected for the same reason.

    Raises:
        TypeError: not a tensor, or an integer (or, without ``float_ok``, a float) dtype.
        ValueError: it does not broadcast to ``target``, or it is a float 0/1 mask.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        if not float_ok:
            raise TypeError(f"{name} must be a bool tensor ({meaning}), got {mask.dtype}; "
                            f"for a 0/1 mask use {name}.bool()")
        if not mask.is_floating_point():
            raise TypeError(f"{name} has dtype {mask.dtype}; " + MASK_CONVENTION.format(name=name))
    if target is None:
        shape = None
    else:
        try:
            shape = torch.broadcast_shapes(mask.shape, target)
        except RuntimeError:
            shape = None
    if target is not None and shape != tuple(target):
        raise ValueError(f"{name} of shape {shape_of(mask)} does not broadcast to the scores' shape "
                         f"{tuple(target)} ({meaning})")
    if mask.dtype != torch.bool and mask.numel() and bool(((mask == 0) | (mask == 1)).all()) \
            and bool((mask == 1).any()):
        raise ValueError(f"{name} is a float mask of 0s and 1s, which would be added to the scores "
                         f"and block nothing; " + MASK_CONVENTION.format(name=name))
    return mask


def require_token_ids(name: str, ids, vocab_size: int, *, dim: int | None = None,
                      shape: str | None = None) -> torch.Tensor:
    """Check that ``ids`` is an integer tensor with every id in ``[0, vocab_size)``.

    Raises:
        TypeError: not a tensor, or not an integer dtype.
        ValueError: wrong number of dimensions, or an id outside the vocabulary.
    """
    require_tensor(name, ids, dim=dim, shape=shape)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {ids.dtype} (use {name}.long())")
    if ids.numel():
        low, high = (int(v) for v in torch.aminmax(ids))
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name} holds ids from {low} to {high}, but the vocabulary has "
                             f"{vocab_size} tokens (ids 0 to {vocab_size - 1})")
    return ids


def require_lengths(name: str, lengths, *, batch: int | None = None, max_len: int | None = None,
                    min_length: int = 1) -> torch.Tensor:
    """Check a ``(B,)`` integer tensor of lengths, each in ``[min_length, max_len]``.

    Raises:
        TypeError: not a tensor, or not an integer dtype.
        ValueError: not 1-D, not ``batch`` long, or a length out of range.
    """
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer lengths (B,), got {type(lengths).__name__}")
    if lengths.dim() != 1:
        raise ValueError(f"{name} must be 1-D (B,), got shape {shape_of(lengths)}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {lengths.dtype} (use {name}.long())")
    if batch is not None and lengths.shape[0] != batch:
        raise ValueError(f"{name} has shape {shape_of(lengths)} but the batch has size {batch}")
    if lengths.numel():
        low, high = (int(v) for v in torch.aminmax(lengths))
        top = math.inf if max_len is None else max_len
        if low < min_length or high > top:
            want = f"at least {min_length}" if max_len is None else f"in [{min_length}, {max_len}]"
            raise ValueError(f"{name} must lie {want}, got min {low} and max {high}")
    return lengths


def require_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[minimum, maximum]``.

    Raises:
        TypeError: not an integer (a float, a string, a bool).
        ValueError: out of range.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    number = int(value)  # any Integral (a NumPy integer too), compared as the int it stands for
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            want = f"at least {minimum}"
        elif minimum is None:
            want = f"at most {maximum}"
        else:
            want = f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {want}, got {value}")
    return number


def require_number(name: str, value, *, low: float | None = None, high: float | None = None,
                   low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number in the interval ``low``–``high``.

    ``low_open``/``high_open`` exclude the ends: e.g. dropout is in ``[0, 1)``.

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite, or outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    bad |= low is not None and (value <= low if low_open else value < low)
    bad |= high is not None and (value >= high if high_open else value > high)
    if bad:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}, got {value}")
    return value


def require_finite(name: str, x: torch.Tensor, hint: str = "") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or ±inf (one pass over ``x``, one sync).

    Use it where a value enters the course's code and is cheap to check (a loss, a small input).
    """
    if not bool(torch.isfinite(x).all()):
        kinds = [k for k, bad in (("NaN", torch.isnan(x).any()), ("inf", torch.isinf(x).any())) if bool(bad)]
        raise ValueError(f"{name} contains {' and '.join(kinds)}{hint}")


def require_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (printed as given: pass a sorted
    list or a tuple in the order the docs use)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# ----------------------------------------------------------------------------------------------
# What the sequence models take: a batch of sources, annotations, a source mask
# ----------------------------------------------------------------------------------------------
def require_sequence(name: str, x, size: int) -> torch.Tensor:
    """``x`` itself, if it is a ``(B, T, size)`` tensor (a Transformer layer's input, ``size = d_model``).

    Raises:
        TypeError: ``x`` is not a tensor.
        ValueError: not 3-D, or the last dimension is not ``size``.
    """
    require_tensor(name, x, dim=3, shape=f"(B, T, {size})")
    if x.shape[-1] != size:
        raise ValueError(f"{name} must be (B, T, {size}), got shape {shape_of(x)}")
    return x


def require_source_batch(src, src_lengths, vocab_size: int, *, min_length: int = 1,
                         max_positions: int | None = None) -> tuple[int, int]:
    """Check what an encoder reads: ``src (B, S)`` ids in ``[0, vocab_size)`` and ``src_lengths (B,)``
    integers in ``[min_length, S]``. Returns ``(B, S)``.

    With ``min_length >= 1`` (a recurrent encoder: every source has a token) ``S = 0`` is refused;
    ``max_positions`` caps ``S`` (a positional encoding's ``max_len``). An empty batch passes.

    Raises:
        TypeError: ``src`` or ``src_lengths`` not an integer tensor.
        ValueError: ``src`` not 2-D or holding ids outside the vocabulary; ``S = 0`` or above
            ``max_positions``; ``src_lengths`` not ``(B,)`` or out of range.
    """
    require_token_ids("src", src, vocab_size, dim=2, shape="(B, S) token ids")
    B, S = src.shape
    if min_length >= 1 and S == 0 and B:
        raise ValueError(f"src has no positions (shape {shape_of(src)}): every source needs at least one token")
    if max_positions is not None and S > max_positions:
        raise ValueError(f"src has {S} positions but the encoder's max_len is {max_positions}")
    if isinstance(src_lengths, torch.Tensor) and src_lengths.dim() == 1 and src_lengths.shape[0] != B:
        raise ValueError(f"src_lengths has shape {shape_of(src_lengths)} but src has batch size {B}")
    require_lengths("src_lengths", src_lengths, batch=B, max_len=S, min_length=min_length)
    return B, S


def require_src_mask(src_mask, B: int, S: int) -> torch.Tensor | None:
    """``src_mask`` itself: None (every position real) or a ``(B, S)`` bool mask, True at real source tokens.

    Raises:
        TypeError: not a tensor, or not bool (a 0/1 mask: use ``src_mask.bool()``).
        ValueError: not ``(B, S)``.
    """
    require_mask("src_mask", src_mask, None, float_ok=False, meaning="True = a real token")
    if src_mask is not None and tuple(src_mask.shape) != (B, S):
        raise ValueError(f"src_mask must be (B, S) = {(B, S)}, got shape {shape_of(src_mask)}")
    return src_mask


def require_query_and_annotations(query, enc_out, query_size: int | None = None,
                                  key_size: int | None = None) -> tuple[int, int]:
    """Check an attention layer's decoder state(s) and annotations; return ``(B, S)``.

    ``query`` is ``(B, H)`` (one step) or ``(B, T, H)``, ``enc_out`` is ``(B, S, D)`` with the same
    ``B``; ``H`` and ``D`` are checked where given (and named in the message), else any size.
    Dtypes are left to the caller, whose layers know which ones they take.

    Raises:
        TypeError: ``query`` or ``enc_out`` not a tensor.
        ValueError: shapes that do not fit.
    """
    require_tensor("query", query)
    require_tensor("enc_out", enc_out)
    H = "H" if query_size is None else query_size
    if query.dim() not in (2, 3) or (query_size is not None and query.shape[-1] != query_size):
        raise ValueError(f"query must be (B, {H}) or (B, T, {H}), got shape {shape_of(query)}")
    D = "D" if key_size is None else key_size
    if enc_out.dim() != 3 or enc_out.shape[0] != query.shape[0] or (key_size is not None and enc_out.shape[-1] != key_size):
        raise ValueError(f"enc_out must be (B, S, {D}) with B = {query.shape[0]}, got shape {shape_of(enc_out)}")
    return enc_out.shape[0], enc_out.shape[1]


# ----------------------------------------------------------------------------------------------
# Query, key and value: the checks every attention function starts with (utils.attention and chapter 8)
# ----------------------------------------------------------------------------------------------
def check_query_key(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor | None = None,
    same_features: bool = True,
) -> None:
    """Raise an error naming the argument and shapes if query/key/value do not fit.

    Args:
        query: ``(..., T_q, d_q)``.
        key: ``(..., T_k, d_k)``; ``d_k`` must equal ``d_q`` when ``same_features``.
        value: ``(..., T_k, d_v)`` or None.
        same_features: whether the score needs ``d_q == d_k`` (dot products do; additive and
            general scores project, so they do not).

    Raises:
        TypeError: an argument is not a tensor, is not floating point, or the dtypes differ.
        ValueError: fewer than 2 dimensions, ``d_q != d_k``, ``query`` or ``key`` with 0
            features, ``value`` and ``key`` cover different positions, or batch dimensions that
            do not broadcast.
    """
    named = [("query", query), ("key", key)] + ([("value", value)] if value is not None else [])
    for name, t in named:
        require_tensor(name, t, min_dim=2, shape="(..., T, d)")
        require_float(name, t)
    for name, t in named[:2]:
        if t.shape[-1] == 0:  # a score over no features: the same (0) for every key
            raise ValueError(
                f"{name} has 0 features ({name} shape {shape_of(t)}): a score over no features is 0 for "
                f"every key, so the weights would be uniform whatever the input (and the scaled score "
                f"would divide by √0); query and key need at least 1 feature"
            )
    require_same_dtype(*named)
    if same_features and query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"key has {key.shape[-1]} features but query has {query.shape[-1]} "
            f"(query {shape_of(query)}, key {shape_of(key)})"
        )
    if value is not None and value.shape[-2] != key.shape[-2]:
        raise ValueError(
            f"value has {value.shape[-2]} positions but key has {key.shape[-2]} "
            f"(key {shape_of(key)}, value {shape_of(value)})"
        )
    require_broadcast_batch("query", query, "key", key)
    if value is not None:
        require_broadcast_batch("key", key, "value", value)


def require_broadcast_batch(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """``a`` and ``b``'s batch dimensions (all but the last two) broadcast, or a ValueError naming both shapes."""
    try:
        torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"{name_a} and {name_b} batch dimensions do not broadcast: {name_a} {shape_of(a)}, "
            f"{name_b} {shape_of(b)}"
        ) from None


def require_layer_dtype(name: str, t: torch.Tensor, layer: nn.Module) -> None:
    """``t`` has the dtype of ``layer``'s weights, or a TypeError that says how to convert one of them."""
    weight = next(layer.parameters(), None)
    if weight is not None and t.dtype != weight.dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but the layer's weights are {weight.dtype}; "
                        f"convert one of them (e.g. {name}.to({weight.dtype}) or layer.to({t.dtype}))")
