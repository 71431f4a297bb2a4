"""The chapter-2 checkers and the checker core, tried on right and deliberately wrong answers."""

import time

import numpy as np
import pytest
import torch

from grading import references as R
from tests.conftest import ours
from utils.checks import Case, CheckResult, run_check
from utils.checks.attention import check_additive_score, check_attend, check_masked_softmax

attend, masked_softmax, reference_additive_score = ours(R.attend), ours(R.masked_softmax), ours(R.additive_score)


def verdict(checker, fn) -> CheckResult:
    return checker(fn, verbose=False)


# ------------------------------------------------------------------ masked_softmax
def ms_alternative(scores, mask=None):
    """A correct answer written differently: exp of shifted scores, renormalised by hand."""
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    mask = mask.expand_as(scores)
    shifted = scores - scores.masked_fill(~mask, -1e30).amax(-1, keepdim=True).clamp_min(-1e29)
    e = torch.exp(shifted) * mask
    total = e.sum(-1, keepdim=True)
    return torch.where(total > 0, e / total.clamp_min(1e-30), torch.zeros_like(e))


def ms_not_implemented(scores, mask=None):
    raise NotImplementedError()


def ms_ignores_mask(scores, mask=None):
    return torch.softmax(scores, -1)


def ms_inverted_mask(scores, mask=None):
    return masked_softmax(scores, None if mask is None else ~mask)


def ms_nan_on_full_mask(scores, mask=None):
    if mask is None:
        return torch.softmax(scores, -1)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)


def ms_overflows(scores, mask=None):
    e = torch.exp(scores)
    if mask is not None:
        e = e * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


def ms_wrong_dim(scores, mask=None):
    return masked_softmax(scores.transpose(-1, -2), None if mask is None else mask.expand_as(scores).transpose(-1, -2))


def ms_mutates(scores, mask=None):
    if mask is not None:
        scores.masked_fill_(~mask, -1e9)
    return masked_softmax(scores, mask)


def ms_raises(scores, mask=None):
    return torch.softmax(scores, dim=mask)  # TypeError: dim must be an int


def ms_returns_numpy_list(scores, mask=None):
    return masked_softmax(scores, mask).tolist()


def test_masked_softmax_accepts_reference_and_alternative():
    assert verdict(check_masked_softmax, masked_softmax).passed
    assert verdict(check_masked_softmax, ms_alternative).passed


@pytest.mark.parametrize(
    "wrong,expected_words",
    [
        (ms_not_implemented, "not implemented yet"),
        (ms_ignores_mask, "differs"),
        (ms_inverted_mask, "differs"),
        (ms_nan_on_full_mask, "NaN"),
        (ms_overflows, "NaN"),
        (ms_wrong_dim, "shape"),
        (ms_mutates, "in place"),
        (ms_raises, "raised TypeError"),
        (ms_returns_numpy_list, "expected a tensor"),
    ],
)
def test_masked_softmax_rejects_wrong_answers(wrong, expected_words):
    result = verdict(check_masked_softmax, wrong)
    assert not result.passed
    assert expected_words in result.message, result.message


def ms_fills_minus_1e9(scores, mask=None):
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    return torch.softmax(scores, dim=-1)


def test_masked_softmax_names_the_minus_1e9_fill():
    result = verdict(check_masked_softmax, ms_fills_minus_1e9)
    assert not result.passed and "fully masked row" in result.message, result.message
    assert "hint: a fully masked row is all -1e9" in result.message, result.message


def test_masked_softmax_gives_no_hint_to_a_right_answer():
    assert "hint" not in verdict(check_masked_softmax, ms_alternative).message


# ------------------------------------------------------------------ additive score
def additive_alternative(query, key, W_q, W_k, v):
    B, T_q, _ = query.shape
    T_k = key.shape[1]
    out = torch.empty(B, T_q, T_k)
    for b in range(B):
        for t in range(T_q):
            for j in range(T_k):
                out[b, t, j] = torch.dot(v, torch.tanh(query[b, t] @ W_q + key[b, j] @ W_k))
    return out


def additive_no_tanh(query, key, W_q, W_k, v):
    return ((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1)) @ v


def additive_swapped(query, key, W_q, W_k, v):
    return reference_additive_score(query, key, W_q, W_k, v).transpose(1, 2)


def additive_sums_units(query, key, W_q, W_k, v):
    return torch.tanh((query @ W_q).unsqueeze(2) + (key @ W_k).unsqueeze(1)).sum(-1)


def additive_nan(query, key, W_q, W_k, v):
    return reference_additive_score(query, key, W_q, W_k, v) * float("nan")


def additive_mutates(query, key, W_q, W_k, v):
    query.mul_(1.0001)
    return reference_additive_score(query, key, W_q, W_k, v)


def test_additive_score_accepts_reference_and_alternative():
    assert verdict(check_additive_score, reference_additive_score).passed
    assert verdict(check_additive_score, additive_alternative).passed


@pytest.mark.parametrize(
    "wrong,expected_words",
    [
        (additive_no_tanh, "differs"),
        (additive_swapped, "shape"),
        (additive_sums_units, "differs"),
        (additive_nan, "NaN"),
        (additive_mutates, "in place"),
        (lambda *a: (_ for _ in ()).throw(NotImplementedError()), "not implemented yet"),
    ],
)
def test_additive_score_rejects_wrong_answers(wrong, expected_words):
    result = verdict(check_additive_score, wrong)
    assert not result.passed and expected_words in result.message, result.message


def additive_v_before_tanh(query, key, W_q, W_k, v):
    q = query @ W_q  # (B, T_q, d_a)
    k = key @ W_k    # (B, T_k, d_a)
    return torch.tanh((q[:, :, None, :] + k[:, None, :, :]) @ v)


def additive_axes_swapped(query, key, W_q, W_k, v):
    q = (query @ W_q).unsqueeze(1)  # (B, 1, T_q, d_a)
    k = (key @ W_k).unsqueeze(2)    # (B, T_k, 1, d_a)
    return torch.tanh(q + k) @ v


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (additive_v_before_tanh, "v comes after the tanh"),
        (additive_axes_swapped, "broadcast along swapped axes"),
        (additive_swapped, "broadcast along swapped axes"),
    ],
)
def test_additive_score_names_the_mistake(wrong, hint):
    result = verdict(check_additive_score, wrong)
    assert not result.passed and "hint:" in result.message and hint in result.message, result.message


def test_additive_score_gives_no_hint_to_a_right_answer():
    assert "hint" not in verdict(check_additive_score, additive_alternative).message


# ------------------------------------------------------------------ attend
def attend_alternative(scores, value, mask=None):
    weights = masked_softmax(scores, mask)
    context = torch.einsum("bqk,bkd->bqd", weights, value)
    return context, weights


def attend_returns_weights_first(scores, value, mask=None):
    context, weights = attend(scores, value, mask)
    return weights, context


def attend_uses_scores_as_weights(scores, value, mask=None):
    return scores @ value, scores


def attend_only_context(scores, value, mask=None):
    return attend(scores, value, mask)[0]


def attend_nan_when_all_masked(scores, value, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ value, weights


def test_attend_accepts_reference_and_alternative():
    assert verdict(check_attend, attend).passed
    assert verdict(check_attend, attend_alternative).passed


@pytest.mark.parametrize(
    "wrong,expected_words",
    [
        (attend_returns_weights_first, "shape"),
        (attend_uses_scores_as_weights, "differs"),
        (attend_only_context, "returned 1 value"),
        (attend_nan_when_all_masked, "NaN"),
    ],
)
def test_attend_rejects_wrong_answers(wrong, expected_words):
    result = verdict(check_attend, wrong)
    assert not result.passed and expected_words in result.message, result.message


def attend_softmax_over_queries(scores, value, mask=None):
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=1)
    return torch.bmm(weights, value), weights


def attend_ignores_mask(scores, value, mask=None):
    weights = torch.softmax(scores, dim=-1)
    context = weights @ value
    return context, weights


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (attend_softmax_over_queries, "the softmax runs over the wrong axis"),
        (attend_ignores_mask, "the mask is ignored"),
    ],
)
def test_attend_names_the_mistake(wrong, hint):
    result = verdict(check_attend, wrong)
    assert not result.passed and "hint:" in result.message and hint in result.message, result.message


def test_attend_gives_no_hint_to_a_right_answer():
    assert "hint" not in verdict(check_attend, attend_alternative).message


# ------------------------------------------------------------------ the core
def test_core_prints_one_line_and_is_truthy(capsys):
    result = run_check("square", lambda x: x * x, [Case("two", (torch.tensor(2.0),), expected=torch.tensor(4.0))])
    assert result and result.status == "passed"
    assert capsys.readouterr().out.strip() == "✅ square: passed (1 cases)"


def test_core_stops_endless_loops():
    def forever(x):
        while True:
            pass

    start = time.perf_counter()
    result = run_check("loop", forever, [Case("one", (1,), expected=1)], timeout=0.3, verbose=False)
    assert not result and "still running after 0.3 s" in result.message
    assert time.perf_counter() - start < 5


def test_core_reports_non_callables_and_numpy_answers():
    assert "expected a function" in run_check("x", 3, [], verbose=False).message
    ok = run_check("np", lambda x: np.asarray(x) * 2, [Case("arr", (np.array([1.0, 2.0]),), expected=np.array([2.0, 4.0]))], verbose=False)
    assert ok.passed


def test_core_never_raises_on_odd_exceptions():
    def weird(x):
        raise KeyError()

    result = run_check("w", weird, [Case("one", (1,), expected=1)], verbose=False)
    assert not result and "raised KeyError" in result.message


def test_core_compares_modules_by_their_weights_not_identity():
    layer = torch.nn.Linear(2, 1)
    case = [Case("a module argument", (layer, torch.ones(1, 2)), expected=layer(torch.ones(1, 2)).detach())]
    assert run_check("reads", lambda m, x: m(x), case, verbose=False).passed

    def mutates(m, x):
        with torch.no_grad():
            m.weight.add_(1.0)
        return layer(x).detach()

    result = run_check("writes", mutates, case, verbose=False)
    assert not result and "in place" in result.message
