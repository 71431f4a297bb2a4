"""utils.attention against PyTorch's references, hand-computed cases and properties."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.attention import (
    AdditiveScore,
    GeneralScore,
    attend,
    attention_pool,
    dot_score,
    masked_softmax,
    scaled_dot_product_attention,
    scaled_dot_score,
)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- hand-computed cases
def test_dot_and_scaled_dot_by_hand():
    q = torch.tensor([[[1.0, 2.0]]])  # (1, 1, 2)
    k = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # (1, 2, 2)
    assert torch.equal(dot_score(q, k), torch.tensor([[[11.0, 1.0]]]))
    assert torch.allclose(scaled_dot_score(q, k), torch.tensor([[[11.0, 1.0]]]) / math.sqrt(2))


def test_general_score_by_hand():
    layer = GeneralScore(query_size=2, key_size=3)
    with torch.no_grad():
        layer.W_a.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))  # (d_q, d_k)
    q = torch.tensor([[[1.0, -1.0]]])
    k = torch.tensor([[[1.0, 2.0, 3.0]]])
    # W_a k = [1 + 6, 2] = [7, 2]; q · W_a k = 7 - 2 = 5
    assert torch.allclose(layer(q, k), torch.tensor([[[5.0]]]))


def test_additive_score_by_hand_and_precomputed_keys_agree():
    layer = AdditiveScore(query_size=1, key_size=1, hidden_size=2)
    with torch.no_grad():
        layer.W_q.weight.copy_(torch.tensor([[1.0], [0.5]]))
        layer.W_k.weight.copy_(torch.tensor([[2.0], [-1.0]]))
        layer.v.weight.copy_(torch.tensor([[1.0, 3.0]]))
    q = torch.tensor([[[0.4]]])
    k = torch.tensor([[[0.1], [0.3]]])
    expected = torch.tensor(
        [[[
            math.tanh(0.4 + 0.2) + 3 * math.tanh(0.2 - 0.1),
            math.tanh(0.4 + 0.6) + 3 * math.tanh(0.2 - 0.3),
        ]]]
    )
    assert torch.allclose(layer(q, k), expected, atol=1e-6)
    assert torch.allclose(layer(q, projected_key=layer.project_keys(k)), expected, atol=1e-6)
    assert layer.units(q, k).shape == (1, 1, 2, 2)


def test_masked_softmax_by_hand():
    scores = torch.tensor([[0.0, math.log(3.0), 5.0]])
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_softmax(scores, mask), torch.tensor([[0.25, 0.75, 0.0]]))


def test_attend_equal_scores_is_plain_mean():
    value = torch.tensor([[[1.0, 0.0], [2.0, 4.0], [6.0, 2.0]]])
    context, weights = attend(torch.zeros(1, 1, 3), value)
    assert torch.allclose(context, torch.tensor([[[3.0, 2.0]]]))
    assert torch.allclose(weights, torch.full((1, 1, 3), 1 / 3))


def test_worked_example_from_chapter_2_matches_numpy():
    words = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    rng = np.random.RandomState(42)
    W_Q, W_K, W_V = (rng.randint(3, size=(3, 3)) for _ in range(3))
    Q, K, V = words @ W_Q, words @ W_K, words @ W_V
    scores = Q @ K.T / math.sqrt(3)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    expected = weights @ V
    out, w = scaled_dot_product_attention(*(torch.tensor(m) for m in (Q, K, V)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(w.numpy(), weights, rtol=1e-12)


# ---------------------------------------------------------------- against PyTorch
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("shape", [(2, 5, 7, 8), (3, 2, 4, 6, 5)])
def test_sdpa_matches_pytorch_without_mask(dtype, tol, shape):
    *lead, T_q, T_k, d = shape
    q, k, v = randn(*lead, T_q, d, seed=1, dtype=dtype), randn(*lead, T_k, d, seed=2, dtype=dtype), randn(*lead, T_k, 3, seed=3, dtype=dtype)
    ours, _ = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_sdpa_matches_pytorch_with_bool_and_float_masks(dtype, tol):
    q, k, v = randn(2, 4, 8, seed=4, dtype=dtype), randn(2, 6, 8, seed=5, dtype=dtype), randn(2, 6, 3, seed=6, dtype=dtype)
    mask = torch.rand(2, 4, 6, generator=torch.Generator().manual_seed(7)) > 0.3
    mask[..., 0] = True  # PyTorch returns NaN for fully masked rows; keep every row alive here
    ours, _ = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=tol, rtol=tol)
    additive = torch.zeros(2, 4, 6, dtype=dtype).masked_fill(~mask, float("-inf"))
    ours_f, _ = scaled_dot_product_attention(q, k, v, attn_mask=additive)
    torch.testing.assert_close(ours_f, ours, atol=tol, rtol=tol)


def test_sdpa_matches_pytorch_causal():
    q, k, v = randn(2, 5, 4, seed=8), randn(2, 5, 4, seed=9), randn(2, 5, 4, seed=10)
    ours, weights = scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5, rtol=1e-5)
    assert torch.all(weights.triu(diagonal=1) == 0), "position t must never see t+1"


# ---------------------------------------------------------------- masking and NaN
def test_fully_masked_row_gives_zero_weights_and_output_not_nan():
    q, k, v = randn(1, 2, 4, seed=11), randn(1, 3, 4, seed=12), randn(1, 3, 2, seed=13)
    mask = torch.tensor([[[True, False, True], [False, False, False]]])
    out, w = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert not torch.isnan(out).any() and not torch.isnan(w).any()
    assert torch.equal(w[0, 1], torch.zeros(3)) and torch.equal(out[0, 1], torch.zeros(2))
    float_mask = torch.zeros(1, 2, 3).masked_fill(~mask, float("-inf"))
    out_f, w_f = scaled_dot_product_attention(q, k, v, attn_mask=float_mask)
    assert not torch.isnan(out_f).any() and torch.equal(w_f[0, 1], torch.zeros(3))


def test_masked_softmax_is_stable_for_large_scores():
    w = masked_softmax(torch.tensor([[1000.0, 1001.0]]), torch.tensor([[True, True]]))
    assert torch.allclose(w, torch.softmax(torch.tensor([[0.0, 1.0]]), -1))


def test_masked_softmax_gradients_are_finite_with_fully_masked_rows():
    scores = randn(2, 3, seed=14).requires_grad_()
    mask = torch.tensor([[True, False, True], [False, False, False]])
    masked_softmax(scores, mask)[:, 0].sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[1], torch.zeros(3))


# ---------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(
    B=st.integers(1, 3), T_q=st.integers(1, 5), T_k=st.integers(1, 6), d=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)
def test_properties_of_weights(B, T_q, T_k, d, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(B, T_q, d, generator=g), torch.randn(B, T_k, d, generator=g), torch.randn(B, T_k, 2, generator=g)
    mask = torch.rand(B, T_q, T_k, generator=g) > 0.4
    out, w = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    # weights sum to one over unmasked keys (zero where nothing may be attended) ...
    expected_sums = mask.any(-1).to(w.dtype)
    torch.testing.assert_close(w.sum(-1), expected_sums)
    # ... masked keys get exactly zero ...
    assert torch.all(w[~mask] == 0)
    # ... and permuting keys and values together leaves the output unchanged.
    perm = torch.randperm(T_k, generator=g)
    out_p, w_p = scaled_dot_product_attention(q, k[:, perm], v[:, perm], attn_mask=mask[..., perm])
    torch.testing.assert_close(out_p, out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w_p, w[..., perm])


@settings(max_examples=25, deadline=None)
@given(T_k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_context_is_a_convex_combination_of_values(T_k, seed):
    g = torch.Generator().manual_seed(seed)
    scores, value = torch.randn(1, 1, T_k, generator=g), torch.randn(1, T_k, 3, generator=g)
    context, _ = attend(scores, value)
    assert torch.all(context <= value.max(dim=1, keepdim=True).values + 1e-6)
    assert torch.all(context >= value.min(dim=1, keepdim=True).values - 1e-6)


# ---------------------------------------------------------------- errors name the arguments
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: dot_score(torch.zeros(2, 3, 64), torch.zeros(2, 4, 32)), "key has 32 features but query has 64"),
        (lambda: scaled_dot_product_attention(torch.zeros(1, 3, 4), torch.zeros(1, 5, 4), torch.zeros(1, 6, 2)),
         "value has 6 positions but key has 5"),
        (lambda: dot_score(torch.zeros(4), torch.zeros(4)), "query must have at least 2 dimensions"),
        (lambda: dot_score(torch.zeros(2, 3, 4), torch.zeros(5, 3, 4)), "batch dimensions do not broadcast"),
        (lambda: masked_softmax(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool)), "mask of shape (2, 4) does not broadcast"),
        (lambda: attention_pool(torch.zeros(1, 2, 3), torch.zeros(1, 4, 5)), "weights cover 3 keys but value has 4"),
        (lambda: GeneralScore(4, 6)(torch.zeros(1, 2, 4), torch.zeros(1, 3, 5)), "key has 5 features but this layer expects 6"),
        (lambda: AdditiveScore(4, 6, 8)(torch.zeros(1, 2, 3), torch.zeros(1, 3, 6)), "query has 3 features but this layer expects 4"),
        (lambda: scaled_dot_product_attention(torch.zeros(1, 2, 4), torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), dropout_p=1.5), "dropout_p"),
    ],
)
def test_errors_name_argument_and_shapes(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_wrong_types_raise_type_errors():
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        masked_softmax(torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(TypeError, match="query must be a torch.Tensor"):
        dot_score([[1.0]], torch.zeros(1, 1))


def test_runs_on_the_inputs_device_and_dtype():
    q = randn(1, 2, 4, dtype=torch.float64)
    out, w = scaled_dot_product_attention(q, q, q, is_causal=True)
    assert out.dtype == torch.float64 and w.device == q.device
    if torch.cuda.is_available():  # exercised on GPU machines
        qc = q.cuda()
        out_c, _ = scaled_dot_product_attention(qc, qc, qc, is_causal=True)
        assert out_c.is_cuda
        torch.testing.assert_close(out_c.cpu(), out)
