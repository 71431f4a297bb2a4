"""Tests of utils.transformer, utils.positional and utils.transformer_encoder's blocks: equal to PyTorch's modules on copied weights."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.masks import causal_mask, length_mask
from utils.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding, sinusoidal_positional_encoding
from utils.transformer import MultiHeadAttention, _merge_heads, _split_heads
from utils.transformer_encoder import TransformerEncoder, TransformerEncoderBlock

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _torch_mha(E=16, H=4, kdim=None, vdim=None, bias=True, dtype=torch.float32, seed=0, device="cpu"):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim, batch_first=True)
    with torch.no_grad():  # non-zero biases, so that copying them is tested too
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m.to(device=device, dtype=dtype)


def _rows_with_keys(mask_for_ours):
    """(B, T_q) bool: queries that may attend to at least one key."""
    return mask_for_ours.any(-1)


def _close(a, b, dtype):
    return torch.allclose(a, b, atol=TOL[dtype], rtol=0)


# ----------------------------------------------------------------------------------------------
# Heads
# ----------------------------------------------------------------------------------------------
def test_split_heads_slices_features_and_merge_inverts_it():
    x = torch.arange(2 * 3 * 6.0).view(2, 3, 6)
    h = _split_heads(x, 2)
    assert h.shape == (2, 2, 3, 3)
    assert torch.equal(h[1, 0, 2], x[1, 2, :3]) and torch.equal(h[1, 1, 2], x[1, 2, 3:])
    assert torch.equal(_merge_heads(h), x)
    with pytest.raises(ValueError, match="divisible"):
        _split_heads(x, 4)
    with pytest.raises(ValueError, match=r"\(B, H, T, d\)"):
        _merge_heads(x)


# ----------------------------------------------------------------------------------------------
# Multi-head attention against nn.MultiheadAttention
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("train_mode", [True, False])
@pytest.mark.parametrize("device", DEVICES)
def test_self_attention_equals_torch(dtype, need_weights, train_mode, device):
    ref = _torch_mha(dtype=dtype, device=device).train(train_mode)
    ours = MultiHeadAttention.from_torch(ref).train(train_mode)
    x = torch.randn(3, 5, 16, dtype=dtype, device=device)
    with torch.no_grad():
        out, w = ours(x, x, x, need_weights=need_weights)
        out_ref, w_ref = ref(x, x, x, need_weights=need_weights)
    assert out.device == x.device and out.dtype == dtype
    assert _close(out, out_ref, dtype)
    if need_weights:
        assert w.shape == (3, 5, 5) and _close(w, w_ref, dtype)
    else:
        assert w is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_attention_with_other_key_and_value_sizes_equals_torch(dtype):
    ref = _torch_mha(E=12, H=3, kdim=7, vdim=5, dtype=dtype)
    ours = MultiHeadAttention.from_torch(ref)
    q, k, v = torch.randn(2, 4, 12, dtype=dtype), torch.randn(2, 6, 7, dtype=dtype), torch.randn(2, 6, 5, dtype=dtype)
    for need in (True, False):
        out, w = ours(q, k, v, need_weights=need, average_attn_weights=False)
        out_ref, w_ref = ref(q, k, v, need_weights=need, average_attn_weights=False)
        assert _close(out, out_ref, dtype)
        if need:
            assert w.shape == (2, 3, 4, 6) and _close(w, w_ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("need_weights", [True, False])
def test_padding_mask_equals_torch_with_inverted_convention(dtype, need_weights):
    ref = _torch_mha(dtype=dtype)
    ours = MultiHeadAttention.from_torch(ref)
    q, kv = torch.randn(2, 3, 16, dtype=dtype), torch.randn(2, 5, 16, dtype=dtype)
    keep = length_mask(torch.tensor([5, 2]))  # ours: True = may attend
    out, w = ours(q, kv, kv, key_padding_mask=keep, need_weights=need_weights)
    out_ref, w_ref = ref(q, kv, kv, key_padding_mask=~keep, need_weights=need_weights)  # torch: True = ignore
    assert _close(out, out_ref, dtype)
    if need_weights:
        assert _close(w, w_ref, dtype)
        assert torch.all(w[1, :, 2:] == 0)
    # Passing PyTorch's convention by mistake gives a different answer: the convention matters.
    wrong, _ = ours(q, kv, kv, key_padding_mask=~keep)
    assert not torch.allclose(wrong[0], out_ref[0], atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_mask_equals_torch(dtype, need_weights):
    ref = _torch_mha(dtype=dtype)
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(2, 6, 16, dtype=dtype)
    keep = causal_mask(6)
    torch_mask = nn.Transformer.generate_square_subsequent_mask(6, dtype=dtype)  # float, -inf above
    out_ref, w_ref = ref(x, x, x, attn_mask=torch_mask, is_causal=True, need_weights=need_weights)
    for kwargs in ({"is_causal": True}, {"attn_mask": keep}, {"attn_mask": torch_mask},
                   {"attn_mask": keep, "is_causal": True},
                   {"attn_mask": torch.zeros(6, 6, dtype=dtype), "is_causal": True},  # float mask + causal
                   {"key_padding_mask": torch.zeros(2, 6, dtype=dtype), "is_causal": True}):
        out, w = ours(x, x, x, need_weights=need_weights, **kwargs)
        assert _close(out, out_ref, dtype), kwargs
        if need_weights:
            assert _close(w, w_ref, dtype), kwargs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("need_weights", [True, False])
def test_padding_causal_and_per_head_masks_together_equal_torch(dtype, need_weights):
    ref = _torch_mha(dtype=dtype)
    ours = MultiHeadAttention.from_torch(ref)
    B, H, T = 3, 4, 5
    x = torch.randn(B, T, 16, dtype=dtype)
    keep = length_mask(torch.tensor([5, 3, 1]))
    per_head = torch.rand(B * H, T, T, generator=torch.Generator().manual_seed(1)) > 0.3
    per_head |= torch.eye(T, dtype=torch.bool)  # every query keeps its own key: no empty rows
    out, w = ours(x, x, x, key_padding_mask=keep, attn_mask=per_head, need_weights=need_weights,
                  average_attn_weights=False, is_causal=True)
    both = per_head & causal_mask(T)  # PyTorch takes is_causal only as a hint: give it the mask
    out_ref, w_ref = ref(x, x, x, key_padding_mask=~keep, attn_mask=~both, need_weights=need_weights,
                         average_attn_weights=False)
    has_key = (keep.view(B, 1, 1, T) & both.view(B, H, T, T)).any(-1).all(1)  # (B, T_q)
    assert _close(out[has_key], out_ref[has_key], dtype)
    if need_weights:
        assert _close(w.transpose(1, 2)[has_key], w_ref.transpose(1, 2)[has_key], dtype)
    # float masks (added to the scores) and bool padding combine too
    float_mask = torch.randn(T, T, dtype=dtype)
    out, _ = ours(x, x, x, key_padding_mask=keep, attn_mask=float_mask, need_weights=need_weights)
    torch_padding = torch.zeros(B, T, dtype=dtype).masked_fill(~keep, float("-inf"))  # float, like attn_mask
    out_ref, _ = ref(x, x, x, key_padding_mask=torch_padding, attn_mask=float_mask, need_weights=need_weights)
    assert _close(out, out_ref, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bias_free_module_and_round_trip_to_torch(dtype):
    ref = _torch_mha(bias=False, dtype=dtype)
    ours = MultiHeadAttention.from_torch(ref)
    assert ours.q_proj.bias is None
    x = torch.randn(2, 4, 16, dtype=dtype)
    assert _close(ours(x)[0], ref(x, x, x)[0], dtype)
    for kdim in (None, 6):
        mine = MultiHeadAttention(16, 2, kdim=kdim, vdim=kdim).to(dtype)
        back = mine.to_torch()
        assert back.batch_first
        kv = torch.randn(2, 3, kdim or 16, dtype=dtype)
        assert _close(mine(x, kv, kv)[0], back(x, kv, kv)[0], dtype)


def test_readable_and_fast_paths_agree_and_match_functional_sdpa():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 7, 16)
    keep = length_mask(torch.tensor([7, 4]))
    for kwargs in ({}, {"key_padding_mask": keep}, {"is_causal": True}, {"key_padding_mask": keep, "is_causal": True}):
        fast, none = mha(x, need_weights=False, **kwargs)
        readable, w = mha(x, need_weights=True, **kwargs)
        assert none is None and w is not None
        assert torch.allclose(fast, readable, atol=1e-6), kwargs
    # the heads are exactly F.scaled_dot_product_attention on the projected inputs
    q, k, v = (_split_heads(p(x), 4) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
    expected = mha.out_proj(_merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)))
    assert torch.allclose(mha(x, is_causal=True)[0], expected, atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
def test_a_query_with_no_key_gets_zeros_not_nan(need_weights):
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    keep = torch.tensor([[True, True, True], [False, False, False]])
    for mask in ({"key_padding_mask": keep},
                 {"key_padding_mask": torch.zeros(2, 3).masked_fill(~keep, float("-inf"))}):
        out, w = mha(x, need_weights=need_weights, **mask)
        assert not torch.isnan(out).any()
        assert torch.allclose(out[1], mha.out_proj.bias.expand(3, 8))  # zero context -> W^O 0 + b
        if need_weights:
            assert torch.all(w[1] == 0)


@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_attention_never_lets_position_t_see_t_plus_1(need_weights):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 6, 8, requires_grad=True)
    out, w = mha(x, is_causal=True, need_weights=need_weights, average_attn_weights=False)
    for t in range(6):
        (grad,) = torch.autograd.grad(out[0, t].sum(), x, retain_graph=True)
        assert torch.all(grad[0, t + 1:] == 0), f"position {t} depends on a later position"
        assert grad[0, : t + 1].abs().sum() > 0
    if need_weights:
        assert torch.all(w.triu(diagonal=1) == 0)
    y = x.detach().clone()
    y[0, 4:] = torch.randn(2, 8)  # change the future: the past's outputs stay
    assert torch.allclose(mha(y, is_causal=True)[0][0, :4], out[0, :4], atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
def test_self_attention_without_positions_is_permutation_equivariant(need_weights):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    block = TransformerEncoderBlock(8, 2, 16)
    x = torch.randn(2, 5, 8)
    perm = torch.tensor([3, 0, 4, 1, 2])
    out, w = mha(x, need_weights=need_weights)
    out_p, w_p = mha(x[:, perm], need_weights=need_weights)
    assert torch.allclose(out_p, out[:, perm], atol=1e-6)
    if need_weights:
        assert torch.allclose(w_p, w[:, perm][:, :, perm], atol=1e-6)
    assert torch.allclose(block(x[:, perm])[0], block(x)[0][:, perm], atol=1e-5)
    # with positions added, the symmetry is gone
    pe = SinusoidalPositionalEncoding(8)
    assert not torch.allclose(mha(pe(x[:, perm]))[0], mha(pe(x))[0][:, perm], atol=1e-3)


def test_dropout_on_weights_only_in_training_mode():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 4, 8)
    _, w = mha(x, average_attn_weights=False)
    assert (w == 0).any()  # some weights dropped, the rest scaled by 2
    mha.eval()
    _, w = mha(x, average_attn_weights=False)
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 4))


def test_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="batch_first"):
        MultiHeadAttention(8, 2, batch_first=False)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query must be \(B, T, 8\)"):
        mha(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="share B"):
        mha(torch.randn(2, 3, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(torch.randn(2, 3, 8), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        mha(torch.randn(2, 3, 8), attn_mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="differ"):
        mha.load_from_torch(nn.MultiheadAttention(8, 4))


# ----------------------------------------------------------------------------------------------
# Positional encodings
# ----------------------------------------------------------------------------------------------
def test_sinusoidal_encoding_follows_the_formula():
    pe = sinusoidal_positional_encoding(50, 8)
    assert pe.shape == (50, 8) and pe.dtype == torch.float32
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 4))
    for pos, i in ((7, 0), (13, 1), (49, 3)):
        angle = pos / 10000 ** (2 * i / 8)
        assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
        assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
    odd = sinusoidal_positional_encoding(3, 5)  # odd d_model: the last cosine column is dropped
    assert odd.shape == (3, 5)
    assert math.isclose(odd[2, 4].item(), math.sin(2 / 10000 ** (4 / 5)), abs_tol=1e-7)
    with pytest.raises(ValueError):
        sinusoidal_positional_encoding(0, 4)


def test_sinusoidal_dot_products_depend_on_distance_only():
    pe = sinusoidal_positional_encoding(40, 16, dtype=torch.float64)
    sim = pe @ pe.T
    assert torch.allclose(torch.diagonal(sim, 3), torch.full((37,), sim[0, 3].item(), dtype=torch.float64))
    assert torch.allclose(torch.diagonal(sim), torch.full((40,), 8.0, dtype=torch.float64))


def test_positional_modules_add_to_inputs_and_check_shapes():
    x = torch.zeros(2, 6, 8)
    sin = SinusoidalPositionalEncoding(8, max_len=10)
    assert torch.equal(sin(x)[1], sinusoidal_positional_encoding(6, 8))
    assert list(sin.parameters()) == [] and "pe" not in sin.state_dict()
    learned = LearnedPositionalEncoding(8, max_len=10)
    y = learned(x)
    assert torch.equal(y[0], learned.table.weight[:6].detach())
    y.sum().backward()
    assert learned.table.weight.grad[:6].abs().sum() > 0 and learned.table.weight.grad[6:].abs().sum() == 0
    with pytest.raises(ValueError, match="max_len=10"):
        sin(torch.zeros(1, 11, 8))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        learned(torch.zeros(1, 3, 4))


# ----------------------------------------------------------------------------------------------
# The encoder against nn.TransformerEncoderLayer
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_encoder_block_equals_torch_layer(norm_first, dtype):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).to(dtype)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    block = TransformerEncoderBlock(16, 4, 32, norm_first=norm_first).to(dtype).load_from_torch(layer)
    x = torch.randn(3, 5, 16, dtype=dtype)
    keep = length_mask(torch.tensor([5, 4, 2]))
    out, w = block(x, key_padding_mask=keep, need_weights=True)
    expected = layer(x, src_key_padding_mask=~keep)
    real = keep  # padded positions: PyTorch's fast path may leave them at anything
    assert _close(out[real], expected[real], dtype)
    assert w.shape == (3, 4, 5, 5)
    with pytest.raises(ValueError, match="norm_first"):
        TransformerEncoderBlock(16, 4, 32, norm_first=not norm_first).load_from_torch(layer)


def test_encoder_stack_returns_weights_per_layer():
    enc = TransformerEncoder(3, 8, 2, 16, norm_first=True)
    x = torch.randn(2, 4, 8)
    out, weights = enc(x, need_weights=True)
    assert out.shape == (2, 4, 8) and len(weights) == 3 and weights[0].shape == (2, 2, 4, 4)
    assert torch.allclose(weights[2].sum(-1), torch.ones(2, 2, 4))
    out2, none = enc(x)
    assert none is None and torch.allclose(out, out2, atol=1e-6)
    assert isinstance(enc.norm, nn.LayerNorm)
    assert isinstance(TransformerEncoder(1, 8, 2, 16).norm, nn.Identity)
