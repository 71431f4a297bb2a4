"""Checkers for chapter 7 (the Transformer decoder: its masks, cross-attention, the KV cache).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. When an answer is wrong in a way learners often get it
wrong (a mask the wrong way round or off by one, queries taken from the encoder, a cache grown
along the wrong axis), the verdict ends with a hint. Visible inputs come from fixed generators, so
verdicts never change; hidden ones (``hidden=True``) draw their values and shapes from
:func:`~utils.checks.hidden.hidden_generator`, which a grading run seeds afresh.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.checks.core import with_hints as _with_hints
from utils.checks.hidden import draw_lengths, draw_size, hidden_generator

__all__ = ["check_decoder_masks", "check_cross_attention", "check_attend_with_cache"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _part(fn: Callable, which: tuple[int, ...] | None) -> Callable:
    """``fn`` reduced to some of the values it returns (all of them if ``which`` is None)."""
    if which is None:
        return fn

    def part(*args):
        out = fn(*args)
        return tuple(out[i] for i in which)
    return part


def _name_mistake(result: CheckResult, fn: Callable, hints: Sequence[tuple[str, tuple, Callable, tuple | None]],
                  verbose: bool) -> CheckResult:
    """:func:`~utils.checks.core.with_hints` where each known mistake ``(hint, probe, wrong, which)``
    is compared on the returned values ``which`` only (all if None): a mistake in one of them is
    named whatever the others hold, since a learner may make two mistakes at once."""
    for hint, probe, wrong, which in hints:
        if " — hint:" in result.message:
            break
        _with_hints(result, _part(fn, which), [(hint, probe, _part(wrong, which))], verbose=False)
    if verbose:
        print(result.message)
    return result


def _softmax_attention(scores, value, hidden=None, dim=-1, fill=float("-inf")):
    """The wrong answers' shared tail: mask (``hidden`` True = blocked), softmax over ``dim``, pool."""
    if hidden is not None:
        scores = scores.masked_fill(hidden, fill)
    weights = torch.softmax(scores, dim=dim)
    return weights @ value, weights


# ----------------------------------------------------------------------------------------------
# Exercise: the decoder's two masks
# ----------------------------------------------------------------------------------------------
def _padding(src_lengths, S, blocked=False):
    """``(B, S)``: True at real tokens, or at padding if ``blocked``."""
    pos, lengths = torch.arange(S), src_lengths.unsqueeze(1)  # (S,) vs (B, 1) -> (B, S)
    return pos >= lengths if blocked else pos < lengths


def _masks_hints() -> list:
    """Known mistakes, each compared on the mask it gets wrong only (the other value is None)."""
    polarity = ("hint: the masks are the wrong way round: in this course True means \"may attend\" (as in "
                "F.scaled_dot_product_attention); nn.MultiheadAttention's True = blocked is the opposite")
    probe = (4, torch.tensor([3, 1, 4]), 4)   # T == S, so that a mask over the target has the right shape

    def self_hint(text, self_mask):
        return (text, probe, lambda T, L, S: (self_mask(torch.ones(T, T, dtype=torch.bool)), None), (0,))

    def cross_hint(text, cross_mask):
        return (text, probe, lambda T, L, S: (None, cross_mask(T, L, S)), (1,))

    return [
        (polarity, probe, lambda T, L, S: (torch.ones(T, T, dtype=torch.bool).triu(1),
                                           _padding(L, S, blocked=True).unsqueeze(1).expand(-1, T, -1)), None),
        self_hint(polarity, lambda ones: ones.triu(1)),
        self_hint("hint: position t would see the tokens after it, its own next token first: self_mask is "
                  "True where j <= t (torch.tril), not where j >= t (triu)", lambda ones: ones.triu()),
        self_hint("hint: off by one: position t would see token t+1, the one it must predict; use tril() "
                  "(j <= t), not tril(1)", lambda ones: ones.tril(1)),
        self_hint("hint: position t may see itself: use tril(), not tril(-1) (position 0 would see nothing)",
                  lambda ones: ones.tril(-1)),
        self_hint("hint: no causal mask: position t must not see the target tokens after it (torch.tril)",
                  lambda ones: ones),
        cross_hint(polarity, lambda T, L, S: _padding(L, S, blocked=True).unsqueeze(1).expand(-1, T, -1)),
        cross_hint("hint: the cross mask hides source keys, not target positions: cross_mask[b, t, j] = "
                   "j < src_lengths[b], with j running over the S source positions (the last axis)",
                   lambda T, L, S: (torch.arange(T) < L.unsqueeze(1)).unsqueeze(2).expand(-1, -1, S)),
        cross_hint("hint: the source padding is forgotten: source positions j >= src_lengths[b] must be False",
                   lambda T, L, S: torch.ones(len(L), T, S, dtype=torch.bool)),
        cross_hint("hint: cross-attention is not causal: every target position may see every real source token",
                   lambda T, L, S: _padding(L, S).unsqueeze(1) & torch.ones(T, S, dtype=torch.bool).tril()),
        cross_hint("hint: cross_mask must be (B, T, S): expand the (B, 1, S) padding mask over the T target "
                   "positions", lambda T, L, S: _padding(L, S).unsqueeze(1)),
    ]


def check_decoder_masks(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(tgt_len, src_lengths (B,), S) -> (self_mask (T, T), cross_mask (B, T, S))``.

    Both bool, True = may attend: ``self_mask[t, j] = j <= t``, ``cross_mask[b, t, j] = j < src_lengths[b]``.
    """
    def case(desc, T, lengths, S):
        return Case(desc, (T, torch.tensor(lengths), S))

    cases = [
        case("one target of 3 tokens, one source of 4 (no padding)", 3, [4], 4),
        case("a padded batch of sources (lengths 5, 2, 4), 4 target tokens", 4, [5, 2, 4], 5),
        case("a one-token target (T=1): it sees itself", 1, [2, 3], 3),
        case("a target longer than the source (T=6, S=3)", 6, [3, 1], 3),
        case("S longer than the longest source (lengths 3, 2; S=5)", 3, [3, 2], 5),
        case("an empty source (length 0): nothing to see", 2, [0, 2], 2),
    ]
    if hidden:
        h = hidden_generator("decoder_masks")
        B, S, T = draw_size(h, 2, 5), draw_size(h, 2, 8), draw_size(h, 2, 9)
        lengths = draw_lengths(h, B, S).tolist()                          # one of length 1, one unpadded
        cases.append(case(f"hidden: lengths {', '.join(map(str, lengths))}; T={T}, S={S}", T, lengths, S))
        S, T = draw_size(h, 5, 12), draw_size(h, 1, 3)
        cases.append(case(f"hidden: one source of {S}, T={T}", T, [S], S))

    def bool_masks(candidate: Callable) -> str | None:
        out = candidate(4, torch.tensor([5, 2, 4]), 5)
        for name, mask in zip(("self_mask", "cross_mask"), out):
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                kind = f"a {mask.dtype} tensor" if isinstance(mask, torch.Tensor) else f"a {type(mask).__name__}"
                return (f"{name} is {kind} but masks must be bool tensors (True = may attend): a float mask "
                        "is added to the scores, and masked_fill takes bool only")
        return None

    result = run_check("decoder_masks", fn, cases, verbose=False, extra=bool_masks)
    return _name_mistake(result, fn, _masks_hints(), verbose)


# ----------------------------------------------------------------------------------------------
# Exercise: cross-attention, queries from the decoder, keys and values from the encoder
# ----------------------------------------------------------------------------------------------
CROSS_MISTAKES = ("swapped", "encoder queries", "unscaled", "unmasked", "mask reversed", "mask not unsqueezed",
                  "over the queries", "over the batch")


def _cross(dec, enc, src_mask, W_q, W_k, W_v, *, mistake: str, fill=float("-inf")):
    """Cross-attention with one of :data:`CROSS_MISTAKES` (``fill``: what hides a blocked score)."""
    if mistake not in CROSS_MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}")
    queries, keys = {"swapped": (enc, dec), "encoder queries": (enc, enc)}.get(mistake, (dec, enc))
    Q, K, V = queries @ W_q, keys @ W_k, keys @ W_v              # (B, T, d_k), (B, S, d_k), (B, S, d_v)
    scores = Q @ K.transpose(-2, -1)                             # (B, T, S)
    if mistake != "unscaled":
        scores = scores / math.sqrt(Q.shape[-1])
    blocked = {"unmasked": None, "mask reversed": src_mask.unsqueeze(1),
               "mask not unsqueezed": ~src_mask}.get(mistake, ~src_mask.unsqueeze(1))
    dim = {"over the queries": -2, "over the batch": 0}.get(mistake, -1)
    return _softmax_attention(scores, V, blocked, dim, fill)


def _cross_inputs(g, B, T, S, lengths, d_dec=6, d_enc=6, d_k=4, d_v=3, scale=1.0, pad_scale=1.0):
    dec = torch.randn(B, T, d_dec, generator=g) * scale
    enc = torch.randn(B, S, d_enc, generator=g) * scale
    src_mask = _padding(torch.tensor(lengths), S)
    enc = torch.where(src_mask.unsqueeze(-1), enc, enc * pad_scale)  # padded rows: nonzero, maybe large
    weights = [torch.randn(d_in, d_out, generator=g) / math.sqrt(d_in)
               for d_in, d_out in ((d_dec, d_k), (d_enc, d_k), (d_enc, d_v))]
    return (dec, enc, src_mask, *weights)


def check_cross_attention(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(dec (B, T, d_dec), enc (B, S, d_enc), src_mask (B, S), W_q, W_k, W_v) ->
    (output (B, T, d_v), weights (B, T, S))``: ``softmax(dec W_q (enc W_k)ᵀ / √d_k) enc W_v`` with
    zero weight where ``src_mask`` is False."""
    g = _gen(70)
    shapes = {}  # case -> (T, S)

    def case(desc, B, T, S, lengths, **kw):
        shapes[desc] = (T, S)
        return Case(desc, _cross_inputs(g, B, T, S, lengths, **kw))

    cases = [
        case("one sentence, no padding (T=2, S=3)", 1, 2, 3, [3]),
        case("a padded batch (T=4, S=5, lengths 5, 3, 1)", 3, 4, 5, [5, 3, 1]),
        case("decoder and encoder of other widths (d_dec=5, d_enc=7, d_k=3, d_v=2)", 2, 3, 4, [4, 2],
             d_dec=5, d_enc=7, d_k=3, d_v=2),
        case("a one-token target (T=1)", 2, 1, 4, [2, 4]),
        case("padded source positions with large scores", 2, 3, 6, [4, 2], pad_scale=8.0),
        case("large scores: subtract the max before exp", 2, 4, 3, [3, 2], scale=12.0),
    ]
    if hidden:
        h = hidden_generator("cross_attention")
        B, T, S = draw_size(h, 2, 5), draw_size(h, 2, 7), draw_size(h, 2, 8)
        lengths = draw_lengths(h, B, S).tolist()                          # one of length 1, one unpadded
        kw = {k: draw_size(h, 2, 8) for k in ("d_dec", "d_enc")} | {k: draw_size(h, 1, 7) for k in ("d_k", "d_v")}
        sizes = ", ".join(f"{k}={v}" for k, v in kw.items())
        drawn = [(f"hidden: T={T}, S={S}, lengths {', '.join(map(str, lengths))}, {sizes}", B, T, S, lengths, kw)]
        B, S = draw_size(h, 1, 3), draw_size(h, 1, 3)
        T = draw_size(h, S + 1, S + 5)
        lengths = draw_lengths(h, B, S).tolist()
        drawn.append((f"hidden: a target longer than the source (T={T}, S={S}, lengths "
                      f"{', '.join(map(str, lengths))})", B, T, S, lengths, {}))
        for desc, B, T, S, lengths, kw in drawn:
            shapes[desc] = (T, S)
            cases.append(Case(desc, _cross_inputs(h, B, T, S, lengths, **kw)))

    tempting = cases[4].args

    def exact_zeros(candidate: Callable) -> str | None:
        _, weights = candidate(*(a.clone() for a in tempting))
        if not torch.all(weights.masked_select(~tempting[2].unsqueeze(1).expand_as(weights)) == 0):
            return "padded source positions must get weight exactly 0 (mask the scores before the softmax)"
        return None

    result = run_check("cross_attention", fn, cases, verbose=False, extra=exact_zeros)
    rows = _output_rows(result.message, shapes)
    from_encoder = rows is not None and rows[0] == rows[2] != rows[1]  # got S rows, expected T
    if result.status == "failed" and from_encoder:
        result.message += " — queries must come from the decoder: one output row per target position"

    probe = _cross_inputs(_gen(71), 2, 4, 4, [3, 2])       # T == S: the swapped answer has the right shapes
    same_batch = _cross_inputs(_gen(72), 3, 3, 5, [4, 2, 5])  # B == T: a (B, S) mask broadcasts wrongly
    queries = ("hint: the queries come from the decoder (Q = dec W_q), the keys and values from the encoder "
               "(enc W_k, enc W_v)")
    wrong_axis = "hint: the softmax runs over the {}; normalise each query's row over the source positions, dim=-1"
    hints = [] if from_encoder else [
        (queries, probe, lambda *a: _cross(*a, mistake="swapped")),
        (queries, probe, lambda *a: _cross(*a, mistake="encoder queries")),
    ]
    hints += [
        ("hint: the mask is the wrong way round: src_mask is True at real tokens (may attend); hide the "
         "positions where it is False (masked_fill(~src_mask, …))", probe, lambda *a: _cross(*a, mistake="mask reversed")),
        ("hint: padded source positions get weight: mask the scores with src_mask before the softmax",
         probe, lambda *a: _cross(*a, mistake="unmasked")),
        ("hint: src_mask is (B, S): unsqueeze it to (B, 1, S) so that it broadcasts over the T queries",
         same_batch, lambda *a: _cross(*a, mistake="mask not unsqueezed")),
        (wrong_axis.format("queries (dim=1 or -2)"), probe, lambda *a: _cross(*a, mistake="over the queries")),
        (wrong_axis.format("queries (dim=1 or -2)"), probe, lambda *a: _cross(*a, mistake="over the queries", fill=-1e9)),
        (wrong_axis.format("batch (dim=0)"), probe, lambda *a: _cross(*a, mistake="over the batch")),
        (wrong_axis.format("batch (dim=0)"), probe, lambda *a: _cross(*a, mistake="over the batch", fill=-1e9)),
        ("hint: divide the scores by √d_k before the softmax", probe, lambda *a: _cross(*a, mistake="unscaled")),
    ]
    return _with_hints(result, fn, hints, verbose)


def _output_rows(message: str, shapes: dict) -> tuple[int, int, int] | None:
    """``(rows the output has, T, S)`` if ``message`` says the output has a wrong shape, else None."""
    found = re.search(r'output #1 has shape \(\d+, (\d+), \d+\) but expected \(\d+, \d+, \d+\) on "(.+)"', message)
    if not found or found.group(2) not in shapes:
        return None
    return (int(found.group(1)), *shapes[found.group(2)])


# ----------------------------------------------------------------------------------------------
# Exercise: one decoding step with a key–value cache
# ----------------------------------------------------------------------------------------------
CACHE_MISTAKES = ("old keys only", "new first", "unscaled", "over the query", "over the heads")


def _cached(q_t, k_t, v_t, cache_k, cache_v, *, mistake: str):
    """One step with one of :data:`CACHE_MISTAKES`."""
    if mistake not in CACHE_MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}")
    if mistake == "new first":  # only the caches are compared: they are all this mistake changes
        return None, torch.cat([k_t, cache_k], dim=-2), torch.cat([v_t, cache_v], dim=-2)
    k, v = (cache_k, cache_v) if mistake == "old keys only" else \
        (torch.cat([cache_k, k_t], dim=-2), torch.cat([cache_v, v_t], dim=-2))   # (B, H, t+1, d)
    scores = q_t @ k.transpose(-2, -1)                                           # (B, H, 1, t+1)
    if mistake != "unscaled":
        scores = scores / math.sqrt(q_t.shape[-1])
    dim = {"over the query": -2, "over the heads": 1}.get(mistake, -1)
    return _softmax_attention(scores, v, dim=dim)[0], None, None


def _cache_inputs(g, B, H, t, d, scale=1.0):
    return tuple(torch.randn(B, H, n, d, generator=g) * (scale if i < 2 else 1.0)
                 for i, n in enumerate((1, 1, 1, t, t)))


def check_attend_with_cache(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(q_t, k_t, v_t (B, H, 1, d), cache_k, cache_v (B, H, t, d)) ->
    (output (B, H, 1, d), new_cache_k, new_cache_v (B, H, t+1, d))``."""
    g = _gen(75)

    def case(desc, B, H, t, d, scale=1.0):
        return Case(desc, _cache_inputs(g, B, H, t, d, scale))

    cases = [
        case("a cache of 2 tokens (B=1, H=1, d=4)", 1, 1, 2, 4),
        case("an empty cache (t=0): the first token attends to itself only", 2, 2, 0, 4),
        case("a batch of 2, 3 heads, a cache of 5 tokens, d=8", 2, 3, 5, 8),
        case("a cache of 1 token (B=2, H=2, d=2)", 2, 2, 1, 2),
        case("large scores: subtract the max before exp", 1, 2, 4, 4, scale=10.0),
    ]
    if hidden:
        h = hidden_generator("attend_with_cache")
        B, H, t, d = draw_size(h, 1, 4), draw_size(h, 1, 5), draw_size(h, 2, 10), draw_size(h, 1, 8)
        cases.append(Case(f"hidden: B={B}, H={H}, a cache of {t} tokens, d={d}", _cache_inputs(h, B, H, t, d)))
        B, H, d = draw_size(h, 1, 3), draw_size(h, 1, 4), draw_size(h, 1, 8)
        cases.append(Case(f"hidden: an empty cache, B={B}, H={H}, d={d}", _cache_inputs(h, B, H, 0, d)))
    result = run_check("attend_with_cache", fn, cases, verbose=False)

    hints = []
    if result.status == "failed" and _grown_elsewhere(result.message):
        result.message += " — hint: the cache grows along the time axis, dim -2: torch.cat([cache_k, k_t], dim=-2)"
    else:
        probe = _cache_inputs(_gen(76), 2, 2, 3, 4)

        def step(mistake):
            return lambda *a: _cached(*a, mistake=mistake)

        hints = [
            ("hint: the new token attends to itself too: append k_t and v_t to the cache first, then attend "
             "over all t+1 keys", probe, step("old keys only"), (0,)),
            ("hint: the softmax runs over the keys, dim=-1 (over dim=-2, the single query, every weight is 1)",
             probe, step("over the query"), (0,)),
            ("hint: the softmax runs over the heads; normalise over the keys, dim=-1", probe, step("over the heads"), (0,)),
            ("hint: divide the scores by √d before the softmax", probe, step("unscaled"), (0,)),
            ("hint: the new key and value go after the cached ones, in time order: torch.cat([cache_k, k_t], dim=-2)",
             probe, step("new first"), (1, 2)),
        ]
    return _name_mistake(result, fn, hints, verbose)


def _grown_elsewhere(message: str) -> bool:
    """Whether the verdict shows a cache concatenated along an axis other than time (dim -2 of 4)."""
    cat = re.search(r"Sizes of tensors must match except in dimension (-?\d+)", message)
    if cat:
        return int(cat.group(1)) % 4 != 2
    shape = re.search(r"output #[23] has shape \(([\d, ]+)\) but expected \(([\d, ]+)\)", message)
    if shape:
        got, want = ([int(n) for n in s.split(",")] for s in shape.groups())
        return len(got) == len(want) == 4 and got[2] == want[2] - 1 and any(got[i] != want[i] for i in (0, 1, 3))
    return False
