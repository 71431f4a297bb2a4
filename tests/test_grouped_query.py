"""utils.grouped_query: grouped-query attention is multi-head attention with shared key/value
heads (against the course's MultiHeadAttention, nn.MultiheadAttention and PyTorch's enable_gqa),
its cache decodes like the one-pass causal forward, and kv_cache_bytes is what the cache holds."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.grouped_query import GroupedQueryAttention, kv_cache_bytes
from utils.masks import causal_mask, length_mask
from utils.transformer import MultiHeadAttention
from utils.transformer_decoder import build_transformer_model

TOL = 1e-5
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
E, H = 16, 4


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny modules: one thread is faster, and the machine is shared."""


def gqa(num_kv_heads, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    module = GroupedQueryAttention(E, H, num_kv_heads).to(dtype).eval()
    with torch.no_grad():  # non-zero biases, so that every weight matters
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module


def x_batch(B=3, T=6, seed=1, dtype=torch.float32):
    return torch.randn(B, T, E, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def as_multi_head(module: GroupedQueryAttention) -> MultiHeadAttention:
    """The multi-head attention that ``module`` is: each key/value head's projection rows copied
    for every query head of its group."""
    mha = MultiHeadAttention(E, H).eval()
    d = module.head_dim
    with torch.no_grad():
        mha.q_proj.load_state_dict(module.q_proj.state_dict())
        mha.out_proj.load_state_dict(module.out_proj.state_dict())
        for ours, theirs in ((mha.k_proj, module.k_proj), (mha.v_proj, module.v_proj)):
            w = theirs.weight.view(module.num_kv_heads, d, E).repeat_interleave(module.group_size, 0)
            ours.weight.copy_(w.reshape(E, E))          # (g, d, E) -> (h, d, E) -> (E, E)
            ours.bias.copy_(theirs.bias.view(module.num_kv_heads, d).repeat_interleave(module.group_size, 0).reshape(E))
    return mha


# ----------------------------------------------------------------------------------------------
# as many key/value heads as query heads: multi-head attention
# ----------------------------------------------------------------------------------------------
def test_with_as_many_kv_heads_as_heads_it_is_the_courses_multi_head_attention():
    ours = gqa(H)
    mha = MultiHeadAttention(E, H).eval()
    mha.load_state_dict(ours.state_dict())               # the same parameter names and shapes
    x = x_batch()
    keys = length_mask(torch.tensor([6, 3, 1]), 6)
    for kwargs in ({}, {"is_causal": True}, {"key_padding_mask": keys}, {"key_padding_mask": keys, "is_causal": True}):
        for need_weights in (True, False):               # the readable and the fast path
            got, w = ours(x, need_weights=need_weights, **kwargs)
            want, w_want = mha(x, need_weights=need_weights, **kwargs)
            assert torch.allclose(got, want, atol=TOL), kwargs
            assert (w is None) == (not need_weights) and (w is None or torch.allclose(w, w_want, atol=TOL))


def test_with_as_many_kv_heads_as_heads_it_is_pytorchs_multihead_attention():
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(E, H, batch_first=True).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
    ours = GroupedQueryAttention.from_torch(theirs).eval()
    assert ours.num_kv_heads == H and ours.group_size == 1
    x = x_batch()
    keys = length_mask(torch.tensor([6, 4, 2]), 6)
    mask = causal_mask(6)
    got, _ = ours(x, key_padding_mask=keys, attn_mask=mask)
    want, _ = theirs(x, x, x, key_padding_mask=~keys, attn_mask=~mask)   # PyTorch's bool masks: True = blocked
    assert torch.allclose(got, want, atol=TOL)
    back = ours.to_torch().eval()
    assert torch.allclose(back(x, x, x, need_weights=False)[0], theirs(x, x, x, need_weights=False)[0], atol=TOL)


# ----------------------------------------------------------------------------------------------
# fewer key/value heads: shared within each group
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
def test_grouped_query_attention_is_multi_head_attention_with_tied_kv_heads(num_kv_heads):
    ours = gqa(num_kv_heads, seed=num_kv_heads)
    assert ours.k_proj.weight.shape == ours.v_proj.weight.shape == (num_kv_heads * E // H, E)
    x = x_batch(seed=num_kv_heads)
    keys = length_mask(torch.tensor([6, 2, 5]), 6)
    mha = as_multi_head(ours)
    for need_weights in (True, False):
        got, _ = ours(x, key_padding_mask=keys, is_causal=True, need_weights=need_weights)
        want, _ = mha(x, key_padding_mask=keys, is_causal=True, need_weights=need_weights)
        assert torch.allclose(got, want, atol=TOL)


@pytest.mark.parametrize("num_kv_heads", [1, 2])
def test_grouped_query_attention_equals_pytorchs_enable_gqa(num_kv_heads):
    ours = gqa(num_kv_heads, seed=3)
    x = x_batch(seed=3)
    q = ours.q_proj(x).unflatten(-1, (H, -1)).transpose(1, 2)           # (B, h, T, d)
    k, v = ours.project_kv(x)                                            # (B, g, T, d) each
    assert k.shape == (3, num_kv_heads, 6, E // H)
    context = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    want = ours.out_proj(context.transpose(1, 2).flatten(-2))
    assert torch.allclose(ours(x, is_causal=True, need_weights=False)[0], want, atol=TOL)


# ----------------------------------------------------------------------------------------------
# the cache: g heads, decoding token by token = one causal pass
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
def test_cached_decoding_step_by_step_equals_the_one_pass_causal_forward(num_kv_heads):
    ours = gqa(num_kv_heads, seed=5)
    x = x_batch(B=2, T=7, seed=5)
    full, _ = ours(x, is_causal=True, need_weights=False)
    cache_k, cache_v = ours.empty_cache(2)
    steps = []
    for t in range(7):
        out, cache_k, cache_v = ours.forward_cached(x[:, t : t + 1], cache_k, cache_v)
        assert cache_k.shape == cache_v.shape == (2, num_kv_heads, t + 1, E // H)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=TOL)
    # several new tokens at once (a prompt, then more): each sees the cache and the new ones up to itself
    out_a, k, v = ours.forward_cached(x[:, :4], *ours.empty_cache(2))
    out_b, k, v = ours.forward_cached(x[:, 4:], k, v)
    assert torch.allclose(torch.cat([out_a, out_b], dim=1), full, atol=TOL)
    assert torch.allclose(k, cache_k, atol=TOL) and torch.allclose(v, cache_v, atol=TOL)   # rounding: 4 rows at once


@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_cache_holds_exactly_kv_cache_bytes(num_kv_heads, dtype):
    ours = gqa(num_kv_heads, dtype=dtype)
    B, T = 3, 5
    _, k, v = ours.forward_cached(x_batch(B, T, dtype=dtype), *ours.empty_cache(B))
    assert k.dtype == dtype
    assert k.nbytes + v.nbytes == kv_cache_bytes(1, num_kv_heads, E // H, T, B, dtype)
    # the cache shrinks by h / g; the queries keep their h heads
    assert kv_cache_bytes(1, H, E // H, T, B, dtype) == (H // num_kv_heads) * (k.nbytes + v.nbytes)


def test_kv_cache_bytes_counts_chapter_7s_decoder_cache():
    L, heads, d_model = 2, 4, 16
    model = build_transformer_model(11, 11, d_model, heads, 32, L, max_len=12).eval()
    src, lengths = torch.randint(3, 11, (2, 5)), torch.tensor([5, 3])
    enc_out, src_mask, _ = model.encode(src, lengths)
    state = model.decoder.init_state(enc_out, None, src_mask)
    token = torch.ones(2, dtype=torch.long)
    for _ in range(4):
        _, state, _ = model.decoder.step(token, state, enc_out, src_mask)
    assert state.self_k.nbytes + state.self_v.nbytes == kv_cache_bytes(L, heads, d_model // heads, 4, 2)
    assert kv_cache_bytes(32, 8, 128, 4096, 1, torch.float16) == 2 * 32 * 8 * 128 * 4096 * 2   # 0.5 GiB


# ----------------------------------------------------------------------------------------------
# errors and devices
# ----------------------------------------------------------------------------------------------
def test_bad_sizes_caches_and_conversions_are_named():
    with pytest.raises(ValueError, match="divisible by num_kv_heads"):
        GroupedQueryAttention(E, H, 3)
    with pytest.raises(ValueError, match="num_kv_heads"):
        GroupedQueryAttention(E, H, 0)
    with pytest.raises(ValueError, match="divisible"):
        GroupedQueryAttention(E, 3, 1)
    ours = gqa(2)
    with pytest.raises(ValueError, match="num_kv_heads == num_heads"):
        ours.to_torch()
    with pytest.raises(ValueError, match="num_kv_heads == num_heads"):
        ours.load_from_torch(nn.MultiheadAttention(E, H, batch_first=True))
    x = x_batch(B=2, T=3)
    with pytest.raises(ValueError, match="cache_k must be"):
        ours.forward_cached(x, torch.zeros(2, H, 0, E // H), torch.zeros(2, H, 0, E // H))
    with pytest.raises(ValueError, match="k must be"):
        ours.attend_kv(x, *(t.repeat_interleave(2, 1) for t in ours.project_kv(x)))
    with pytest.raises(TypeError, match="dtype"):
        ours.project_kv(x.double())
    with pytest.raises(ValueError, match="seq_len"):
        kv_cache_bytes(1, 1, 1, -1, 1)
    with pytest.raises(TypeError, match="dtype"):
        kv_cache_bytes(1, 1, 1, 1, 1, "float16")


@pytest.mark.parametrize("device", DEVICES)
def test_grouped_query_attention_runs_on_the_modules_device(device):
    ours = gqa(2).to(device)
    x = x_batch(B=2, T=4).to(device)
    out, k, v = ours.forward_cached(x, *ours.empty_cache(2))
    assert out.device.type == k.device.type == torch.device(device).type
    assert torch.allclose(out.cpu(), gqa(2)(x.cpu(), is_causal=True, need_weights=False)[0], atol=TOL)


# ---------------------------------------------------------------- chapter 7's Transformer, with g key/value heads
def _model(num_kv_heads, seed=0):
    return build_transformer_model(14, 14, d_model=16, num_heads=4, d_ff=32, num_layers=2, max_len=32, seed=seed,
                                   num_kv_heads=num_kv_heads).eval()


def test_a_decoder_with_as_many_kv_heads_as_heads_is_chapter_7s_decoder():
    mha, gqa = _model(None), _model(4)
    gqa.load_state_dict(mha.state_dict())                 # the same parameters, under the same names
    src, lengths = torch.randint(3, 14, (3, 7), generator=torch.Generator().manual_seed(1)), torch.tensor([7, 5, 2])
    tgt_in = torch.randint(3, 14, (3, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(gqa(src, lengths, tgt_in)[0], mha(src, lengths, tgt_in)[0], atol=1e-6)
    assert type(_model(None).decoder.layers[0].self_attn) is MultiHeadAttention   # None: nothing changes


@pytest.mark.parametrize("num_kv_heads", [1, 2])
def test_a_grouped_query_decoder_decodes_with_its_smaller_cache_as_in_one_pass(num_kv_heads):
    model = _model(num_kv_heads)
    src, lengths = torch.randint(3, 14, (2, 6), generator=torch.Generator().manual_seed(3)), torch.tensor([6, 4])
    tgt_in = torch.randint(3, 14, (2, 5), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        parallel = model(src, lengths, tgt_in)[0]                           # (B, T, V), one pass
        enc_out, src_mask, state = model.encode(src, lengths)
        steps = []
        for t in range(tgt_in.shape[1]):
            logits, state, _ = model.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
            steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), parallel, atol=1e-5)
    L, d = 2, 16 // 4
    assert state.self_k.shape == (2, L, num_kv_heads, 5, d) and state.cross_k.shape == (2, L, num_kv_heads, 6, d)
    held = sum(t.nbytes for t in (state.self_k, state.self_v))
    assert held == kv_cache_bytes(L, num_kv_heads, d, 5, 2)                 # num_kv_heads/4 of chapter 7's cache
    assert held * 4 // num_kv_heads == kv_cache_bytes(L, 4, d, 5, 2)
