"""Checkers for chapter 3 (soft and hard attention over image regions).

Each takes the learner's function, prints a one-line verdict and returns a
:class:`~utils.checks.core.CheckResult`. Visible inputs come from fixed generators; the check of
a sampled glimpse seeds PyTorch inside ``torch.random.fork_rng``, so its verdict is the same on
every run and the notebook's own random numbers are left untouched. Hidden inputs
(``hidden=True``), the sampler's chi-square probe included, draw their values and shapes from
:func:`~utils.checks.hidden.hidden_generator`, which a grading run seeds afresh.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.checks.core import Case, CheckResult, run_check
from utils.checks.hidden import draw_size, hidden_generator

__all__ = ["check_soft_glimpse", "check_hard_glimpse", "check_reinforce_surrogate",
           "CHI2_CRITICAL", "CHI2_CRITICAL_HIDDEN"]

# 0.999 quantiles of chi-square with k - 1 degrees of freedom, for k = 2 … 6 regions: the visible
# probe's test (its draws are seeded, so an honest sampler gets the same verdict on every run)
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}
# 1 - 1e-6 quantiles, for the hidden probe: its weights change with every grading run, so an honest
# sampler meets a new test each time, and alpha = 1e-6 makes it fail about once in a million runs.
# A wrong sampler still fails by far: the probe's probabilities are clearly unequal, and sampling
# uniformly from them gives a chi-square in the hundreds over 3,000 draws.
CHI2_CRITICAL_HIDDEN = {1: 23.93, 2: 27.63, 3: 30.66, 4: 33.38, 5: 35.89}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _plain_mean(features, weights):
    return features.mean(dim=1)  # every region counts the same: the weights are ignored


def check_soft_glimpse(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(features (B, L, D), weights (B, L)) -> glimpse (B, D)``, ``z = Σ_i α_i a_i``."""
    g = _gen(0)
    one_hot = torch.zeros(2, 4)
    one_hot[0, 1] = one_hot[1, 3] = 1.0
    cases = [
        Case("one image, three regions, by hand",
             (torch.tensor([[[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]]), torch.tensor([[0.5, 0.25, 0.25]])),
             expected=torch.tensor([[1.5, 1.5]])),
        Case("all the weight on one region (the glimpse is that region)",
             (torch.randn(2, 4, 3, generator=g), one_hot)),
        Case("a batch of 3 images, 6 regions, 5 features",
             (torch.randn(3, 6, 5, generator=g), torch.softmax(torch.randn(3, 6, generator=g), -1))),
        Case("one region only", (torch.randn(2, 1, 4, generator=g), torch.ones(2, 1))),
    ]
    if hidden:
        h = hidden_generator("soft_glimpse")
        B, L, D = draw_size(h, 1, 6), draw_size(h, 2, 12), draw_size(h, 1, 6)
        cases += [Case(f"hidden: B={B} images, L={L} regions, D={D} features",
                       (torch.randn(B, L, D, generator=h), torch.softmax(torch.randn(B, L, generator=h), -1)))]
    p = _gen(200)
    probe = (torch.randn(2, 5, 3, generator=p), torch.softmax(torch.randn(2, 5, generator=p) * 2, -1))
    hints = [
        ("hint: this is the plain mean of the regions, which ignores the weights; weight each region "
         "by its α_i: z = Σ_i α_i a_i, (weights.unsqueeze(-1) * features).sum(dim=1)", probe, _plain_mean),
    ]
    return run_check("soft_glimpse", fn, cases, verbose=verbose, hints=hints)


# A sampling probe: (probs (L,), region vectors (L, D), draws n, critical chi-square value)
Probe = tuple[torch.Tensor, torch.Tensor, int, float]


def _visible_probe() -> Probe:
    """The probe of a learner's own check: 4,000 draws from 0.1, 0.2, 0.3, 0.4."""
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    L = len(probs)
    # region i's vector is (i, -i): the glimpse tells which region was taken
    regions = torch.stack([torch.arange(L, dtype=torch.float), -torch.arange(L, dtype=torch.float)], dim=1)
    return probs, regions, 4000, CHI2_CRITICAL[L - 1]


def _hidden_probe(h: torch.Generator) -> Probe:
    """A probe drawn for the grading run, so that no sampler can recognise it: 3 to 6 regions with
    clearly unequal probabilities (levels 1 … L, jittered, in a drawn order: each at least 1/25),
    random region vectors of 1 to 3 features, 3,000 to 4,500 draws."""
    L, D, n = draw_size(h, 3, 6), draw_size(h, 1, 3), draw_size(h, 3000, 4500)
    levels = torch.arange(1, L + 1, dtype=torch.float64) + 0.5 * torch.rand(L, generator=h, dtype=torch.float64)
    probs = (levels / levels.sum())[torch.randperm(L, generator=h)].float()        # (L,)
    return probs, torch.randn(L, D, generator=h), n, CHI2_CRITICAL_HIDDEN[L - 1]


def _sampling_problem(fn: Callable, probs: torch.Tensor, regions: torch.Tensor, n: int,
                      critical: float) -> str | None:
    """Sample ``n`` glimpses, every image with the weights ``probs`` (L,) over the regions
    ``regions`` (L, D), and test the frequencies (chi-square, rejected above ``critical``)."""
    L, D = regions.shape
    features = regions.expand(n, L, D).clone()   # (n, L, D)
    weights = probs.expand(n, L).clone()         # (n, L)
    torch.manual_seed(0)
    with torch.no_grad():
        glimpse, index = fn(features, weights)
        _, index_again = fn(features, weights)
    if not isinstance(index, torch.Tensor) or index.shape != (n,):
        shape = tuple(index.shape) if isinstance(index, torch.Tensor) else type(index).__name__
        return f"index should have shape ({n},) for {n} images but has {shape}"
    index = index.long()
    if index.min() < 0 or index.max() >= L:
        return f"index holds {int(index.min())}..{int(index.max())} but there are only {L} regions"
    if not isinstance(glimpse, torch.Tensor) or glimpse.shape != (n, D):
        return "glimpse should have shape (B, D), one region vector per image"
    if not torch.equal(glimpse, features[torch.arange(n), index]):
        return "the glimpse is not the vector of the region in index: use z = a_i for the sampled i"
    counts = torch.bincount(index, minlength=L).double()
    expected = n * probs.double()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    if chi2 > critical:
        seen = ", ".join(f"{c / n:.0%}" for c in counts.tolist())
        want = ", ".join(f"{p:.0%}" for p in probs.tolist())
        return (f"the regions picked do not follow the weights: over {n} draws they were "
                f"taken {seen} of the time, expected about {want}")
    if torch.equal(index, index_again.long()):
        return "two calls picked exactly the same regions: is the choice random?"
    return None


def check_hard_glimpse(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(features (B, L, D), weights (B, L)) -> (glimpse (B, D), index (B,))``.

    ``index`` must be drawn from ``Categorical(weights)`` row by row and ``glimpse`` must be
    the vector of that region. Certain cases (one-hot weights) are compared exactly; then a
    chi-square test on 4,000 draws checks the frequencies (with ``hidden``, on a probe drawn for the
    grading run instead, see :func:`_hidden_probe`).
    """
    g = _gen(1)
    features = torch.randn(3, 5, 4, generator=g)
    one_hot = torch.zeros(3, 5)
    one_hot[0, 2] = one_hot[1, 0] = one_hot[2, 4] = 1.0
    cases = [
        Case("weights all on one region (no randomness left)", (features, one_hot),
             expected=(features[torch.arange(3), torch.tensor([2, 0, 4])], torch.tensor([2, 0, 4]))),
        Case("one region only", (features[:, :1], torch.ones(3, 1)),
             expected=(features[:, 0], torch.zeros(3, dtype=torch.long))),
    ]
    probe = _visible_probe()
    if hidden:
        h = hidden_generator("hard_glimpse")
        B, L, D = draw_size(h, 2, 6), draw_size(h, 2, 10), draw_size(h, 1, 4)
        wide = torch.randn(B, L, D, generator=h)
        picks = torch.randint(0, L, (B,), generator=h)
        picks[draw_size(h, 0, B - 1)] = L - 1    # the last region too (an off-by-one never picks it)
        cases += [Case(f"hidden: one-hot weights over {L} regions (B={B}, D={D})",
                       (wide, torch.nn.functional.one_hot(picks, L).float()),
                       expected=(wide[torch.arange(B), picks], picks))]
        probe = _hidden_probe(h)
    with torch.random.fork_rng(devices=[]):  # the learner's draws leave the notebook's alone
        torch.manual_seed(0)
        return run_check("hard_glimpse", fn, cases, verbose=verbose,
                         extra=lambda candidate: _sampling_problem(candidate, *probe))


def _gradient_problem(fn: Callable) -> str | None:
    """The gradient must be -(r - b)/N for log π and nothing for the reward or the baseline."""
    g = _gen(3)
    log_prob = (-torch.rand(4, 3, generator=g) * 2).requires_grad_(True)
    reward = (-torch.rand(4, 3, generator=g) * 3).requires_grad_(True)
    baseline = torch.tensor([-1.0, -1.5, -0.5], requires_grad=True)
    loss = fn(log_prob, reward, baseline)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        return "the loss should be a single number (a 0-dimensional tensor): take the mean"
    if not loss.requires_grad:
        return "the loss has no gradient: build it from log_prob with torch operations"
    loss.backward()
    if reward.grad is not None and reward.grad.abs().sum() > 0:
        return "gradient flows into the reward: treat r - b as a constant (.detach() it)"
    if baseline.grad is not None and baseline.grad.abs().sum() > 0:
        return "gradient flows into the baseline: treat r - b as a constant (.detach() it)"
    expected = -(reward - baseline).detach() / reward.numel()
    if log_prob.grad is None or not torch.allclose(log_prob.grad, expected, atol=1e-6):
        return "the gradient with respect to log_prob should be -(r - b) / N"
    return None


def _sign_lost(log_prob, reward, baseline):
    return ((reward - baseline).detach() * log_prob).mean()  # the surrogate itself, not minus it


def _baseline_ignored(log_prob, reward, baseline):
    return -(reward.detach() * log_prob).mean()


def _baseline_added(log_prob, reward, baseline):
    return -((reward + baseline).detach() * log_prob).mean()


def _summed(log_prob, reward, baseline):
    return -((reward - baseline).detach() * log_prob).sum()


def check_reinforce_surrogate(fn: Callable, verbose: bool = True, hidden: bool = False) -> CheckResult:
    """Check ``fn(log_prob, reward, baseline) -> loss``, ``loss = -mean[(r - b) · log π]``."""
    g = _gen(2)
    lp, r = -torch.rand(8, 3, generator=g) * 2, -torch.rand(8, 3, generator=g) * 3
    cases = [
        Case("three actions, no baseline (b = 0)",
             (torch.tensor([-0.5, -1.0, -2.0]), torch.tensor([1.0, 2.0, -1.0]), 0.0),
             expected=torch.tensor(-(-0.5 - 2.0 + 2.0) / 3)),
        Case("a number as baseline", (torch.tensor([-0.5, -1.0, -2.0]),
                                      torch.tensor([1.0, 2.0, -1.0]), 0.5)),
        Case("a batch of captions, one baseline per step (B, T) and (T,)",
             (lp, r, torch.tensor([-1.0, -1.5, -0.5]))),
    ]
    if hidden:
        h = hidden_generator("reinforce_surrogate")
        B, T = draw_size(h, 2, 8), draw_size(h, 1, 5)
        cases += [Case(f"hidden: a batch of {B}, one baseline per step ({B}, {T}) and ({T},)",
                       (-torch.rand(B, T, generator=h) * 2, torch.randn(B, T, generator=h), torch.randn(T, generator=h)))]
    p = _gen(201)
    probe = (-torch.rand(4, 3, generator=p) * 2, torch.randn(4, 3, generator=p), torch.tensor([0.4, -0.7, 1.1]))
    hints = [
        ("hint: the minus sign is lost; the loss is minus the surrogate, -mean[(r - b) · log π], so that "
         "gradient descent on it raises the expected reward", probe, _sign_lost),
        ("hint: the baseline is ignored; subtract it from the reward: -mean[(r - b) · log π]", probe, _baseline_ignored),
        ("hint: the baseline is added; subtract it: r - b, how much better than usual the reward was", probe,
         _baseline_added),
        ("hint: this is the sum over all actions; take the mean, -mean[(r - b) · log π]", probe, _summed),
    ]
    return run_check("reinforce_surrogate", fn, cases, verbose=verbose, extra=_gradient_problem, hints=hints)
