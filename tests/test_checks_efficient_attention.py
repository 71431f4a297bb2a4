"""The chapter-8 checkers pass right answers and catch wrong ones, with a useful message.

Every wrong answer below is written the way a learner writes it (not with the checkers' helpers),
and each named mistake must be recognised, in the notebook and again by the grader's judge.
"""

import pytest
import torch
import torch.nn.functional as F

from grading import references as R
from grading.judge import judge
from tests.conftest import ours
from utils.checks.efficient_attention import check_linear_attention_step, check_online_softmax_merge, check_sliding_window_mask
from utils.checks.submit import record

reference_merge, reference_band, reference_step = (ours(R.online_softmax_merge), ours(R.sliding_window_mask),
                                                   ours(R.linear_attention_step))
NEG_INF = float("-inf")


def _verdict(result, status, *fragments):
    assert result.status == status, result.message
    assert bool(result) == (status == "passed")
    for fragment in fragments:
        assert fragment in result.message, result.message


def _no_hint(result):
    assert result.status == "failed" and "hint:" not in result.message, result.message


# ----------------------------------------------------------------------------------------------
# merging two partial softmax results
# ----------------------------------------------------------------------------------------------
def merge_by_logsumexp(m1, l1, o1, m2, l2, o2):
    """A correct answer another way: each side's weight as exp(m + log l), shifted by the new max."""
    m = torch.max(m1, m2)
    shift = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    w1, w2 = torch.exp(m1 - shift), torch.exp(m2 - shift)
    l = w1 * l1 + w2 * l2                                          # noqa: E741 - the paper's name
    o = w1[..., None] * o1 + w2[..., None] * o2
    return m, l, o


def merge_with_nan_to_num(m1, l1, o1, m2, l2, o2):
    """A correct answer that lets exp(-inf - -inf) be NaN and then replaces it by 0."""
    m = torch.maximum(m1, m2)
    a1, a2 = torch.nan_to_num(torch.exp(m1 - m)), torch.nan_to_num(torch.exp(m2 - m))
    return m, a1 * l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2


def _safe(m):
    return torch.where(m == NEG_INF, torch.zeros_like(m), m)


def merge_old_not_rescaled(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a2 = torch.exp(m2 - _safe(m))
    return m, l1 + a2 * l2, o1 + a2.unsqueeze(-1) * o2


def merge_new_not_rescaled(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a1 = torch.exp(m1 - _safe(m))
    return m, a1 * l1 + l2, a1.unsqueeze(-1) * o1 + o2


def merge_plain_sum(m1, l1, o1, m2, l2, o2):
    return torch.maximum(m1, m2), l1 + l2, o1 + o2


def merge_factors_upside_down(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a1, a2 = torch.exp(_safe(m) - m1), torch.exp(_safe(m) - m2)
    return m, a1 * l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2


def merge_max_not_subtracted(m1, l1, o1, m2, l2, o2):
    a1, a2 = torch.exp(m1), torch.exp(m2)
    return torch.maximum(m1, m2), a1 * l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2


def merge_only_l_rescaled(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a1, a2 = torch.exp(m1 - _safe(m)), torch.exp(m2 - _safe(m))
    return m, a1 * l1 + a2 * l2, o1 + o2


def merge_not_unsqueezed(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a1, a2 = torch.exp(m1 - _safe(m)), torch.exp(m2 - _safe(m))
    return m, a1 * l1 + a2 * l2, a1 * o1 + a2 * o2


def merge_normalised(m1, l1, o1, m2, l2, o2):
    m, l, o = merge_by_logsumexp(m1, l1, o1, m2, l2, o2)  # noqa: E741 - l is the normaliser, as in the online-softmax papers
    return m, l, o / l.unsqueeze(-1)


def merge_nan_on_empty_rows(m1, l1, o1, m2, l2, o2):
    m = torch.maximum(m1, m2)
    a1, a2 = torch.exp(m1 - m), torch.exp(m2 - m)
    return m, a1 * l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2


def test_online_softmax_merge_passes_reference_and_alternatives(capsys):
    _verdict(check_online_softmax_merge(reference_merge), "passed", "✅ online_softmax_merge", "7 cases")
    assert "✅ online_softmax_merge" in capsys.readouterr().out
    _verdict(check_online_softmax_merge(merge_by_logsumexp, verbose=False), "passed")
    _verdict(check_online_softmax_merge(merge_with_nan_to_num, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (merge_old_not_rescaled, "the old sum l1 (and output o1) must be rescaled"),
    (merge_new_not_rescaled, "the new block's sum l2 (and output o2) must be rescaled"),
    (merge_plain_sum, "neither side is rescaled"),
    (merge_factors_upside_down, "upside down"),
    (merge_max_not_subtracted, "taken but not subtracted"),
    (merge_only_l_rescaled, "o is rescaled like l"),
    (merge_not_unsqueezed, "unsqueeze it"),
    (merge_normalised, "stays unnormalised"),
    (merge_nan_on_empty_rows, "exp(-inf − (-inf)) is NaN"),
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_online_softmax_merge_names_each_mistake(wrong, hint):
    _verdict(check_online_softmax_merge(wrong, verbose=False), "failed", "❌ online_softmax_merge", "hint:", hint)


def test_online_softmax_merge_catches_the_rest_without_a_wrong_hint():
    def stub(*args):
        raise NotImplementedError()

    def rescales_in_place(m1, l1, o1, m2, l2, o2):
        m = torch.maximum(m1, m2)
        a1, a2 = torch.exp(m1 - _safe(m)), torch.exp(m2 - _safe(m))
        l1 *= a1                                                   # changes the caller's tensor
        return m, l1 + a2 * l2, a1.unsqueeze(-1) * o1 + a2.unsqueeze(-1) * o2

    def keeps_the_old_max(*args):
        m, l, o = reference_merge(*args)                   # noqa: E741 - l is the normaliser, as in the online-softmax papers
        return args[0], l, o

    def only_o(*args):
        return reference_merge(*args)[2]

    _verdict(check_online_softmax_merge(stub, verbose=False), "not-implemented", "⏳")
    _verdict(check_online_softmax_merge(rescales_in_place, verbose=False), "failed", "argument #2 in place")
    _no_hint(check_online_softmax_merge(keeps_the_old_max, verbose=False))
    _verdict(check_online_softmax_merge(only_o, verbose=False), "failed", "returned")


# ----------------------------------------------------------------------------------------------
# the sliding-window mask
# ----------------------------------------------------------------------------------------------
def band_loops(T, window):
    """A correct answer with loops."""
    mask = torch.zeros(T, T, dtype=torch.bool)
    for t in range(T):
        mask[t, max(0, t - window + 1): t + 1] = True
    return mask


def band_triangles(T, window):
    """A correct answer from two triangles: the causal one minus everything window or more back."""
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.tril(ones) & ~torch.tril(ones, diagonal=-window)


def band_float(T, window):
    return (torch.tril(torch.ones(T, T)) - torch.tril(torch.ones(T, T), diagonal=-window))


def band_too_wide(T, window):
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.tril(ones) & ~torch.tril(ones, diagonal=-window - 1)


def band_too_narrow(T, window):
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.tril(ones) & ~torch.tril(ones, diagonal=-window + 1)


def band_both_sides(T, window):
    i = torch.arange(T)
    return (i[:, None] - i[None, :]).abs() < window


def band_both_sides_inclusive(T, window):
    i = torch.arange(T)
    return (i[:, None] - i[None, :]).abs() <= window


def band_blocked_is_true(T, window):
    """True where attention is blocked, the nn.MultiheadAttention way."""
    i = torch.arange(T)
    d = i[:, None] - i[None, :]
    return (d < 0) | (d >= window)


def band_future(T, window):
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.triu(ones) & ~torch.triu(ones, diagonal=window)


def band_without_itself(T, window):
    i = torch.arange(T)
    d = i[:, None] - i[None, :]
    return (d > 0) & (d <= window)


def band_causal_only(T, window):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def test_sliding_window_mask_passes_reference_and_alternatives(capsys):
    _verdict(check_sliding_window_mask(reference_band), "passed", "✅ sliding_window_mask", "6 cases")
    assert "✅ sliding_window_mask" in capsys.readouterr().out
    _verdict(check_sliding_window_mask(band_loops, verbose=False), "passed")
    _verdict(check_sliding_window_mask(band_triangles, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (band_too_wide, "window + 1 positions"),
    (band_too_narrow, "window − 1 positions"),
    (band_both_sides, "opens to the future as well"),
    (band_both_sides_inclusive, "one too wide on each side"),
    (band_blocked_is_true, "wrong way round"),
    (band_future, "wrong way, into the future"),
    (band_without_itself, "must see itself"),
    (band_causal_only, "plain causal mask"),
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_sliding_window_mask_names_each_mistake(wrong, hint):
    _verdict(check_sliding_window_mask(wrong, verbose=False), "failed", "❌ sliding_window_mask", "hint:", hint)


def test_sliding_window_mask_wants_bool_and_catches_the_rest():
    def stub(T, window):
        raise NotImplementedError()

    def everything(T, window):                                     # wrong in no known way
        return torch.ones(T, T, dtype=torch.bool)

    _verdict(check_sliding_window_mask(band_float, verbose=False), "failed", "must be a bool tensor")
    _verdict(check_sliding_window_mask(stub, verbose=False), "not-implemented", "⏳")
    _no_hint(check_sliding_window_mask(everything, verbose=False))
    _verdict(check_sliding_window_mask(lambda T, w: band_loops(T, w)[:-1], verbose=False), "failed", "shape")


# ----------------------------------------------------------------------------------------------
# one step of linear attention
# ----------------------------------------------------------------------------------------------
def phi(x):
    return F.elu(x) + 1


def step_einsum(S, z, q_t, k_t, v_t):
    """A correct answer with einsum."""
    fq, fk = phi(q_t), phi(k_t)
    S = S + torch.einsum("bhk,bhv->bhkv", fk, v_t)
    z = z + fk
    return torch.einsum("bhk,bhkv->bhv", fq, S) / torch.einsum("bhk,bhk->bh", fq, z).unsqueeze(-1), S, z


def step_exp_form(S, z, q_t, k_t, v_t):
    """A correct answer with φ written piecewise: x + 1 above 0, exp(x) below."""
    def feature(x):
        return torch.where(x > 0, x + 1, torch.exp(torch.clamp(x, max=0)))
    fq, fk = feature(q_t), feature(k_t)
    S = S + fk[..., :, None] * v_t[..., None, :]
    z = z + fk
    return (fq[..., None, :] @ S)[..., 0, :] / (fq * z).sum(-1, keepdim=True), S, z


def _learner_step(S, z, q_t, k_t, v_t, feature=phi, divide=True, before=False, transposed=False, raw_z=False):
    fq, fk = feature(q_t), feature(k_t)
    outer = v_t.unsqueeze(-1) * fk.unsqueeze(-2) if transposed else fk.unsqueeze(-1) * v_t.unsqueeze(-2)
    S_new, z_new = S + outer, z + (k_t if raw_z else fk)
    S_read, z_read = (S, z) if before else (S_new, z_new)
    num = torch.matmul(fq.unsqueeze(-2), S_read).squeeze(-2)
    return (num / (fq * z_read).sum(-1, keepdim=True) if divide else num), S_new, z_new


def step_no_normaliser(*a):
    return _learner_step(*a, divide=False)


def step_read_before_update(*a):
    return _learner_step(*a, before=True)


def step_no_feature_map(*a):
    return _learner_step(*a, feature=lambda x: x)


def step_elu_without_one(*a):
    return _learner_step(*a, feature=F.elu)


def step_state_transposed(*a):
    return _learner_step(*a, transposed=True)


def step_z_from_raw_keys(*a):
    return _learner_step(*a, raw_z=True)


def step_no_normaliser_and_raw_z(*a):
    return _learner_step(*a, divide=False, raw_z=True)


def test_linear_attention_step_passes_reference_and_alternatives(capsys):
    _verdict(check_linear_attention_step(reference_step), "passed", "✅ linear_attention_step", "5 cases")
    assert "✅ linear_attention_step" in capsys.readouterr().out
    _verdict(check_linear_attention_step(step_einsum, verbose=False), "passed")
    _verdict(check_linear_attention_step(step_exp_form, verbose=False), "passed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("wrong, hint", [
    (step_no_normaliser, "the normaliser is missing"),
    (step_read_before_update, "update the state first, then read it"),
    (step_no_feature_map, "apply the feature map"),
    (step_elu_without_one, "not elu(x)"),
    (step_state_transposed, "S is (d_k, d_v)"),
    (step_z_from_raw_keys, "z sums the keys' features"),
    (step_no_normaliser_and_raw_z, "the normaliser is missing"),     # two mistakes: the first one named
], ids=lambda x: getattr(x, "__name__", "hint"))
def test_linear_attention_step_names_each_mistake(wrong, hint):
    _verdict(check_linear_attention_step(wrong, verbose=False), "failed", "❌ linear_attention_step", "hint:", hint)


def test_reading_before_the_update_fails_on_the_first_token_with_nan():
    result = check_linear_attention_step(step_read_before_update, verbose=False)
    _verdict(result, "failed", "NaN", "the first token, from an empty state", "divides 0 by 0")


def test_linear_attention_step_catches_mutation_and_the_rest():
    def stub(*args):
        raise NotImplementedError()

    def updates_in_place(S, z, q_t, k_t, v_t):
        fk = phi(k_t)
        S += fk.unsqueeze(-1) * v_t.unsqueeze(-2)                   # the caller's state changes too
        z += fk
        fq = phi(q_t)
        return (fq.unsqueeze(-2) @ S).squeeze(-2) / (fq * z).sum(-1, keepdim=True), S, z

    def half(*args):                                                # wrong in no known way
        out, S, z = reference_step(*args)
        return out / 2, S, z

    _verdict(check_linear_attention_step(stub, verbose=False), "not-implemented", "⏳")
    _verdict(check_linear_attention_step(updates_in_place, verbose=False), "failed", "argument #1 in place")
    _no_hint(check_linear_attention_step(half, verbose=False))


# ----------------------------------------------------------------------------------------------
# grading: hidden cases, and the same hints from the judge
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, answer, n", [("online_softmax_merge", merge_by_logsumexp, 9),
                                             ("sliding_window_mask", band_loops, 8),
                                             ("linear_attention_step", step_einsum, 7)])
def test_right_answers_pass_the_judge_hidden_cases_included(name, answer, n):
    verdict = judge(record(name, answer), name)
    assert verdict.passed and f"passed ({n} cases)" in verdict.message, verdict.message


@pytest.mark.parametrize("name, wrong, hint", [
    ("online_softmax_merge", merge_old_not_rescaled, "the old sum l1"),
    ("online_softmax_merge", merge_nan_on_empty_rows, "is NaN"),
    ("sliding_window_mask", band_too_wide, "off by one"),
    ("sliding_window_mask", band_both_sides, "opens to the future"),
    ("linear_attention_step", step_read_before_update, "update the state first"),
    ("linear_attention_step", step_no_normaliser, "normaliser is missing"),
])
def test_the_judge_names_the_same_mistakes(name, wrong, hint):
    verdict = judge(record(name, wrong), name)
    assert not verdict.passed and hint in verdict.message, verdict.message


def test_the_judge_refuses_the_courses_own_implementations():
    from utils.efficient_attention import sliding_window_mask
    from utils.local_attention import window_mask

    def via_local_m(T, window):                                      # chapter 5's window, made causal
        t = torch.arange(T)
        return window_mask(t, T, window - 1) & (t[None, :] <= t[:, None])

    for answer in (lambda T, w: sliding_window_mask(T, w), via_local_m):
        verdict = judge(record("sliding_window_mask", answer), "sliding_window_mask")
        assert not verdict.passed and "course's own implementation" in verdict.message, verdict.message
