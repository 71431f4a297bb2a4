"""Checkers for chapter 8 (what attention costs: the online softmax, sliding windows, linear attention).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. When an answer is wrong in a way learners often get it
wrong (an old sum not rescaled to the new maximum, a window off by one or open to the future, a
linear-attention output read before the state takes in the current token), the verdict ends with a
hint. Visible inputs come from fixed generators, so verdicts never change; hidden ones
(``hidden=True``) draw their values and shapes from :func:`~utils.checks.hidden.hidden_generator`,
which a grading run seeds afresh.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from utils.checks.core import Case, CheckResult, run_check
from utils.checks.core import with_hints as _with_hints
from utils.checks.hidden import draw_size, hidden_generator
from utils.checks.transformer import _name_mistake

__all__ = ["check_online_softmax_merge", "check_sliding_window_mask", "check_linear_attention_step"]

NEG_INF = float("-inf")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# Exercise: merge two partial softmax results (m, l, o)
# ----------------------------------------------------------------------------------------------
MERGE_MISTAKES = ("old not rescaled", "new not rescaled", "neither rescaled", "sign", "not subtracted",
                  "output not rescaled", "sum not rescaled", "not unsqueezed", "normalised", "nan")


def _partial(scores, value):
    """``(m, l, o)`` of one block: ``scores (B, T, n)`` (``-inf`` where masked), ``value (B, n, d_v)``."""
    m = scores.amax(-1)                                                   # (B, T)
    p = torch.exp(scores - torch.where(m == NEG_INF, 0.0, m).unsqueeze(-1))
    return m, p.sum(-1), p @ value                                        # (B, T), (B, T), (B, T, d_v)


def _merge(m1, l1, o1, m2, l2, o2, *, mistake: str):
    """The merge with one of :data:`MERGE_MISTAKES`."""
    if mistake not in MERGE_MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}")
    m = torch.maximum(m1, m2)
    safe = m if mistake == "nan" else torch.where(m == NEG_INF, 0.0, m)
    a = {"sign": (torch.exp(safe - m1), torch.exp(safe - m2)),
         "not subtracted": (torch.exp(m1), torch.exp(m2))}.get(mistake, (torch.exp(m1 - safe), torch.exp(m2 - safe)))
    one = torch.ones_like(m)
    forgot = {"old not rescaled": (one, a[1]), "new not rescaled": (a[0], one), "neither rescaled": (one, one)}
    for_l = {**forgot, "sum not rescaled": (one, one)}.get(mistake, a)   # the factors l1 and l2 get
    for_o = {**forgot, "output not rescaled": (one, one)}.get(mistake, a)
    l = for_l[0] * l1 + for_l[1] * l2  # noqa: E741 - l is the normaliser, as in the online-softmax papers
    if mistake == "not unsqueezed":                                       # (B, T) against (B, T, d_v)
        o = for_o[0] * o1 + for_o[1] * o2
    else:
        o = for_o[0].unsqueeze(-1) * o1 + for_o[1].unsqueeze(-1) * o2
    return m, l, (o / l.unsqueeze(-1) if mistake == "normalised" else o)


def _merge_inputs(g, B, T, n1, n2, d_v, scale=1.0, shift1=0.0, shift2=0.0, empty1=(), empty2=()):
    """Two blocks' partial results for ``B × T`` query rows; rows ``empty1``/``empty2`` (indices
    into the flattened ``B · T`` rows) see no key of that block."""
    scores = torch.randn(B, T, n1 + n2, generator=g) * scale
    value = torch.randn(B, n1 + n2, d_v, generator=g)
    first, second = scores[..., :n1] + shift1, scores[..., n1:] + shift2
    for block, rows in ((first, empty1), (second, empty2)):
        block.view(B * T, -1)[list(rows)] = NEG_INF
    return (*_partial(first, value[:, :n1]), *_partial(second, value[:, n1:]))


def check_online_softmax_merge(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(m1, l1, o1, m2, l2, o2) -> (m, l, o)``: two partial softmax results merged exactly.

    ``m, l (B, T)``, ``o (B, T, d_v)``, with ``o`` not divided by ``l``: ``m = max(m1, m2)``,
    ``l = exp(m1 − m) l1 + exp(m2 − m) l2``, ``o = exp(m1 − m) o1 + exp(m2 − m) o2``; a block with
    ``m = -inf`` (no key) adds nothing.
    """
    g = _gen(80)

    def case(desc, *shape, **kw):
        return Case(desc, _merge_inputs(g, *shape, **kw))

    cases = [
        case("one query, two blocks of 3 keys (B=1, T=1, d_v=2)", 1, 1, 3, 3, 2),
        case("a batch: B=2, T=4 queries, blocks of 2 and 5 keys, d_v=3", 2, 4, 2, 5, 3),
        case("the new block holds the larger maximum", 2, 3, 4, 4, 2, shift2=3.0),
        case("the old block holds the larger maximum", 2, 3, 4, 4, 2, shift1=3.0),
        case("large scores (about ±100): exp without subtracting the maximum overflows", 1, 3, 4, 2, 3, scale=40.0),
        case("a block whose keys are all masked for some rows (m = -inf, l = 0, o = 0)", 2, 3, 3, 3, 2,
             empty1=(0, 4), empty2=(2,)),
        case("a row with no key in either block: it stays m = -inf, l = 0, o = 0 (no NaN)", 1, 3, 2, 3, 2,
             empty1=(1,), empty2=(1,)),
    ]
    if hidden:
        h = hidden_generator("online_softmax_merge")
        B, T, n1, n2, d_v = (draw_size(h, 1, 3), draw_size(h, 2, 6), draw_size(h, 1, 6), draw_size(h, 1, 6),
                             draw_size(h, 1, 5))
        shifts = {"shift1": float(draw_size(h, -4, 4)), "shift2": float(draw_size(h, -4, 4))}
        cases.append(Case(f"hidden: B={B}, T={T}, blocks of {n1} and {n2} keys, d_v={d_v}",
                          _merge_inputs(h, B, T, n1, n2, d_v, **shifts)))
        B, T, d_v = draw_size(h, 1, 3), draw_size(h, 2, 5), draw_size(h, 1, 4)
        empty = draw_size(h, 0, B * T - 1)
        cases.append(Case(f"hidden: masked rows, B={B}, T={T}, d_v={d_v}",
                          _merge_inputs(h, B, T, 3, 2, d_v, empty1=(empty,), empty2=(empty, (empty + 1) % (B * T)))))
    result = run_check("online_softmax_merge", fn, cases, verbose=False)

    probe = _merge_inputs(_gen(81), 3, 3, 3, 4, 3, shift1=1.0)  # B == T == d_v; each block wins some rows
    probe_empty = _merge_inputs(_gen(82), 1, 2, 2, 2, 2, empty1=(0,), empty2=(0,))

    def merge(mistake):
        return lambda *a: _merge(*a, mistake=mistake)

    rescale = ("hint: {} must be rescaled to the new maximum too: multiply it by exp({} − m), with "
               "m = max(m1, m2); each partial result was computed against its own maximum")
    hints = [
        ("hint: neither side is rescaled: l = exp(m1 − m)·l1 + exp(m2 − m)·l2, and o the same way",
         probe, merge("neither rescaled")),
        (rescale.format("the old sum l1 (and output o1)", "m1"), probe, merge("old not rescaled")),
        (rescale.format("the new block's sum l2 (and output o2)", "m2"), probe, merge("new not rescaled")),
        ("hint: the rescale factors are upside down: exp(m_i − m) ≤ 1 shrinks the side with the smaller "
         "maximum, exp(m − m_i) would grow it", probe, merge("sign")),
        ("hint: the maximum is taken but not subtracted: the factors are exp(m1 − m) and exp(m2 − m), not "
         "exp(m1) and exp(m2)", probe, merge("not subtracted")),
        ("hint: o is rescaled like l: o = exp(m1 − m)·o1 + exp(m2 − m)·o2", probe, merge("output not rescaled")),
        ("hint: l is rescaled like o: l = exp(m1 − m)·l1 + exp(m2 − m)·l2", probe, merge("sum not rescaled")),
        ("hint: the factor exp(m1 − m) has shape (B, T) and o1 (B, T, d_v): unsqueeze it, "
         "exp(m1 − m).unsqueeze(-1) * o1, or it multiplies along d_v", probe, merge("not unsqueezed")),
        ("hint: o stays unnormalised (not divided by l) until every block is in: return the rescaled sum",
         probe, merge("normalised")),
        ("hint: a row that has seen no key yet has m = -inf, and exp(m1 − m) = exp(-inf − (-inf)) is NaN: "
         "subtract 0 instead of m where m is -inf (torch.where)", probe_empty, merge("nan")),
    ]
    return _with_hints(result, fn, hints, verbose)


# ----------------------------------------------------------------------------------------------
# Exercise: the sliding-window (banded causal) mask
# ----------------------------------------------------------------------------------------------
def _offsets(T):
    pos = torch.arange(T)
    return pos.unsqueeze(1) - pos                                       # [t, j] = t − j


def _banded(T, window, low=0, high=None, absolute=False):
    """``low <= t − j < high`` (``high`` default ``window``), or ``|t − j| < window`` if ``absolute``."""
    d = _offsets(T)
    return d.abs() < window if absolute else (d >= low) & (d < (window if high is None else high))


def check_sliding_window_mask(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(T, window) -> (T, T)`` bool, True = may attend: position ``t`` sees ``t − window + 1 … t``."""
    cases = [
        Case("T=5, window=2: itself and the one before", (5, 2)),
        Case("T=6, window=3", (6, 3)),
        Case("window=1: each position sees itself only", (4, 1)),
        Case("window=T: the plain causal mask", (4, 4)),
        Case("a window longer than the sequence (T=3, window=5)", (3, 5)),
        Case("a single position (T=1, window=2)", (1, 2)),
    ]
    if hidden:
        h = hidden_generator("sliding_window_mask")
        T = draw_size(h, 7, 24)
        window = draw_size(h, 2, T - 2)
        cases.append(Case(f"hidden: T={T}, window={window}", (T, window)))
        T = draw_size(h, 2, 9)
        window = draw_size(h, T, T + 6)
        cases.append(Case(f"hidden: T={T}, a window of {window} ≥ T", (T, window)))

    def bool_mask(candidate: Callable) -> str | None:
        mask = candidate(6, 3)
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            kind = f"a {mask.dtype} tensor" if isinstance(mask, torch.Tensor) else f"a {type(mask).__name__}"
            return (f"the mask is {kind} but must be a bool tensor (True = may attend): a float mask is added "
                    "to the scores, and masked_fill takes bool only")
        return None

    result = run_check("sliding_window_mask", fn, cases, verbose=False, extra=bool_mask)
    probe = (7, 3)
    hints = [
        ("hint: the mask is the wrong way round: True means \"may attend\" (as in F.scaled_dot_product_attention), "
         "so the band is True and everything else False", probe, lambda T, w: ~_banded(T, w)),
        ("hint: the band opens to the future as well: a causal window sees t − window + 1 … t, never j > t",
         probe, lambda T, w: _banded(T, w, absolute=True)),
        ("hint: the band opens to the future as well (and is one too wide on each side): a causal window "
         "sees t − window + 1 … t", probe, lambda T, w: _banded(T, w + 1, absolute=True)),
        ("hint: the band runs the wrong way, into the future: position t sees t − window + 1 … t, the lower "
         "triangle (j <= t)", probe, lambda T, w: _banded(T, w, low=-(w - 1), high=1)),
        ("hint: off by one: the window holds window + 1 positions; t sees t − window + 1 … t (t − j < window, "
         "not <= window)", probe, lambda T, w: _banded(T, w, high=w + 1)),
        ("hint: off by one: the window holds window − 1 positions; t sees t − window + 1 … t, itself included",
         probe, lambda T, w: _banded(T, w, high=w - 1)),
        ("hint: position t must see itself: the window is t − window + 1 … t, not t − window … t − 1",
         probe, lambda T, w: _banded(T, w, low=1, high=w + 1)),
        ("hint: position t must see itself: the window is t − window + 1 … t, and t − window + 1 … t − 1 "
         "leaves t out", probe, lambda T, w: _banded(T, w, low=1)),
        ("hint: this is the plain causal mask: also hide the keys more than window − 1 positions back (t − j < window)",
         probe, lambda T, w: _banded(T, w, high=T)),
    ]
    return _with_hints(result, fn, hints, verbose)


# ----------------------------------------------------------------------------------------------
# Exercise: one step of causal linear attention with a fixed-size state
# ----------------------------------------------------------------------------------------------
STEP_MISTAKES = ("no normaliser", "read before update", "no feature map", "elu only", "state transposed",
                 "z from raw keys")


def _phi(x):
    return F.elu(x) + 1


def _step(S, z, q, k, v, *, mistake: str | None = None):
    """One step, right (``mistake=None``) or with one of :data:`STEP_MISTAKES`."""
    if mistake is not None and mistake not in STEP_MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}")
    feature_maps: dict[str | None, Callable] = {"no feature map": lambda x: x, "elu only": F.elu}
    phi = feature_maps.get(mistake, _phi)
    fq, fk = phi(q), phi(k)
    outer = v.unsqueeze(-1) * fk.unsqueeze(-2) if mistake == "state transposed" else fk.unsqueeze(-1) * v.unsqueeze(-2)
    new_S, new_z = S + outer, z + (k if mistake == "z from raw keys" else fk)
    read_S, read_z = (S, z) if mistake == "read before update" else (new_S, new_z)
    num = (fq.unsqueeze(-2) @ read_S).squeeze(-2)                       # (B, h, d_v)
    den = (fq * read_z).sum(-1, keepdim=True)                           # (B, h, 1)
    return (num if mistake == "no normaliser" else num / den), new_S, new_z


def _step_inputs(g, B, h, d_k, d_v, past=3, scale=1.0):
    """A state built from ``past`` earlier tokens, then the current ``q_t, k_t, v_t``."""
    S, z = torch.zeros(B, h, d_k, d_v), torch.zeros(B, h, d_k)
    for _ in range(past):
        k, v = torch.randn(B, h, d_k, generator=g) * scale, torch.randn(B, h, d_v, generator=g)
        S, z = S + _phi(k).unsqueeze(-1) * v.unsqueeze(-2), z + _phi(k)
    q, k = (torch.randn(B, h, d_k, generator=g) * scale for _ in range(2))
    return S, z, q, k, torch.randn(B, h, d_v, generator=g)


def check_linear_attention_step(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(state_S (B, h, d_k, d_v), state_z (B, h, d_k), q_t, k_t (B, h, d_k), v_t (B, h, d_v))
    -> (out_t (B, h, d_v), S_t, z_t)`` with ``φ(x) = elu(x) + 1``: ``S_t = S + φ(k_t) v_tᵀ``,
    ``z_t = z + φ(k_t)``, ``out_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t`` (position ``t`` sees itself)."""
    g = _gen(85)

    def case(desc, *shape, **kw):
        return Case(desc, _step_inputs(g, *shape, **kw))

    cases = [
        case("the first token, from an empty state (S = 0, z = 0): it sees only itself", 1, 1, 3, 2, past=0),
        case("a state built from 4 earlier tokens (B=2, h=2, d_k=4, d_v=3)", 2, 2, 4, 3, past=4),
        case("as many key features as value features (d_k = d_v = 3)", 1, 2, 3, 3, past=2),
        case("one head, d_k=8, d_v=5, after 10 tokens", 2, 1, 8, 5, past=10),
        case("large queries and keys (φ stays positive: no sign flips, no division by 0)", 1, 2, 4, 2, scale=6.0),
    ]
    if hidden:
        h = hidden_generator("linear_attention_step")
        B, H, d_k, d_v, past = (draw_size(h, 1, 3), draw_size(h, 1, 4), draw_size(h, 1, 8), draw_size(h, 1, 8),
                                draw_size(h, 1, 12))
        cases.append(Case(f"hidden: B={B}, h={H}, d_k={d_k}, d_v={d_v}, after {past} tokens",
                          _step_inputs(h, B, H, d_k, d_v, past=past)))
        B, H, d = draw_size(h, 1, 3), draw_size(h, 1, 3), draw_size(h, 1, 6)
        cases.append(Case(f"hidden: an empty state, B={B}, h={H}, d_k=d_v={d}", _step_inputs(h, B, H, d, d, past=0)))
    result = run_check("linear_attention_step", fn, cases, verbose=False)

    probe = _step_inputs(_gen(86), 2, 2, 3, 3, past=3)                  # d_k == d_v: a transposed state fits

    def wrong(mistake):
        return lambda *a: _step(*a, mistake=mistake)

    hints = [
        ("hint: the normaliser is missing: divide φ(q_t)ᵀ S_t by φ(q_t)ᵀ z_t, the sum of the similarities "
         "(the softmax's denominator)", probe, wrong("no normaliser"), (0,)),
        ("hint: update the state first, then read it: position t sees itself (S_t = S_{t−1} + φ(k_t) v_tᵀ, "
         "out_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t); read before the update, the first token divides 0 by 0",
         probe, wrong("read before update"), (0,)),
        ("hint: apply the feature map φ(x) = elu(x) + 1 to q_t and k_t: raw dot products can be negative, and "
         "the normaliser can reach 0", probe, wrong("no feature map"), None),
        ("hint: φ(x) = elu(x) + 1, not elu(x): the + 1 keeps every feature positive", probe, wrong("elu only"), None),
        ("hint: S is (d_k, d_v), rows indexed by key features: add φ(k_t) v_tᵀ, i.e. "
         "φ(k_t).unsqueeze(-1) * v_t.unsqueeze(-2)", probe, wrong("state transposed"), (1,)),
        ("hint: z sums the keys' features φ(k_t), not the raw keys k_t", probe, wrong("z from raw keys"), (2,)),
    ]
    return _name_mistake(result, fn, hints, verbose)
