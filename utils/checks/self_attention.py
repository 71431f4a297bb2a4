"""Checkers for chapter 6 (self-attention with queries, keys and values).

Each takes the learner's function(s), prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. When an answer is wrong in a way learners often get it
wrong (a mask the wrong way round, heads split along the positions, sine and cosine swapped),
the verdict ends with a hint. Visible inputs come from fixed generators, so verdicts never change;
hidden ones (``hidden=True``) draw their values and shapes from
:func:`~utils.checks.hidden.hidden_generator`, which a grading run seeds afresh.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from utils.attention import scaled_dot_product_attention
from utils.checks.core import Case, CheckResult, compare_outputs, run_check, time_limit
from utils.checks.core import with_hints as _with_hints
from utils.checks.hidden import draw_size, hidden_generator
from utils.positional import sinusoidal_positional_encoding
from utils.transformer import _split_heads

__all__ = [
    "check_causal_attention", "check_split_merge_heads", "check_sinusoidal_encoding",
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Exercise: scaled dot-product attention with a causal mask
# ----------------------------------------------------------------------------------------------
def _unscaled_causal(q, k, v):
    return scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, is_causal=True)


def _anti_causal(q, k, v):
    T = q.shape[-2]
    return scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, T, dtype=torch.bool).triu())


def _strictly_causal(q, k, v):
    T = q.shape[-2]
    return scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, T, dtype=torch.bool).tril(-1))


def _strictly_causal_nan(q, k, v):
    """``tril(-1)`` with ``masked_fill(-inf)``: row 0 has nothing left, and its softmax is NaN."""
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    hidden = ~torch.ones(T, T, dtype=torch.bool).tril(-1)
    weights = torch.softmax(scores.masked_fill(hidden, float("-inf")), dim=-1)
    return weights @ v, weights


def _softmax_over_queries(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-2)
    return weights @ v, weights


def _no_mask(q, k, v):
    return scaled_dot_product_attention(q, k, v)


def check_causal_attention(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(query, key, value) -> (output, weights)`` with a causal mask.

    ``query, key (..., T, d_k)``, ``value (..., T, d_v)``; ``output (..., T, d_v)``,
    ``weights (..., T, T)`` with zeros above the diagonal.
    """
    g = _gen(6)

    def qkv(*lead, T, d_k, d_v=None, gen=g):
        return tuple(torch.randn(*lead, T, d, generator=gen) for d in (d_k, d_k, d_v or d_k))

    cases = [
        Case("one sequence of 3 steps (B=1, T=3, d=2)", qkv(1, T=3, d_k=2)),
        Case("a batch of 2 sequences of 5 steps", qkv(2, T=5, d_k=4)),
        Case("values of another size (d_v=3, d_k=8)", qkv(2, T=4, d_k=8, d_v=3)),
        Case("heads as an extra dimension (B=2, h=3, T=4, d_k=8)", qkv(2, 3, T=4, d_k=8)),
        Case("a single step (T=1): it may only see itself", qkv(2, T=1, d_k=4)),
        Case("large scores: subtract the max before exp", tuple(20 * t for t in qkv(1, T=4, d_k=4))),
    ]
    if hidden:
        h = hidden_generator("causal_attention")
        B, H, T, d_k, d_v = draw_size(h, 1, 4), draw_size(h, 1, 4), draw_size(h, 2, 10), draw_size(h, 1, 8), draw_size(h, 1, 8)
        cases += [Case(f"hidden: B={B}, h={H} heads, T={T} steps, d_k={d_k}, d_v={d_v}",
                       qkv(B, H, T=T, d_k=d_k, d_v=d_v, gen=h))]
    result = run_check("causal_attention", fn, cases, verbose=False)
    probe = qkv(2, T=5, d_k=4)
    hints = [
        ("hint: no mask at all: query t must not see keys j > t", probe, _no_mask),
        ("hint: the mask is the wrong way round: keep j <= t (torch.tril), hide j > t", probe, _anti_causal),
        ("hint: query t may see key t itself: use tril(), not tril(-1) (with -inf, row 0 then has "
         "nothing left and its softmax is NaN)", probe, _strictly_causal_nan),
        ("hint: query t may see key t itself: use tril(), not tril(-1)", probe, _strictly_causal),
        ("hint: the softmax runs over the queries; normalise each query's row over the keys, dim=-1",
         probe, _softmax_over_queries),
        ("hint: divide the scores by √d_k before the softmax", probe, _unscaled_causal),
    ]
    return _with_hints(result, fn, hints, verbose)


# ----------------------------------------------------------------------------------------------
# Exercise: splitting and merging heads
# ----------------------------------------------------------------------------------------------
def _split_along_positions(x, num_heads):
    B, T, E = x.shape
    return x.reshape(B, num_heads, T, E // num_heads)


def _merge_without_transpose(x):
    B, H, T, d = x.shape
    return x.reshape(B, T, H * d)


def _split_d_by_h(x, num_heads):
    B, T, E = x.shape
    return x.reshape(B, T, E // num_heads, num_heads).permute(0, 3, 1, 2)   # (B, h, T, d_k), strided heads


def check_split_merge_heads(split_fn: Callable, merge_fn: Callable, verbose: bool = True,
                            hidden: bool = False) -> CheckResult:
    """Check ``split_fn(x (B, T, h*d_k), num_heads) -> (B, h, T, d_k)`` and ``merge_fn`` its inverse (h heads)."""
    g = _gen(7)
    split_cases = [
        Case("B=1, T=3, E=4 into 2 heads", (torch.arange(12.0).view(1, 3, 4), 2)),
        Case("B=2, T=5, E=12 into 3 heads", (torch.randn(2, 5, 12, generator=g), 3)),
        Case("one head: only a new axis", (torch.randn(2, 3, 6, generator=g), 1)),
        Case("as many heads as features (d=1)", (torch.randn(3, 2, 4, generator=g), 4)),
    ]
    merge_cases = [
        Case("B=1, h=2, T=3, d_k=2", (torch.arange(12.0).view(1, 2, 3, 2),)),
        Case("B=2, h=3, T=5, d_k=4", (torch.randn(2, 3, 5, 4, generator=g),)),
        Case("a tensor made by transpose (not contiguous)", (torch.randn(2, 4, 3, 5, generator=g).transpose(1, 2),)),
    ]
    x = torch.randn(2, 4, 6, generator=g)
    if hidden:  # one position only (T=1), where a split along the wrong axis may still run
        h = hidden_generator("split_merge_heads")
        B, H, d = draw_size(h, 1, 4), draw_size(h, 2, 6), draw_size(h, 1, 4)
        split_cases += [Case(f"hidden: B={B}, T=1, E={H * d} into {H} heads", (torch.randn(B, 1, H * d, generator=h), H))]
        B, H, d = draw_size(h, 1, 4), draw_size(h, 2, 5), draw_size(h, 1, 5)
        merge_cases += [Case(f"hidden: B={B}, h={H}, T=1, d_k={d}", (torch.randn(B, H, 1, d, generator=h),))]
    split_hints = [("hint: heads split the features, not the positions: view as (B, T, h, d_k), then "
                    "transpose(1, 2)", (x, 3), _split_along_positions),
                   ("hint: the features are cut the wrong way: head i holds the i-th block of d_k features, "
                    "so view as (B, T, h, d_k), not (B, T, d_k, h)", (x, 3), _split_d_by_h)]
    merge_hints = [("hint: transpose back to (B, T, h, d_k) before flattening the heads",
                    (_split_heads(x, 3),), _merge_without_transpose)]

    result = run_check("split_heads", split_fn, split_cases, verbose=False, hints=split_hints)
    if result:
        result = run_check("merge_heads", merge_fn, merge_cases, verbose=False, hints=merge_hints)
    if result.status == "failed" and "view size is not compatible" in result.message:
        result.message += " — hint: after transpose, use .reshape (or .contiguous().view)"
    if result:
        try:
            with time_limit(5.0), torch.no_grad():
                back = merge_fn(split_fn(x.clone(), 3))
            problem = compare_outputs(back, x, what="merge_heads(split_heads(x))")
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything; both parts passed their own cases above
            problem = f"merge_heads(split_heads(x)) raised {type(exc).__name__}: {exc}"
        n = len(split_cases) + len(merge_cases) + 1
        status = "failed" if problem else "passed"
        text = f"{problem} (the round trip must give x back)" if problem else f"passed ({n} cases)"
        mark = "❌" if problem else "✅"
        result = CheckResult("split_heads / merge_heads", not problem,
                             f"{mark} split_heads / merge_heads: {text}", status)
    if verbose:
        print(result.message)
    return result


# ----------------------------------------------------------------------------------------------
# Exercise: sinusoidal positional encoding
# ----------------------------------------------------------------------------------------------
def _sin_cos_swapped(max_len, d_model):
    pe = sinusoidal_positional_encoding(max_len, d_model)
    return torch.stack((pe[:, 1::2], pe[:, 0::2]), dim=-1).flatten(1)  # (…, d/2, 2) -> (…, d)


def _halves_not_interleaved(max_len, d_model):
    pe = sinusoidal_positional_encoding(max_len, d_model)
    return torch.cat((pe[:, 0::2], pe[:, 1::2]), dim=1)


def _interleave_with(max_len, d_model, exponent):
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angle = pos / 10000 ** exponent(i)
    return torch.stack((torch.sin(angle), torch.cos(angle)), dim=-1).flatten(1).float()


def _one_based_positions(max_len, d_model):
    return sinusoidal_positional_encoding(max_len + 1, d_model)[1:]


def check_sinusoidal_encoding(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(max_len, d_model) -> PE (max_len, d_model)`` for an even ``d_model``."""
    cases = [
        Case("position 0 only (sin 0 = 0, cos 0 = 1)", (1, 4)),
        Case("4 positions, d_model=2 (one frequency)", (4, 2)),
        Case("10 positions, d_model=8", (10, 8)),
        Case("100 positions, d_model=64", (100, 64)),
    ]
    if hidden:
        h = hidden_generator("sinusoidal_encoding")
        for max_len, d_model in ((draw_size(h, 2, 20), 2 * draw_size(h, 1, 8)),       # few, small
                                 (draw_size(h, 30, 80), 2 * draw_size(h, 32, 80))):    # many, wide
            cases.append(Case(f"hidden: {max_len} positions, d_model={d_model}", (max_len, d_model)))
    result = run_check("sinusoidal_encoding", fn, cases, verbose=False)
    probe = (12, 8)
    hints = [
        ("hint: sine on even columns 2i, cosine on odd columns 2i+1", probe, _sin_cos_swapped),
        ("hint: interleave the columns (sin, cos, sin, cos, …) rather than putting all sines first",
         probe, _halves_not_interleaved),
        ("hint: the exponent is 2i / d_model, where 2i is the even column index", probe,
         lambda m, d: _interleave_with(m, d, lambda i: i / d)),
        ("hint: positions start at 0", probe, _one_based_positions),
    ]
    return _with_hints(result, fn, hints, verbose)
