"""utils.linear_attention.LinearMultiHeadAttention against linear_attention per head and a brute-force
loop with masks, and chapter 7's Transformer built with attention="linear" (issue 26)."""

import pytest
import torch

from utils.linear_attention import LinearMultiHeadAttention, _from_features, elu_feature_map, linear_attention
from utils.masks import causal_mask, length_mask
from utils.transformer import MultiHeadAttention, _merge_heads, _split_heads
from utils.transformer_decoder import build_transformer_model, cross_attention_maps

TOL = 1e-5
_FROM_FEATURES = _from_features   # the original, for tests that count its calls
E, H = 16, 4
V = 11


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny modules: one thread is faster, and the machine is shared."""


def lin(seed=0, **kwargs):
    torch.manual_seed(seed)
    module = LinearMultiHeadAttention(E, H, **kwargs).eval()
    with torch.no_grad():  # non-zero biases, so that every weight matters
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module


def heads(module, x, key=None):
    key = x if key is None else key
    q = _split_heads(module.q_proj(x), H)  # (B, T, E) -> (B, h, T, d)
    k, v = module.project_kv(key)
    return q, k, v


def brute_force(module, x, key, allowed):
    """Weights and output by a loop: ``allowed (B, h, T_q, T_k)`` bool; a row with no key gives zeros."""
    q, k, v = heads(module, x, key)
    B, h, T_q, d = q.shape
    T_k = k.shape[2]
    weights = torch.zeros(B, h, T_q, T_k)
    context = torch.zeros(B, h, T_q, d)
    for b in range(B):
        for i in range(h):
            for t in range(T_q):
                sims = [float(elu_feature_map(q[b, i, t]) @ elu_feature_map(k[b, i, j])) if allowed[b, i, t, j]
                        else 0.0 for j in range(T_k)]
                total = sum(sims)
                for j in range(T_k):
                    weights[b, i, t, j] = sims[j] / total if total > 0 else 0.0
                    context[b, i, t] += weights[b, i, t, j] * v[b, i, j]
    return module.out_proj(_merge_heads(context)), weights


# ----------------------------------------------------------------------------------------------
# The module: linear_attention per head, a brute-force loop with masks, the weights
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])  # the linear path, then the quadratic one
@torch.no_grad()
def test_the_module_is_linear_attention_per_head_after_the_projections(causal, need_weights):
    module = lin()
    x = torch.randn(3, 7, E, generator=torch.Generator().manual_seed(1))
    got, w = module(x, need_weights=need_weights, is_causal=causal)
    q, k, v = heads(module, x)
    want = module.out_proj(_merge_heads(linear_attention(q, k, v, causal=causal)))
    assert torch.allclose(got, want, atol=TOL, rtol=0)
    assert (w is None) != need_weights


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@torch.no_grad()
def test_padding_and_causal_masks_equal_a_brute_force_loop(causal, need_weights):
    module = lin(seed=2)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, E, generator=g)
    keep = length_mask(torch.tensor([5, 3, 1]), 5)  # (B, T_k), True = a real token
    allowed = keep.view(3, 1, 1, 5).expand(3, H, 5, 5)
    if causal:
        allowed = allowed & causal_mask(5)
    got, w = module(x, key_padding_mask=keep, need_weights=True, average_attn_weights=False, is_causal=causal)
    fast, _ = module(x, key_padding_mask=keep, need_weights=need_weights, is_causal=causal)
    want, want_w = brute_force(module, x, x, allowed)
    assert torch.allclose(got, want, atol=TOL, rtol=0) and torch.allclose(fast, want, atol=TOL, rtol=0)
    assert w.shape == (3, H, 5, 5) and torch.allclose(w, want_w, atol=TOL, rtol=0)
    assert bool((w[~allowed] == 0).all())  # a padded (or future) key gets weight 0
    assert torch.allclose(w.sum(-1), torch.ones(3, H, 5), atol=TOL, rtol=0)  # rows sum to 1 over real keys
    averaged = module(x, key_padding_mask=keep, is_causal=causal)[1]
    assert torch.allclose(averaged, w.mean(1), atol=TOL, rtol=0)


@torch.no_grad()
def test_cross_attention_with_any_bool_mask_and_a_float_mask():
    module = lin(seed=3)
    g = torch.Generator().manual_seed(3)
    x, memory = torch.randn(2, 4, E, generator=g), torch.randn(2, 6, E, generator=g)
    allowed = torch.rand(2, H, 4, 6, generator=g) > 0.4
    allowed[0, 1, 2] = False  # a query with no key: zeros, not NaN
    got, w = module(x, memory, memory, attn_mask=allowed.view(2 * H, 4, 6), average_attn_weights=False)
    want, want_w = brute_force(module, x, memory, allowed)
    assert torch.allclose(got, want, atol=TOL, rtol=0) and torch.allclose(w, want_w, atol=TOL, rtol=0)
    assert bool((w[0, 1, 2] == 0).all()) and torch.isfinite(got).all()
    additive = torch.zeros(2, H, 4, 6).masked_fill(~allowed, float("-inf"))  # a float mask: -inf removes a key
    assert torch.allclose(module(x, memory, memory, attn_mask=additive)[0], got, atol=TOL, rtol=0)
    bias = torch.randn(4, 6, generator=g)  # a finite one multiplies φ(q)·φ(k) by exp(m), as it does exp(score)
    scaled, w_bias = module(x, memory, memory, attn_mask=bias, average_attn_weights=False)
    raw = brute_force(module, x, memory, torch.ones(2, H, 4, 6, dtype=torch.bool))[1] * bias.exp()
    assert torch.allclose(w_bias, raw / raw.sum(-1, keepdim=True), atol=TOL, rtol=0)


def test_a_masked_key_is_not_read_and_an_empty_row_has_finite_gradients():
    module = lin(seed=4)
    x = torch.randn(2, 4, E, requires_grad=True)
    keep = torch.tensor([[True, True, False, False], [False, False, False, False]])  # row 1: no key at all
    value = x.detach().clone()
    value[0, 2] = float("nan")  # NaN in a padded key's value never reaches the output (linear path)
    out, _ = module(x, x, value, key_padding_mask=keep, need_weights=False)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], module.out_proj.bias.expand(4, E), atol=TOL, rtol=0)  # zero context
    out, w = module(x, key_padding_mask=keep)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and bool((w[1] == 0).all())


def test_a_state_dict_moves_between_softmax_and_linear_attention():
    softmax = MultiHeadAttention(E, H)
    linear = LinearMultiHeadAttention(E, H)
    linear.load_state_dict(softmax.state_dict())  # strict: same names, same shapes
    assert linear.state_dict().keys() == softmax.state_dict().keys()
    x = torch.randn(2, 3, E)
    assert torch.allclose(linear.q_proj(x), softmax.q_proj(x))
    assert not torch.allclose(linear(x)[0], softmax(x)[0], atol=1e-3)  # only the attention differs


def test_dropout_acts_on_the_weights_in_training_only():
    module = lin(seed=5, dropout=0.5)
    x = torch.randn(2, 6, E)
    with torch.no_grad():
        want, _ = module(x, need_weights=False, is_causal=True)
        module.train()
        torch.manual_seed(0)
        dropped, w = module(x, need_weights=True, average_attn_weights=False, is_causal=True)
    assert not torch.allclose(dropped, want, atol=1e-3)
    assert torch.allclose(w.sum(-1), torch.ones(2, H, 6), atol=TOL, rtol=0)  # the weights returned are undropped


# ----------------------------------------------------------------------------------------------
# Chapter 7's Transformer with attention="linear"
# ----------------------------------------------------------------------------------------------
def model(attention=None, seed=0, **kwargs):
    chosen = {} if attention is None else {"attention": attention}
    return build_transformer_model(V, V, d_model=16, num_heads=4, d_ff=32, num_layers=2, max_len=12, seed=seed,
                                   **chosen, **kwargs).eval()


def batch(seed=0, B=3, S=6, T=5, lengths=(6, 4, 2)):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(4, V, (B, S), generator=g).masked_fill(~length_mask(lengths, S), 0)
    tgt_in = torch.randint(3, V, (B, T), generator=g)
    tgt_in[:, 0] = 1  # <sos>
    return src, lengths, tgt_in


def attentions(m):
    enc = [layer.self_attn for layer in m.encoder.encoder.layers]
    return enc + [a for layer in m.decoder.layers for a in (layer.self_attn, layer.multihead_attn)]


def test_softmax_is_the_default_and_builds_the_same_model_as_before():
    default, softmax, linear = model(), model("softmax"), model("linear")
    assert all(type(a) is MultiHeadAttention for a in attentions(default) + attentions(softmax))
    assert all(type(a) is LinearMultiHeadAttention for a in attentions(linear))
    for other in (softmax, linear):  # the same draws, in the same order: only the class differs
        assert other.state_dict().keys() == default.state_dict().keys()
        assert all(torch.equal(p, other.state_dict()[name]) for name, p in default.state_dict().items())


def test_bad_attention_names_and_linear_with_grouped_query_are_refused():
    with pytest.raises(ValueError, match=r"attention must be one of \('softmax', 'linear'\), got 'performer'"):
        model("performer")
    with pytest.raises(ValueError, match="num_kv_heads"):
        model("linear", num_kv_heads=2)
    assert model("softmax", num_kv_heads=2).decoder.num_kv_heads == 2  # grouped-query softmax still builds


@torch.no_grad()
def test_linear_decoding_step_by_step_equals_the_one_pass_forward():
    m = model("linear", seed=1)
    src, lengths, tgt_in = batch(seed=1)
    logits, weights = m(src, lengths, tgt_in)  # teacher forcing: one causal pass (linear path and quadratic one)
    enc_out, src_mask, state = m.encode(src, lengths)
    steps, step_weights = [], []
    for t in range(tgt_in.shape[1]):  # the key-value cache: one new token sees every cached one
        step_logits, state, w = m.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
        steps.append(step_logits)
        step_weights.append(w)
    assert torch.allclose(torch.stack(steps, 1), logits, atol=TOL, rtol=0)
    assert torch.allclose(torch.stack(step_weights, 1), weights, atol=TOL, rtol=0)
    # several new tokens after a cached prefix: the offset causal mask takes the quadratic path
    layer, x = m.decoder.layers[0], m.decoder.embed(tgt_in)
    memory_kv, empty = layer.multihead_attn.project_kv(enc_out), x.new_zeros(3, 4, 0, 4)
    full, _, _, _ = layer.forward_cached(x, empty, empty, *memory_kv, src_mask)
    head, k2, v2, _ = layer.forward_cached(x[:, :2], empty, empty, *memory_kv, src_mask)
    tail, _, _, _ = layer.forward_cached(x[:, 2:], k2, v2, *memory_kv, src_mask)
    assert torch.allclose(torch.cat([head, tail], 1), full, atol=TOL, rtol=0)
    tokens, _ = m.greedy_decode(src, lengths, max_len=8)  # and the tooling runs on it
    assert tokens.shape[0] == 3


def test_cross_attention_maps_of_a_linear_model_are_its_normalised_weights():
    m = model("linear", seed=2)
    src, lengths, tgt_in = batch(seed=2)
    maps = cross_attention_maps(m, src, lengths, tgt_in)  # (L, B, H, T, S)
    assert maps.shape == (2, 3, 4, 5, 6)
    real = length_mask(lengths, 6).view(1, 3, 1, 1, 6).expand_as(maps)
    assert bool((maps[~real] == 0).all())  # padded source tokens get weight 0
    assert torch.allclose(maps.sum(-1), torch.ones(2, 3, 4, 5), atol=TOL, rtol=0)


# ----------------------------------------------------------------------------------------------
# form="quadratic": the same numbers through the readable (T_q, T_k) weights
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("causal", [False, True])
def test_the_quadratic_form_gives_the_linear_forms_numbers_and_gradients(causal, monkeypatch):
    import utils.linear_attention as la

    x = torch.randn(3, 9, E, generator=torch.Generator().manual_seed(4))
    padding = length_mask(torch.tensor([9, 5, 1]), 9)
    results = {}
    for form in ("auto", "quadratic"):
        module = lin(form=form)
        calls: list[int] = []

        def counted(*args, calls=calls, **kwargs):
            calls.append(1)
            return _FROM_FEATURES(*args, **kwargs)

        monkeypatch.setattr(la, "_from_features", counted)
        xx = x.clone().requires_grad_()
        out, weights = module(xx, key_padding_mask=padding, need_weights=False, is_causal=causal)
        out.sum().backward()
        results[form] = (out.detach(), xx.grad)
        assert weights is None
        assert bool(calls) == (form == "auto"), f"form={form!r} took the {'linear' if calls else 'quadratic'} path"
    assert torch.allclose(results["auto"][0], results["quadratic"][0], atol=TOL)
    assert torch.allclose(results["auto"][1], results["quadratic"][1], atol=TOL)


def test_form_is_checked_and_kept_in_the_module():
    with pytest.raises(ValueError, match="form"):
        LinearMultiHeadAttention(E, H, form="fast")
    module = LinearMultiHeadAttention(E, H, form="quadratic")
    assert module.form == "quadratic" and LinearMultiHeadAttention(E, H).form == "auto"
