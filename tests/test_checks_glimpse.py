"""The chapter-3 checkers pass right answers and fail wrong ones, with a useful message."""

import pytest
import torch

from tests.conftest import ours
from utils.checks.glimpse import check_hard_glimpse, check_reinforce_surrogate, check_soft_glimpse
from utils.glimpse import hard_glimpse as _hard_glimpse
from utils.glimpse import reinforce_loss as _reinforce_loss
from utils.glimpse import soft_glimpse as _soft_glimpse

hard_glimpse, reinforce_loss, soft_glimpse = ours(_hard_glimpse), ours(_reinforce_loss), ours(_soft_glimpse)


def _verdict(check, fn):
    result = check(fn, verbose=False)
    return result.passed, result.status, result.message


# ----------------------------------------------------------------------------------------------
# soft_glimpse
# ----------------------------------------------------------------------------------------------
def test_soft_glimpse_accepts_correct_versions():
    for fn in [soft_glimpse, lambda y, s: (s.unsqueeze(-1) * y).sum(dim=1),
               lambda y, s: torch.einsum("bl,bld->bd", s, y)]:
        result = check_soft_glimpse(fn, verbose=False)
        assert result.passed and "hint:" not in result.message, result.message


def test_soft_glimpse_names_the_plain_mean():
    def soft_glimpse_mean(features, weights):
        return features.mean(dim=1)  # every region counts the same

    result = check_soft_glimpse(soft_glimpse_mean, verbose=False)
    assert result.status == "failed" and "hint: this is the plain mean" in result.message, result.message


def test_soft_glimpse_rejects_wrong_versions():
    def not_implemented(y, s):
        raise NotImplementedError()

    def mutates(y, s):
        y.mul_(s.unsqueeze(-1))
        return y.sum(1)

    def raises(y, s):
        return (s * y).sum(dim=1)  # (B, L) * (B, L, D) does not broadcast: forgot unsqueeze

    wrong = {
        "not-implemented": not_implemented,
        "mean": lambda y, s: y.mean(dim=1),  # ignores the weights
        "keepdim": lambda y, s: (s.unsqueeze(-1) * y).sum(dim=1, keepdim=True),  # (B, 1, D)
        "sum over features": lambda y, s: (s.unsqueeze(-1) * y).sum(dim=2),
        "nan": lambda y, s: (s.unsqueeze(-1) * y).sum(1) * float("nan"),
        "mutates": mutates,
        "raises": raises,
    }
    for name, fn in wrong.items():
        passed, status, message = _verdict(check_soft_glimpse, fn)
        assert not passed, name
        assert status == ("not-implemented" if name == "not-implemented" else "failed"), name
    assert "shape" in _verdict(check_soft_glimpse, wrong["keepdim"])[2]
    assert "NaN" in _verdict(check_soft_glimpse, wrong["nan"])[2]
    assert "in place" in _verdict(check_soft_glimpse, wrong["mutates"])[2]
    assert "raised" in _verdict(check_soft_glimpse, wrong["raises"])[2]


# ----------------------------------------------------------------------------------------------
# hard_glimpse
# ----------------------------------------------------------------------------------------------
def test_hard_glimpse_accepts_correct_versions():
    assert check_hard_glimpse(hard_glimpse, verbose=False)

    def with_categorical(y, s):
        i = torch.distributions.Categorical(probs=s).sample()
        return y[torch.arange(len(y)), i], i

    def inverse_cdf(y, s):  # draw u ~ U(0, 1) and find where it falls in the cumulative sum
        u = torch.rand(s.shape[0], 1)
        i = (s.cumsum(-1) < u).sum(-1).clamp(max=s.shape[1] - 1)
        return y.gather(1, i.view(-1, 1, 1).expand(-1, 1, y.shape[2])).squeeze(1), i

    assert check_hard_glimpse(with_categorical, verbose=False)
    assert check_hard_glimpse(inverse_cdf, verbose=False)


def test_hard_glimpse_rejects_wrong_versions():
    def argmax(y, s):
        i = s.argmax(-1)
        return y[torch.arange(len(y)), i], i

    def uniform(y, s):
        i = torch.randint(s.shape[1], (s.shape[0],))
        return y[torch.arange(len(y)), i], i

    def soft_not_hard(y, s):
        i = torch.multinomial(s, 1).squeeze(1)
        return soft_glimpse(y, s), i

    def one_sample_for_all(y, s):
        i = torch.multinomial(s[0], 1).expand(s.shape[0])
        return y[torch.arange(len(y)), i], i

    def keeps_dim(y, s):
        i = torch.multinomial(s, 1)  # (B, 1)
        return y[torch.arange(len(y)), i.squeeze(1)], i

    def nan(y, s):
        z, i = hard_glimpse(y, s)
        return z * float("nan"), i

    def mutates(y, s):
        s.div_(s.sum(-1, keepdim=True))
        s[:, 0] += 0.0001
        return hard_glimpse(y, s.clamp(min=0))

    def not_implemented(y, s):
        raise NotImplementedError()

    wrong = [argmax, uniform, soft_not_hard, one_sample_for_all, keeps_dim, nan, mutates,
             not_implemented]
    messages = {}
    for fn in wrong:
        passed, status, message = _verdict(check_hard_glimpse, fn)
        assert not passed, fn.__name__
        messages[fn.__name__] = message
    assert "do not follow the weights" in messages["argmax"]
    assert "differs" in messages["uniform"]  # caught by the certain cases already
    assert "z = a_i" in messages["soft_not_hard"]
    assert "shape" in messages["keeps_dim"]
    assert "NaN" in messages["nan"]
    assert "in place" in messages["mutates"]
    assert "not implemented" in messages["not_implemented"]


def test_hard_glimpse_check_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_hard_glimpse(hard_glimpse, verbose=False)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------------------------
# reinforce_surrogate
# ----------------------------------------------------------------------------------------------
def test_reinforce_surrogate_accepts_correct_versions():
    assert check_reinforce_surrogate(reinforce_loss, verbose=False)
    assert check_reinforce_surrogate(
        lambda lp, r, b: -((r - b).detach() * lp).sum() / lp.numel(), verbose=False)
    assert check_reinforce_surrogate(
        lambda lp, r, b: (-(r.detach() - b) * lp).mean() if not isinstance(b, torch.Tensor)
        else (-(r.detach() - b.detach()) * lp).mean(), verbose=False)


def test_reinforce_surrogate_right_answers_get_no_hint():
    result = check_reinforce_surrogate(reinforce_loss, verbose=False)
    assert result.passed and "hint:" not in result.message


def surrogate_sign_lost(log_prob, reward, baseline):
    advantage = (reward - baseline).detach()
    return (advantage * log_prob).mean()  # the surrogate to maximise, not the loss to minimise


def surrogate_no_baseline(log_prob, reward, baseline):
    return -(reward.detach() * log_prob).mean()


def surrogate_baseline_added(log_prob, reward, baseline):
    advantage = (reward + baseline).detach()
    return -(advantage * log_prob).mean()


def surrogate_summed(log_prob, reward, baseline):
    advantage = (reward - baseline).detach()
    return -(advantage * log_prob).sum()


@pytest.mark.parametrize("wrong,hint", [
    (surrogate_sign_lost, "hint: the minus sign is lost"),
    (surrogate_no_baseline, "hint: the baseline is ignored"),
    (surrogate_baseline_added, "hint: the baseline is added"),
    (surrogate_summed, "hint: this is the sum over all actions"),
])
def test_reinforce_surrogate_names_the_mistake(wrong, hint):
    result = check_reinforce_surrogate(wrong, verbose=False)
    assert result.status == "failed" and hint in result.message, result.message


def test_reinforce_surrogate_rejects_wrong_versions():
    wrong = {
        "plus sign": lambda lp, r, b: ((r - b).detach() * lp).mean(),
        "sum": lambda lp, r, b: -((r - b).detach() * lp).sum(),
        "no baseline": lambda lp, r, b: -(r.detach() * lp).mean(),
        "baseline added": lambda lp, r, b: -((r + b).detach() * lp).mean(),
        "not detached": lambda lp, r, b: -((r - b) * lp).mean(),
        "per element": lambda lp, r, b: -((r - b).detach() * lp),
        "reward only": lambda lp, r, b: -(r - b).mean(),
        "nan": lambda lp, r, b: -((r - b).detach() * lp).mean() * float("nan"),
    }
    messages = {}
    for name, fn in wrong.items():
        passed, status, message = _verdict(check_reinforce_surrogate, fn)
        assert not passed, name
        messages[name] = message
    assert "detach" in messages["not detached"]
    assert "shape" in messages["per element"]
    assert "NaN" in messages["nan"]

    def not_implemented(lp, r, b):
        raise NotImplementedError()

    assert _verdict(check_reinforce_surrogate, not_implemented)[1] == "not-implemented"


def test_checkers_print_one_line(capsys):
    check_soft_glimpse(soft_glimpse)
    check_hard_glimpse(hard_glimpse)
    check_reinforce_surrogate(reinforce_loss)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("✅") for line in lines)
