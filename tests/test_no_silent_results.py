"""No silent result on bad input (issue 21, item 4), and no change at all on good input.

Six inputs used to give a wrong or non-finite result without an error: NaN in the value of a
masked key, a NaN window centre, ``+inf`` logits in a loss, scores over zero features, float16
into the learned positional encoding, and a batch size of 0. ``tests/test_validation.py`` holds
their named errors (table ``BAD``) and legal edge cases (table ``EDGE``); this file checks the
"masked means not read" promise more widely, and that every fix leaves finite results
bit-identical to the plain formula (the notebooks' stored outputs are compared digit by digit).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from utils import attention as A
from utils import local_attention as LA
from utils import luong as L
from utils import positional as P
from utils import seq2seq_training as ST
from utils import transformer as T

NAN, INF = float("nan"), float("inf")
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _case(seed: int, dtype: torch.dtype = torch.float32):
    """Random ``q, k, v`` and a bool mask with some fully masked rows."""
    g = _gen(seed)
    B, T_q, T_k, d, d_v = (int(n) for n in torch.randint(1, 7, (5,), generator=g))
    q, k, v = (torch.randn(*s, generator=g).to(dtype) for s in ((B, T_q, d), (B, T_k, d), (B, T_k, d_v)))
    mask = torch.rand(B, T_q, T_k, generator=g) < 0.6
    return q, k, v, mask


# ---------------------------------------------------------------------------------------------
# 1. A masked key is not read: NaN or inf in its value never reaches an output
# ---------------------------------------------------------------------------------------------
def _poison_masked(v: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
    """``v`` with ``fill`` at every key that no query may attend to."""
    never = ~mask.any(-2)  # (B, T_k): masked for every query
    return v.masked_fill(never.unsqueeze(-1), fill)


@pytest.mark.parametrize("fill", [NAN, INF, -INF])
@pytest.mark.parametrize("seed", range(8))
def test_sdpa_never_reads_a_masked_value(seed, fill):
    q, k, v, mask = _case(seed)
    clean, w_clean = A.scaled_dot_product_attention(q, k, _poison_masked(v, mask, 0.0), attn_mask=mask)
    out, w = A.scaled_dot_product_attention(q, k, _poison_masked(v, mask, fill), attn_mask=mask)
    assert torch.equal(out, clean) and torch.equal(w, w_clean)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("seed", range(4))
def test_gradients_stay_finite_when_a_masked_value_is_nan(seed):
    q, k, v, mask = _case(seed)
    v = _poison_masked(v, mask, NAN)
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    out, _ = A.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("as_float", [False, True])
def test_a_masked_key_is_not_read_either(as_float):
    """NaN in the key (so in its score) of a masked key: a bool mask and a float ``-inf`` mask alike."""
    q, k, v, _ = _case(5)
    keep = torch.ones(k.shape[1], dtype=torch.bool)
    keep[-1] = False
    attn_mask = torch.zeros(keep.shape).masked_fill(~keep, -INF) if as_float else keep
    clean = A.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    k_bad, v_bad = (t.index_fill(1, torch.tensor([k.shape[1] - 1]), NAN) for t in (k, v))
    out = A.scaled_dot_product_attention(q, k_bad, v_bad, attn_mask=attn_mask)
    assert torch.equal(out[0], clean[0]) and torch.equal(out[1], clean[1])


def test_a_causal_query_does_not_read_a_future_nan():
    g = _gen(0)
    q, k, v = torch.randn(1, 4, 3, generator=g), torch.randn(1, 4, 3, generator=g), torch.randn(1, 4, 2, generator=g)
    v[0, 2, 1] = NAN  # key 2, feature 1: queries 0 and 1 may not see it, 2 and 3 read it
    out, _ = A.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected = torch.zeros(1, 4, 2, dtype=torch.bool)
    expected[0, 2:, 1] = True
    assert torch.equal(torch.isnan(out), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_in_a_value_that_is_read_still_shows(dtype):
    weights = torch.tensor([[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]], dtype=dtype)  # (1, 2, 3)
    value = torch.tensor([[[1.0, NAN], [2.0, 3.0], [NAN, INF]]], dtype=dtype)  # (1, 3, 2)
    out = A.attention_pool(weights, value)
    assert torch.isnan(out[0, 0, 1]) and out[0, 0, 0] == 1.5  # row 0 reads key 0's NaN feature
    assert torch.equal(out[0, 1], torch.tensor([2.0, 3.0], dtype=dtype))  # row 1 reads key 1 only


def test_luong_local_attention_does_not_read_outside_its_window():
    g = _gen(1)
    att = L.LuongAttention(4, 4, "dot", "local-m", w=1)
    enc = torch.randn(2, 6, 4, generator=g)
    enc[:, 5] = NAN  # outside the window [t - 1, t + 1] for t = 0..3
    out = att(torch.randn(2, 4, generator=g), enc, step=torch.tensor([0, 3]))
    assert torch.isfinite(out.context).all()
    ctx, weights, _ = LA.windowed_dot_attention(torch.randn(2, 4, generator=g), enc, torch.tensor([9, 0]), 1)
    assert torch.isfinite(ctx).all() and torch.equal(ctx[0], torch.zeros(4))  # window past the end


def _mha_nan_at_padded_key(need_weights: bool, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    torch.manual_seed(0)
    mha = T.MultiHeadAttention(8, 2)
    g = _gen(2)
    x, memory = torch.randn(2, 3, 8, generator=g), torch.randn(2, 4, 8, generator=g)
    keep = torch.tensor([[True, True, True, False], [True, True, False, False]])
    outputs = []
    for fill in (0.0, NAN):
        memory_bad = memory.masked_fill(~keep.unsqueeze(-1), fill)  # NaN in key and value at padding
        outputs.append(mha(x, memory_bad, key_padding_mask=keep, attn_mask=attn_mask,
                           need_weights=need_weights)[0].detach())
    return outputs


@pytest.mark.parametrize("attn_mask", [None, torch.zeros(3, 4), torch.zeros(3, 4).fill_diagonal_(-INF)],
                         ids=["padding only", "with a float attn_mask", "with -inf in it"])
def test_mha_readable_path_does_not_read_a_padded_nan(attn_mask):
    clean, out = _mha_nan_at_padded_key(True, attn_mask)
    assert torch.equal(out, clean) and torch.isfinite(out).all()


def test_mha_fast_path_does_not_read_a_padded_nan():
    clean, out = _mha_nan_at_padded_key(False)
    assert torch.allclose(out, clean, atol=1e-6) and torch.isfinite(out).all()


# ---------------------------------------------------------------------------------------------
# The fixes change nothing on valid, finite input: bit for bit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_attention_pool_is_exactly_the_matrix_product_on_finite_input(seed, dtype):
    q, k, v, mask = _case(seed, dtype)
    weights = A.masked_softmax(A.scaled_dot_score(q, k), mask)
    assert torch.equal(A.attention_pool(weights, v), weights @ v)
    out, w = A.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(out, w @ v)


@pytest.mark.parametrize("seed", range(6))
def test_local_attention_is_unchanged_on_finite_input(seed):
    g = _gen(seed)
    B, T_q, S = 2, 3, 7
    scores, position = torch.randn(B, T_q, S, generator=g), torch.rand(B, T_q, generator=g) * (S + 2) - 1
    s = torch.arange(S, dtype=torch.float32)
    inside = (s - position.unsqueeze(-1)).abs() <= 2  # the window [p_t - w, p_t + w], w = 2
    gauss = torch.exp(-((s - position.unsqueeze(-1)) ** 2) / (2.0 * 1.0 ** 2))  # sigma = w / 2
    assert torch.equal(LA.window_mask(position, S, 2), inside)
    assert torch.equal(LA.gaussian_factor(position, S, 1.0), gauss)
    assert torch.equal(LA.local_weights(scores, position, 2), A.masked_softmax(scores, inside) * gauss)
    query, enc, center = torch.randn(B, 4, generator=g), torch.randn(B, S, 4, generator=g), torch.tensor([0, 5])
    ctx, weights, positions = LA.windowed_dot_attention(query, enc, center, 2)
    keys = enc.gather(1, positions.unsqueeze(-1).expand(-1, -1, 4))
    assert torch.equal(ctx, (weights.unsqueeze(1) @ keys).squeeze(1))


@pytest.mark.parametrize("seed", range(4))
def test_sequence_loss_is_exactly_cross_entropy_on_finite_input(seed):
    g = _gen(seed)
    logits, targets = torch.randn(3, 5, 7, generator=g) * 4, torch.randint(0, 7, (3, 5), generator=g)
    targets[0, 0] = 3
    logits[1, 1, 2] = -INF  # a blocked token that is not the target: still a finite loss
    targets[1, 1] = 4
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
    assert torch.equal(ST.sequence_loss(logits, targets), expected)


def test_sequence_loss_of_a_blocked_target_is_infinite_not_nan():
    loss = ST.sequence_loss(torch.tensor([[[0.0, -INF, 1.0]]]), torch.tensor([[1]]))
    assert loss == INF  # -log 0: honest, and fit stops on it with a FloatingPointError


@pytest.mark.parametrize("dtype", DTYPES)
def test_positional_encodings_keep_the_dtype_and_values(dtype):
    torch.manual_seed(0)
    learned = P.LearnedPositionalEncoding(6, 5).to(dtype)
    x = torch.randn(2, 4, 6, generator=_gen(3)).to(dtype)
    assert torch.equal(learned(x), x + learned.table.weight[:4])
    sinusoid = P.SinusoidalPositionalEncoding(6, 5)
    y = sinusoid(x)
    assert y.dtype == dtype and torch.isfinite(y).all()
