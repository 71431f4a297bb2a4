"""The judge behind grading, without nbgrader: records made in a kernel, judged elsewhere."""

import copy
import json
import math

import pytest
import torch

from grading.judge import judge
from tools.grading import expected
from utils.checks import core
from utils.checks.record import FORMAT, Recorder, Replayer, decode, encode, fingerprint
from utils.checks.submit import CHECKS, record


def causal(query, key, value):
    T = query.shape[-2]
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    weights = torch.softmax(scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")), -1)
    return weights @ value, weights


def test_a_right_answer_passes_hidden_cases_included():
    verdict = judge(record("causal_attention", causal), "causal_attention")
    assert verdict.passed and "hidden cases included" in verdict.message


def test_a_record_of_another_exercise_fails():
    verdict = judge(record("causal_attention", causal), "masked_softmax")
    assert not verdict.passed and "grades masked_softmax" in verdict.message


def test_outputs_recorded_on_other_inputs_fail():
    rec = record("causal_attention", causal)
    forged = copy.deepcopy(rec)
    forged["calls"][0][0]["fp"] = fingerprint((torch.zeros(1),))
    verdict = judge(forged, "causal_attention")
    assert not verdict.passed and "other inputs" in verdict.message


def test_an_empty_record_fails_and_says_why():
    rec = record("causal_attention", causal)
    rec["calls"] = [[]]
    verdict = judge(rec, "causal_attention")
    assert not verdict.passed and "recorded no answer" in verdict.message


@pytest.mark.parametrize("bad", [None, 3, "x", {}, {"format": FORMAT, "check": "nope"}, {"format": FORMAT, "check": "attend", "calls": "x"},
                                 {"format": FORMAT, "check": "attend", "calls": [[{"fp": "0", "out": {"tensor": "nope"}}]]}])
def test_malformed_records_fail_without_crashing(bad):
    assert not judge(bad, None).passed


def test_the_course_implementation_is_rejected():
    from utils.attention import masked_softmax

    verdict = judge(record("masked_softmax", masked_softmax), "masked_softmax")
    assert not verdict.passed and "course's own implementation" in verdict.message
    answer = "import utils.attention as A\ndef masked_softmax(s, m=None):\n    return A.masked_softmax(s, m)\n"
    verdict = judge(record("masked_softmax", lambda s, m=None: torch.softmax(s, -1)), "masked_softmax", {"answer": answer})
    assert not verdict.passed and "course's own implementation" in verdict.message


def test_encode_decode_round_trip():
    values = (torch.randn(2, 3), torch.tensor([1, 2]), torch.zeros(0, 4), torch.tensor(True),
              torch.randn(2, dtype=torch.float64), [1.5, float("nan"), None, "s"], 7)
    back = decode(encode(values))
    assert all(torch.equal(a, b) for a, b in zip(values[:5], back[:5]))
    assert back[5][0] == 1.5 and math.isnan(back[5][1]) and back[5][2:] == [None, "s"] and back[6] == 7


def test_replay_gives_back_gradients_and_in_place_changes():
    def loss_fn(log_prob, reward):
        reward.mul_(2)                       # an in-place change the checker must see
        return -(reward.detach() * log_prob).mean()

    rec = Recorder(loss_fn)
    lp = torch.tensor([-0.5, -1.0], requires_grad=True)
    r = torch.tensor([1.0, 3.0])
    out = rec(lp, r.clone())
    replay = Replayer(rec.calls)
    lp2, r2 = torch.tensor([-0.5, -1.0], requires_grad=True), torch.tensor([1.0, 3.0])
    out2 = replay(lp2, r2)
    out2.backward()
    assert torch.equal(out.detach(), out2.detach()) and torch.equal(r2, torch.tensor([2.0, 6.0]))
    assert torch.allclose(lp2.grad, torch.tensor([-1.0, -3.0]))


def test_every_exercise_has_a_check_and_a_reference():
    from grading.references import REFERENCES

    assert len(CHECKS) == 25
    names = set(REFERENCES) | {"hard_glimpse"}          # its cases carry their own answers
    assert names >= set(CHECKS) - {"split_merge_heads"} and {"split_heads", "merge_heads"} <= names


def stored_expected_differences(path) -> list[str]:
    """Where the expected values in ``path`` differ from the stored ones: checks and case names
    exactly, values at the checkers' own tolerance (``core.ATOL``/``core.RTOL``), never bit for bit,
    since another CPU's kernels round the last bits differently."""
    fresh, stored = (json.loads(p.read_text()) for p in (path, core.STORE_PATH))
    problems = []
    if fresh.keys() != stored.keys():
        problems.append(f"checks differ: {sorted(fresh.keys() ^ stored.keys())}")
    for check in fresh.keys() & stored.keys():
        if fresh[check].keys() != stored[check].keys():
            problems.append(f"{check}: cases differ: {sorted(fresh[check].keys() ^ stored[check].keys())}")
        for case in fresh[check].keys() & stored[check].keys():
            problem = core.compare_outputs(decode(fresh[check][case]), decode(stored[check][case]))
            if problem:
                problems.append(f"{check}, {case!r}: {problem}")
    return problems


def test_the_stored_expected_values_are_the_references_answers(tmp_path, monkeypatch):
    stored_path = core.STORE_PATH
    monkeypatch.setattr(core, "STORE_PATH", tmp_path / "expected.json")
    fresh = expected()
    monkeypatch.setattr(core, "STORE_PATH", stored_path)
    problems = stored_expected_differences(fresh)
    assert not problems, "run: python tools/grading.py expected\n" + "\n".join(problems)


def test_the_comparison_of_expected_values_can_fail(tmp_path):
    stored = json.loads(core.STORE_PATH.read_text())
    check = sorted(stored)[0]
    case = sorted(stored[check])[0]
    value = decode(stored[check][case])
    first = value[0] if isinstance(value, tuple) else value
    first.view(-1)[0] += 0.01                       # a real change, far beyond rounding
    stored[check][case] = encode(value)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(stored))
    problems = stored_expected_differences(changed)
    assert len(problems) == 1 and check in problems[0] and "differs at index" in problems[0]


def test_fingerprints_forgive_rounding_and_nothing_else():
    from utils.checks.record import same_inputs

    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Linear(5, 3)
    fp = fingerprint((x, 3, model), {"mask": x > 0})
    nudged = x * (1 + 2e-7 * torch.randn(4, 5))             # another CPU's last bits
    assert same_inputs(fp, fingerprint((nudged, 3, model), {"mask": x > 0}))
    assert same_inputs(json.loads(json.dumps(fp)), fp)      # survives the trip through JSON
    other = [(x + 1e-3, 3, model), (x.flip(1), 3, model), (x, 4, model), (x.double(), 3, model),
             (x[:3], 3, model), (x.masked_fill(x > 1, float("nan")), 3, model)]
    for args in other:
        assert not same_inputs(fp, fingerprint(args, {"mask": x > 0})), args
    assert not same_inputs(fp, fingerprint((x, 3, model), {"mask": x > 0.5}))
    with torch.no_grad():
        model.weight[0, 0] += 1e-3
    assert not same_inputs(fp, fingerprint((x, 3, model), {"mask": x > 0}))
    for forged in (None, "0", {"exact": fp["exact"]}, {"exact": fp["exact"], "approx": [["a"]]},
                   {"exact": fp["exact"], "approx": [[float("nan")] * 4] * len(fp["approx"])}):
        assert not same_inputs(forged, fp)
