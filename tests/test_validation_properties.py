"""Property tests (hypothesis): masks and fully masked rows, forward and backward (issue 16).

For any scores and any mask, including rows with no key left, the weights are finite, zero where
masked, sum to one on rows with a key and to zero on rows without, and gradients are finite, on
the readable and the fast paths, in float32 and float64.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.attention import masked_softmax, scaled_dot_product_attention
from utils.local_attention import local_weights
from utils.masks import length_mask
from utils.transformer import MultiHeadAttention

DTYPES = st.sampled_from([torch.float32, torch.float64])
# derandomize: the same 40 examples on every run, so CI never fails on a lucky draw
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def scores_and_mask(draw, max_rows=4, max_keys=5):
    B = draw(st.integers(1, 3))
    T_q = draw(st.integers(1, max_rows))
    T_k = draw(st.integers(1, max_keys))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(DTYPES)
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(B, T_q, T_k, generator=g) * draw(st.sampled_from([1.0, 10.0, 100.0]))).to(dtype)
    mask = torch.rand(B, T_q, T_k, generator=g) < draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    return scores, mask


@SETTINGS
@given(scores_and_mask())
def test_masked_softmax_rows_sum_to_one_or_zero_and_gradients_are_finite(data):
    scores, mask = data
    scores = scores.requires_grad_()
    weights = masked_softmax(scores, mask)
    assert torch.isfinite(weights).all()
    assert torch.all(weights[~mask] == 0)
    has_key = mask.any(-1)
    sums = weights.sum(-1)
    torch.testing.assert_close(sums[has_key], torch.ones_like(sums[has_key]))
    assert torch.all(sums[~has_key] == 0)
    (weights * torch.randn_like(weights)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[~mask] == 0)


@SETTINGS
@given(scores_and_mask())
def test_minus_inf_scores_act_like_a_mask(data):
    scores, mask = data
    filled = scores.masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(masked_softmax(filled), masked_softmax(scores, mask))


@SETTINGS
@given(scores_and_mask(), st.booleans())
def test_sdpa_fully_masked_rows_give_zeros_and_finite_gradients(data, as_float):
    scores, mask = data
    B, T_q, T_k = scores.shape
    g = torch.Generator().manual_seed(T_q * 10 + T_k)
    q, k, v = (torch.randn(B, n, 4, generator=g, dtype=scores.dtype).requires_grad_() for n in (T_q, T_k, T_k))
    attn_mask = torch.zeros_like(scores).masked_fill(~mask, float("-inf")) if as_float else mask
    out, weights = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    empty = ~mask.any(-1)  # (B, T_q)
    assert torch.all(out[empty] == 0) and torch.all(weights[empty] == 0)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@st.composite
def mha_case(draw):
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    float_attn = draw(st.booleans())
    causal = draw(st.booleans())
    dtype = draw(DTYPES)
    seed = draw(st.integers(0, 2**16))
    return B, T, lengths, float_attn, causal, dtype, seed


@SETTINGS
@given(mha_case())
def test_mha_readable_and_fast_paths_agree_with_fully_masked_rows_forward_and_backward(case):
    B, T, lengths, float_attn, causal, dtype, seed = case
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2).to(dtype)
    x = torch.randn(B, T, 8, dtype=dtype)
    keep = length_mask(torch.tensor(lengths), T)  # (B, T), rows of False where a length is 0
    attn_mask = torch.randn(T, T, dtype=dtype) if float_attn else None
    outs, grads = [], []
    for need_weights in (True, False):
        mha.zero_grad()
        xi = x.clone().requires_grad_()
        out, _ = mha(xi, key_padding_mask=keep, attn_mask=attn_mask, need_weights=need_weights, is_causal=causal)
        out.square().sum().backward()
        assert torch.isfinite(out).all()
        assert torch.isfinite(xi.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in mha.parameters() if p.grad is not None)
        outs.append(out.detach())
        grads.append(xi.grad)
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(outs[0], outs[1], **tol)
    torch.testing.assert_close(grads[0], grads[1], **tol)
    empty = ~keep.any(-1)  # a sequence with no real token: every query of it has no key
    if empty.any():
        bias = mha.out_proj.bias.detach()
        torch.testing.assert_close(outs[1][empty], bias.expand_as(outs[1][empty]), **tol)


@SETTINGS
@given(st.lists(st.integers(0, 6), min_size=0, max_size=5), st.integers(6, 8))
def test_length_masks_count_the_lengths(lengths, max_len):
    t = torch.tensor(lengths, dtype=torch.long)
    mask = length_mask(t, max_len)
    assert mask.shape == (len(lengths), max_len)
    assert mask.sum(-1).tolist() == lengths


@SETTINGS
@given(st.integers(0, 2**16), st.floats(-5, 15), st.floats(0, 3), st.booleans(), DTYPES)
def test_local_weights_are_finite_for_any_window(seed, center, w, gaussian, dtype):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(2, 3, 6, generator=g, dtype=dtype).requires_grad_()
    position = torch.full((2, 3), center, dtype=dtype)
    src_mask = length_mask(torch.tensor([6, 2]), 6)
    try:
        weights = local_weights(scores, position, w, src_mask, gaussian)
    except ValueError as e:  # sigma = w/2 (almost) 0: a named error, not 0/0
        assert gaussian and w < 1e-15 and ("w > 0" in str(e) or "too small" in str(e))
        return
    assert torch.isfinite(weights).all() and torch.all(weights >= 0) and torch.all(weights.sum(-1) <= 1 + 1e-6)
    weights.sum().backward()
    assert torch.isfinite(scores.grad).all()
