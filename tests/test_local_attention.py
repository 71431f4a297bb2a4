"""Tests of utils.local_attention: windows, the Gaussian factor, local-p's position, the gathered window."""

import math

import pytest
import torch

from utils.local_attention import gaussian_factor, local_weights, predict_position, window_mask, windowed_dot_attention
from utils.masks import length_mask


def test_window_mask_and_zero_weight_outside_the_window():
    p = torch.tensor([[0.0, 2.5, 7.0]])  # (B=1, T=3)
    mask = window_mask(p, 8, 2)
    assert mask[0, 0].tolist() == [True, True, True, False, False, False, False, False]
    assert mask[0, 1].tolist() == [False, True, True, True, True, False, False, False]
    assert mask[0, 2].tolist() == [False] * 5 + [True] * 3
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(1, 3, 8, generator=g)
    for gaussian in (False, True):
        w = local_weights(scores, p, 2, gaussian=gaussian)
        assert torch.all(w[~mask] == 0)
        assert torch.all(w[mask] > 0)
    assert torch.allclose(local_weights(scores, p, 2, gaussian=False).sum(-1), torch.ones(1, 3))


def test_gaussian_factor_equals_its_formula_and_is_not_renormalised():
    p = torch.tensor([[1.3, 4.0]])
    sigma = 1.5
    got = gaussian_factor(p, 6, sigma)
    for t in range(2):
        for s in range(6):
            want = math.exp(-((s - p[0, t].item()) ** 2) / (2 * sigma ** 2))
            assert got[0, t, s].item() == pytest.approx(want, rel=1e-6)
    scores = torch.zeros(1, 2, 6)
    w = local_weights(scores, p, 3, gaussian=True)  # σ = w/2 = 1.5
    align = local_weights(scores, p, 3, gaussian=False)
    assert torch.allclose(w, align * got)
    assert (w.sum(-1) < 1).all()  # not renormalised after the Gaussian


def test_window_in_padding_gives_zero_weights_not_nan():
    scores = torch.randn(2, 1, 5)
    src_mask = length_mask(torch.tensor([5, 2]), 5)
    w = local_weights(scores, torch.tensor([[4.0], [4.0]]), 1, src_mask, gaussian=False)
    assert not torch.isnan(w).any()
    assert torch.all(w[1] == 0) and torch.allclose(w[0].sum(), torch.tensor(1.0))


def test_predict_position_formula():
    g = torch.Generator().manual_seed(1)
    h, W_p, v_p = torch.randn(3, 4, generator=g), torch.randn(4, 5, generator=g), torch.randn(5, generator=g)
    lengths = torch.tensor([10, 3, 7])
    p = predict_position(h, W_p, v_p, lengths)
    for b in range(3):
        z = sum(v_p[k] * math.tanh(float(h[b] @ W_p[:, k])) for k in range(5))
        assert p[b].item() == pytest.approx(lengths[b].item() / (1 + math.exp(-z)), rel=1e-5)
    p2 = predict_position(h.unsqueeze(1).expand(3, 2, 4), W_p, v_p, lengths)  # (B, T)
    assert p2.shape == (3, 2) and torch.allclose(p2[:, 1], p)
    assert ((p >= 0) & (p <= lengths)).all()


def test_windowed_attention_equals_the_masked_one():
    torch.manual_seed(0)
    enc_out, query = torch.randn(3, 12, 4), torch.randn(3, 4)
    center = torch.tensor([0, 5, 11])
    context, weights, positions = windowed_dot_attention(query, enc_out, center, 2)
    scores = (enc_out @ query.unsqueeze(-1)).squeeze(-1).unsqueeze(1)  # (B, 1, S)
    full = local_weights(scores, center.float().unsqueeze(1), 2, gaussian=False)[:, 0]  # (B, S)
    assert weights.shape == (3, 5)
    scattered = torch.zeros(3, 12).scatter_add(1, positions, weights)
    assert torch.allclose(scattered, full, atol=1e-6)
    assert torch.allclose(context, (full.unsqueeze(1) @ enc_out).squeeze(1), atol=1e-6)
