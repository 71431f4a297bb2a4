"""utils.linear_attention: the parallel form, the recurrence and a brute-force quadratic form of
the φ kernel all agree, causal or not, and the recurrence's state never grows."""

import pytest
import torch
import torch.nn.functional as F

from utils.linear_attention import elu_feature_map, linear_attention, linear_attention_step

TOL = 1e-5
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one thread is faster, and the machine is shared."""


def qkv(B=2, h=3, T=6, S=None, d_k=4, d_v=5, seed=0, dtype=torch.float32, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    S = T if S is None else S
    q = torch.randn(B, h, T, d_k, generator=g, dtype=dtype) * scale
    k = torch.randn(B, h, S, d_k, generator=g, dtype=dtype) * scale
    return q, k, torch.randn(B, h, S, d_v, generator=g, dtype=dtype)


def quadratic_form(q, k, v, causal):
    """The kernel written out as a (T, S) matrix: A[t, j] = φ(q_t) · φ(k_j), rows normalised."""
    T, S = q.shape[-2], k.shape[-2]
    similarity = torch.zeros(*q.shape[:-2], T, S, dtype=q.dtype)
    for t in range(T):
        for j in range(S):
            if not causal or j <= t:
                similarity[..., t, j] = (F.elu(q[..., t, :]) + 1).mul(F.elu(k[..., j, :]) + 1).sum(-1)
    return similarity / similarity.sum(-1, keepdim=True) @ v


def test_the_feature_map_is_elu_plus_one_and_positive():
    x = torch.tensor([-50.0, -1.0, 0.0, 2.0])
    assert torch.allclose(elu_feature_map(x), torch.tensor([torch.exp(torch.tensor(-50.0)), torch.exp(torch.tensor(-1.0)), 1.0, 3.0]))
    x = torch.linspace(-200, 50, 2001)
    assert bool((elu_feature_map(x) >= 0).all()) and bool((elu_feature_map(x[x > -15]) > 0).all())
    assert elu_feature_map(torch.tensor([-20.0])) == 0          # float32: exp(-20) − 1 rounds to −1
    q, k, v = qkv(T=3, seed=9)
    q[0, 0] = -30.0                                             # φ(q) = 0: no similarity to normalise
    out = linear_attention(q, k, v)
    assert bool((out[0, 0] == 0).all()) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_parallel_causal_form_equals_the_quadratic_form(seed):
    q, k, v = qkv(seed=seed)
    assert torch.allclose(linear_attention(q, k, v), quadratic_form(q, k, v, causal=True), atol=TOL)


@pytest.mark.parametrize("T, S", [(6, 6), (3, 8), (8, 3)])
def test_the_non_causal_form_equals_the_quadratic_form(T, S):
    q, k, v = qkv(T=T, S=S, seed=T)
    assert torch.allclose(linear_attention(q, k, v, causal=False), quadratic_form(q, k, v, causal=False), atol=TOL)


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_the_recurrence_step_by_step_equals_the_parallel_form(scale):
    B, h, T, d_k, d_v = 2, 3, 9, 4, 5
    q, k, v = qkv(B, h, T, d_k=d_k, d_v=d_v, seed=3, scale=scale)
    S, z = torch.zeros(B, h, d_k, d_v), torch.zeros(B, h, d_k)
    outputs = []
    for t in range(T):
        inputs = (S, z, q[:, :, t], k[:, :, t], v[:, :, t])
        before = [x.clone() for x in inputs]
        out, S, z = linear_attention_step(*inputs)
        assert all(torch.equal(a, b) for a, b in zip(inputs, before))      # nothing changed in place
        assert S.shape == (B, h, d_k, d_v) and z.shape == (B, h, d_k)         # the state never grows
        outputs.append(out)
    stepped = torch.stack(outputs, dim=2)                                      # T × (B, h, d_v) -> (B, h, T, d_v)
    assert torch.allclose(stepped, linear_attention(q, k, v), atol=TOL)
    assert torch.allclose(stepped, quadratic_form(q, k, v, causal=True), atol=TOL)
    assert torch.allclose(z, elu_feature_map(k).sum(2), atol=TOL)              # z_T = Σ_j φ(k_j)


def test_position_t_sees_itself_and_nothing_after_it():
    q, k, v = qkv(T=5, seed=4)
    first = linear_attention_step(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4), q[:, :, 0], k[:, :, 0], v[:, :, 0])[0]
    assert torch.allclose(first, v[:, :, 0], atol=TOL)                         # only itself: its own value
    changed = v.clone()
    changed[:, :, 3:] += 10.0                                                  # the future changes
    assert torch.allclose(linear_attention(q, k, changed)[:, :, :3], linear_attention(q, k, v)[:, :, :3], atol=TOL)


def test_float64_gradients_flow_through_both_forms_alike():
    q, k, v = (t.requires_grad_() for t in qkv(T=5, seed=5, dtype=torch.float64))
    weights = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    parallel = torch.autograd.grad((linear_attention(q, k, v) * weights).sum(), (q, k, v))
    S, z, total = torch.zeros(2, 3, 4, 5, dtype=torch.float64), torch.zeros(2, 3, 4, dtype=torch.float64), 0
    for t in range(5):
        out, S, z = linear_attention_step(S, z, q[:, :, t], k[:, :, t], v[:, :, t])
        total = total + (out * weights[:, :, t]).sum()
    for a, b in zip(parallel, torch.autograd.grad(total, (q, k, v))):
        assert torch.allclose(a, b, atol=1e-12)


def test_bad_shapes_are_named():
    q, k, v = qkv(T=4)
    with pytest.raises(ValueError, match="as many keys as queries"):
        linear_attention(q, k[:, :, :3], v[:, :, :3])
    with pytest.raises(ValueError, match="state_S"):
        linear_attention_step(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 5), q[:, :, 0], k[:, :, 0], v[:, :, 0])
    with pytest.raises(TypeError, match="dtype"):
        linear_attention_step(torch.zeros(2, 3, 4, 5).double(), torch.zeros(2, 3, 4), q[:, :, 0], k[:, :, 0], v[:, :, 0])


@pytest.mark.parametrize("device", DEVICES)
def test_both_forms_run_on_the_inputs_device(device):
    q, k, v = (t.to(device) for t in qkv(T=4, seed=6))
    out = linear_attention(q, k, v)
    step = linear_attention_step(torch.zeros(2, 3, 4, 5, device=device), torch.zeros(2, 3, 4, device=device),
                                 q[:, :, 0], k[:, :, 0], v[:, :, 0])[0]
    assert out.device.type == step.device.type == torch.device(device).type
    assert torch.allclose(step.cpu(), out[:, :, 0].cpu(), atol=TOL)
