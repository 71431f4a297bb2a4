"""Tests for utils.glimpse: soft and hard glimpses, the REINFORCE loss and its baseline."""

import math

import pytest
import torch

from utils.attention import AdditiveScore
from utils.glimpse import Glimpse, HardAttention, MovingAverageBaseline, SoftAttention, hard_glimpse, reinforce_loss, soft_glimpse


# ----------------------------------------------------------------------------------------------
# soft_glimpse: the expected region
# ----------------------------------------------------------------------------------------------
def test_soft_glimpse_is_the_hand_computed_weighted_mean():
    features = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]])  # (1, 3, 2)
    weights = torch.tensor([[0.5, 0.25, 0.25]])
    # 0.5·(1, 0) + 0.25·(0, 2) + 0.25·(4, 4) = (1.5, 1.5)
    assert torch.allclose(soft_glimpse(features, weights), torch.tensor([[1.5, 1.5]]))


def test_soft_glimpse_batch_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(4, 6, 5, generator=g)
    weights = torch.softmax(torch.randn(4, 6, generator=g), dim=-1)
    expected = torch.stack([sum(weights[b, i] * features[b, i] for i in range(6)) for b in range(4)])
    assert torch.allclose(soft_glimpse(features, weights), expected, atol=1e-6)


def test_soft_glimpse_one_hot_weights_pick_a_region():
    features = torch.randn(2, 4, 3)
    weights = torch.zeros(2, 4)
    weights[0, 2] = weights[1, 0] = 1.0
    assert torch.equal(soft_glimpse(features, weights), torch.stack([features[0, 2], features[1, 0]]))


def test_soft_glimpse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="weights"):
        soft_glimpse(torch.zeros(2, 4, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="features"):
        soft_glimpse(torch.zeros(4, 3), torch.zeros(2, 4))


# ----------------------------------------------------------------------------------------------
# hard_glimpse: one sampled region
# ----------------------------------------------------------------------------------------------
def test_hard_glimpse_samples_follow_the_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    n = 20_000
    features = torch.arange(4.0).view(1, 4, 1).expand(n, 4, 1)
    g = torch.Generator().manual_seed(0)
    glimpse, index = hard_glimpse(features, probs.expand(n, 4), generator=g)
    counts = torch.bincount(index, minlength=4).double()
    expected = n * probs.double()
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 16.27  # the 0.999 quantile of chi-square with 3 degrees of freedom
    assert torch.equal(glimpse.squeeze(1), index.float())  # z is the chosen region itself


def test_hard_glimpse_chi_square_rejects_wrong_probabilities():
    # The same test must fail for a sampler that ignores the weights: it can fail.
    n = 20_000
    g = torch.Generator().manual_seed(0)
    uniform = torch.randint(4, (n,), generator=g)
    counts = torch.bincount(uniform, minlength=4).double()
    expected = n * torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.double)
    assert ((counts - expected) ** 2 / expected).sum().item() > 16.27


def test_hard_glimpse_argmax_and_generator_reproducibility():
    features = torch.randn(3, 5, 2)
    weights = torch.softmax(torch.randn(3, 5), dim=-1)
    z, i = hard_glimpse(features, weights, mode="argmax")
    assert torch.equal(i, weights.argmax(-1))
    assert torch.equal(z, features[torch.arange(3), i])
    a = hard_glimpse(features, weights, generator=torch.Generator().manual_seed(7))[1]
    b = hard_glimpse(features, weights, generator=torch.Generator().manual_seed(7))[1]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="mode"):
        hard_glimpse(features, weights, mode="mean")


def test_hard_glimpse_is_stochastic_without_a_fixed_seed():
    features = torch.randn(200, 4, 2)
    weights = torch.full((200, 4), 0.25)
    torch.manual_seed(0)
    first = hard_glimpse(features, weights)[1]
    second = hard_glimpse(features, weights)[1]
    assert not torch.equal(first, second)


# ----------------------------------------------------------------------------------------------
# SoftAttention and HardAttention modules
# ----------------------------------------------------------------------------------------------
def _inputs(B=2, L=5, H=4, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, generator=g), torch.randn(B, L, D, generator=g)


def test_soft_attention_additive_is_the_attention_unit():
    torch.manual_seed(0)
    att = SoftAttention(query_size=4, feature_size=3, score="additive", hidden_size=6)
    assert isinstance(att.score, AdditiveScore)
    c, y = torch.randn(2, 4), torch.randn(2, 5, 3)
    out = att(c, y)
    assert isinstance(out, Glimpse)
    # with y the regions a_i and c the query h_{t-1}: m_i = tanh(W_a a_i + W_h h_{t-1}), e_i = v·m_i, α = softmax(e), z = Σ α_i a_i
    m = torch.tanh(y @ att.score.W_k.weight.T + (c @ att.score.W_q.weight.T).unsqueeze(1))
    s = torch.softmax(m @ att.score.v.weight.squeeze(0), dim=-1)
    assert torch.allclose(out.weights, s, atol=1e-6)
    assert torch.allclose(out.glimpse, (s.unsqueeze(-1) * y).sum(1), atol=1e-6)
    assert out.index is None and out.log_prob is None
    # projecting the features once gives the same answer
    again = att(c, y, projected=att.project(y))
    assert torch.allclose(again.glimpse, out.glimpse)


def test_soft_attention_dot_score_and_determinism():
    c, y = _inputs()
    att = SoftAttention(4, 4, score="dot")
    out = att(c, y)
    s = torch.softmax((y * c.unsqueeze(1)).sum(-1), dim=-1)
    assert torch.allclose(out.weights, s, atol=1e-6)
    assert torch.equal(att(c, y).glimpse, out.glimpse)  # deterministic
    with pytest.raises(ValueError, match="dot"):
        SoftAttention(4, 3, score="dot")
    with pytest.raises(ValueError, match="score"):
        SoftAttention(4, 4, score="cosine")


def test_hard_attention_modes_log_prob_and_entropy():
    torch.manual_seed(0)
    att = HardAttention(4, 4, score="additive", hidden_size=8)
    c, y = _inputs(B=3)
    out = att(c, y, mode="argmax")
    assert torch.equal(out.index, out.weights.argmax(-1))
    assert torch.equal(out.glimpse, y[torch.arange(3), out.index])
    assert torch.allclose(out.log_prob, out.weights.gather(1, out.index[:, None]).squeeze(1).log())
    expected_entropy = -(out.weights * out.weights.log()).sum(-1)
    assert torch.allclose(out.entropy, expected_entropy, atol=1e-6)
    assert att.mode == "sample"
    sampled = att(c, y, generator=torch.Generator().manual_seed(1))
    assert sampled.index.shape == (3,)
    assert torch.equal(sampled.glimpse, y[torch.arange(3), sampled.index])
    with pytest.raises(ValueError, match="mode"):
        HardAttention(4, 4, mode="soft")


def test_hard_attention_gradients_reach_scores_only_through_log_prob():
    torch.manual_seed(0)
    att = HardAttention(4, 4, hidden_size=8)
    c, y = _inputs()
    y.requires_grad_(True)
    out = att(c, y)
    out.glimpse.sum().backward()  # z = a_i (a row of y): no path to the score's parameters
    assert all(p.grad is None for p in att.parameters())
    assert y.grad is not None and y.grad.abs().sum() > 0
    att(c, y).log_prob.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in att.parameters())


def test_hard_attention_expected_glimpse_half_the_time_in_training():
    torch.manual_seed(0)
    c, y = _inputs(B=400)
    att = HardAttention(4, 4, hidden_size=8, expected_prob=0.5)
    out = att(c, y)
    soft = soft_glimpse(y, out.weights)
    hard = y[torch.arange(400), out.index]
    is_soft = torch.isclose(out.glimpse, soft).all(-1) & ~torch.isclose(out.glimpse, hard).all(-1)
    assert 150 < int(is_soft.sum()) < 250  # about half
    assert (out.log_prob[is_soft] == 0).all() and (out.log_prob[~is_soft] < 0).all()
    att.eval()  # evaluation: always a real sample
    out = att(c, y)
    assert torch.equal(out.glimpse, y[torch.arange(400), out.index])
    always = HardAttention(4, 4, hidden_size=8, expected_prob=1.0)
    out = always(c, y)
    assert torch.allclose(out.glimpse, soft_glimpse(y, out.weights), atol=1e-6)
    with pytest.raises(ValueError, match="expected_prob"):
        HardAttention(4, 4, expected_prob=1.5)


# ----------------------------------------------------------------------------------------------
# REINFORCE: the surrogate loss, its expectation, and the baseline
# ----------------------------------------------------------------------------------------------
def _exact_expected_gradient(theta, rewards, baseline, entropy_weight):
    """Enumerate all actions: E_a[∇ surrogate] = Σ_a p(a) ∇ surrogate(a)."""
    probs = torch.softmax(theta, 0).detach()
    total = torch.zeros_like(theta)
    for a in range(len(rewards)):
        t = theta.detach().clone().requires_grad_(True)
        logp = torch.log_softmax(t, 0)
        entropy = -(logp.exp() * logp).sum()
        loss = reinforce_loss(logp[a].view(1), rewards[a].view(1), baseline,
                              entropy.view(1), entropy_weight)
        (g,) = torch.autograd.grad(loss, t)
        total += probs[a] * g
    return total


@pytest.mark.parametrize("baseline", [0.0, 1.7, -3.0])
def test_reinforce_gradient_matches_its_expectation_exactly(baseline):
    theta = torch.tensor([0.3, -1.0, 0.8, 0.1], dtype=torch.double)
    rewards = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.double)
    expected_estimate = _exact_expected_gradient(theta, rewards, baseline, entropy_weight=0.0)
    # ∇ of the true objective J(θ) = Σ_a p_θ(a) r(a); the loss is -J, so compare with -∇J
    t = theta.clone().requires_grad_(True)
    (true_grad,) = torch.autograd.grad(-(torch.softmax(t, 0) * rewards).sum(), t)
    assert torch.allclose(expected_estimate, true_grad, atol=1e-12)


def test_reinforce_entropy_bonus_adds_the_entropy_gradient():
    theta = torch.tensor([0.3, -1.0, 0.8], dtype=torch.double)
    rewards = torch.tensor([1.0, -2.0, 0.5], dtype=torch.double)
    got = _exact_expected_gradient(theta, rewards, 0.5, entropy_weight=0.2)
    t = theta.clone().requires_grad_(True)
    p = torch.softmax(t, 0)
    objective = (p * rewards).sum() + 0.2 * -(p * p.log()).sum()
    (true_grad,) = torch.autograd.grad(-objective, t)
    assert torch.allclose(got, true_grad, atol=1e-12)


def test_reinforce_loss_value_and_detached_reward():
    log_prob = torch.tensor([-0.5, -1.0, -2.0], requires_grad=True)
    reward = torch.tensor([1.0, 2.0, -1.0], requires_grad=True)
    baseline = torch.tensor(0.5, requires_grad=True)
    loss = reinforce_loss(log_prob, reward, baseline)
    # -mean((r - b) log π) = -((0.5·-0.5) + (1.5·-1) + (-1.5·-2)) / 3
    assert math.isclose(loss.item(), -(-0.25 - 1.5 + 3.0) / 3, rel_tol=1e-6)
    loss.backward()
    assert torch.allclose(log_prob.grad, -(reward - baseline).detach() / 3)
    assert reward.grad is None and baseline.grad is None  # the reward is a constant


def test_reinforce_loss_shapes_checked():
    with pytest.raises(ValueError, match="reward"):
        reinforce_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="entropy"):
        reinforce_loss(torch.zeros(3), torch.zeros(3), entropy=torch.zeros(2), entropy_weight=0.1)


def test_baseline_reduces_variance_without_changing_the_mean():
    # Monte Carlo, fixed seed: same mean, smaller spread with b ≈ E[r].
    theta = torch.tensor([0.2, -0.4, 0.9], requires_grad=True)
    rewards = torch.tensor([-1.0, -1.5, -0.8])  # log-likelihoods: all negative
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(theta, 0)
    estimates = {0.0: [], float((p.detach() * rewards).sum()): []}
    for _ in range(2000):
        a = torch.multinomial(p.detach(), 1, generator=g)
        for b, store in estimates.items():
            loss = reinforce_loss(torch.log_softmax(theta, 0)[a], rewards[a], b)
            store.append(torch.autograd.grad(loss, theta)[0])
    (plain, with_b) = (torch.stack(v) for v in estimates.values())
    assert torch.allclose(plain.mean(0), with_b.mean(0), atol=0.05)
    assert with_b.var(0).sum() < 0.2 * plain.var(0).sum()


def test_moving_average_baseline():
    baseline = MovingAverageBaseline(momentum=0.9)
    assert baseline.value is None
    first = baseline(torch.tensor([-2.0, -1.0]))
    assert torch.equal(first, torch.tensor([-2.0, -1.0]))  # the first batch is its own baseline
    second = baseline(torch.tensor([0.0, 0.0]))
    assert torch.equal(second, torch.tensor([-2.0, -1.0]))  # used before folding the batch in
    assert torch.allclose(baseline.value, torch.tensor([-1.8, -0.9]))  # 0.9 b + 0.1 r
    assert not baseline.value.requires_grad
    with pytest.raises(ValueError, match="momentum"):
        MovingAverageBaseline(momentum=1.0)
