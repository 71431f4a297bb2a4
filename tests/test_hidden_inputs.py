"""Hidden inputs drawn at grading time (issue 27, item 3).

Learners have ``utils/checks``, so with fixed hidden inputs a table of answers for every one of them
would score full marks. Every checker's hidden cases therefore draw their values and shapes from
:func:`utils.checks.hidden.hidden_generator`, seeded from ``ATTENTION_GRADER_SEED``, which
``tools/grade.py autograde`` sets afresh for each run. Here:

* a right answer passes the hidden cases whatever the seed;
* another seed gives other hidden inputs, for every check;
* a table of the right answers for every input of the default seed (all a learner can compute)
  fails under a fresh seed, and a record made under one seed fails the judge under another;
* the hard_glimpse sampler's chi-square probe is drawn too: a sampler that recognises the default
  probe fails under a fresh seed, an honest one passes under every seed, a wrong one fails under
  every seed;
* ``tools/grade.py autograde`` runs nbgrader with a fresh seed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from grading.judge import judge
from grading.references import REFERENCES
from tests.conftest import ours
from utils.checks import core, hidden
from utils.checks.glimpse import check_hard_glimpse
from utils.checks.record import Recorder, Replayer, decode, fingerprint, same_inputs
from utils.checks.submit import CHECKS, check_by_name, record

SEEDS = [1, 2, 12345, 987654321, 2**31 - 1]
FRESH = 424242   # "a fresh seed": any other than the default


def use_seed(monkeypatch, seed: int | None) -> None:
    """Grade under ``seed`` (None: the default seed, as in a learner's copy)."""
    if seed is None:
        monkeypatch.delenv(hidden.GRADER_SEED_ENV, raising=False)
    else:
        monkeypatch.setenv(hidden.GRADER_SEED_ENV, str(seed))


def honest_sampler(features: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A right hard_glimpse that uses none of the course's code: ``(glimpse (B, D), index (B,))``."""
    index = torch.multinomial(weights, 1).squeeze(-1)                  # (B,)
    return features[torch.arange(len(index)), index], index


def correct_answers(name: str) -> list[Callable]:
    """A right answer to exercise ``name`` as a learner's function (the references, wrapped)."""
    if name == "split_merge_heads":
        return [ours(REFERENCES["split_heads"]), ours(REFERENCES["merge_heads"])]
    if name == "hard_glimpse":
        return [honest_sampler]
    if name in ("decoder_step", "luong_step"):  # the learner's function also gets the decoder
        reference = REFERENCES[name]
        return [ours(lambda decoder, *args: reference(*args))]
    return [ours(REFERENCES[name])]


def memorised(name: str, seed: int | None, monkeypatch) -> list[Callable]:
    """The lookup-table cheat: for each function of exercise ``name``, what the reference gave on
    every input the checker gives it under ``seed`` (hidden cases included; its output, and the
    gradient where the checker asks for one), looked up by the inputs' fingerprint, and an answer to
    another input (garbage) on any input it has not seen."""
    use_seed(monkeypatch, seed)
    spies = [Recorder(answer) for answer in correct_answers(name)]
    with core.use_references(REFERENCES):
        assert check_by_name(name)(*spies, verbose=False, hidden=True).passed

    def cheat_from(calls: list[dict]) -> Callable:
        def cheat(*args, **kwargs):
            fp = fingerprint(args, kwargs)
            for entry in calls:
                if same_inputs(entry["fp"], fp):
                    return Replayer([entry])(*args, **kwargs)
            return decode(calls[0]["out"])
        return cheat

    return [cheat_from(spy.calls) for spy in spies]


def fingerprints(rec: dict) -> list[dict]:
    return [call["fp"] for calls in rec["calls"] if calls for call in calls]


# ----------------------------------------------------------------------------------------------
# the source of hidden randomness
# ----------------------------------------------------------------------------------------------
def test_the_hidden_generator_follows_the_grading_seed_and_the_salt(monkeypatch):
    def draws(salt: str = "masked_softmax") -> torch.Tensor:
        return torch.randn(5, generator=hidden.hidden_generator(salt))

    use_seed(monkeypatch, None)
    default = draws()
    assert hidden.grader_seed() == hidden.DEFAULT_GRADER_SEED and torch.equal(default, draws())
    assert not torch.equal(default, draws("attend"))                   # every check its own numbers
    use_seed(monkeypatch, hidden.DEFAULT_GRADER_SEED)
    assert torch.equal(default, draws())
    use_seed(monkeypatch, FRESH)
    assert hidden.grader_seed() == FRESH and not torch.equal(default, draws())
    monkeypatch.setenv(hidden.GRADER_SEED_ENV, "twelve")
    with pytest.raises(ValueError, match=hidden.GRADER_SEED_ENV):
        hidden.hidden_generator("masked_softmax")


def test_drawn_sizes_and_lengths_stay_in_their_limits_and_keep_the_edge_cases():
    g = torch.Generator().manual_seed(0)
    sizes = {hidden.draw_size(g, 2, 4) for _ in range(200)}
    assert sizes == {2, 3, 4}
    for batch in range(2, 7):
        lengths = hidden.draw_lengths(g, batch, 9, shortest=2)
        assert lengths.shape == (batch,) and lengths.dtype == torch.int64
        assert int(lengths.min()) == 2 and int(lengths.max()) == 9       # one unpadded row, one shortest
    with pytest.raises(ValueError):
        hidden.draw_size(g, 3, 2)


# ----------------------------------------------------------------------------------------------
# (a) right answers pass the hidden cases under any seed; (b) other seeds, other hidden inputs
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CHECKS))
def test_a_right_answer_passes_the_hidden_cases_under_any_seed(name, monkeypatch):
    for seed in [None, *SEEDS]:
        use_seed(monkeypatch, seed)
        with core.use_references(REFERENCES):
            result = check_by_name(name)(*correct_answers(name), verbose=False, hidden=True)
        assert result.passed and "hint:" not in result.message, (seed, result.message)


@pytest.mark.parametrize("name", list(CHECKS))
def test_every_seed_draws_other_hidden_inputs(name, monkeypatch):
    records = []
    for seed in SEEDS:
        use_seed(monkeypatch, seed)
        records.append(fingerprints(record(name, *correct_answers(name))))
    first, second = records[:2]
    assert len(first) != len(second) or not all(same_inputs(a, b) for a, b in zip(first, second))
    # the exact part of a fingerprint holds the shapes and the whole numbers: they are drawn too
    shapes = {tuple(fp["exact"] for fp in fps) for fps in records}
    assert len(shapes) >= len(SEEDS) - 1, f"{name}: hidden shapes repeat across seeds"


# ----------------------------------------------------------------------------------------------
# (c) a table of answers for the default seed, (d) a record made under another seed
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in CHECKS if n != "hard_glimpse"])   # a sampler: see below
def test_a_table_of_answers_for_the_default_seed_fails_under_a_fresh_one(name, monkeypatch):
    cheats = memorised(name, None, monkeypatch)
    verdict = judge(record(name, *cheats), name)
    assert verdict.passed, verdict.message   # with fixed hidden inputs, this table scored full marks
    use_seed(monkeypatch, FRESH)
    verdict = judge(record(name, *cheats), name)
    assert not verdict.passed and 'on "hidden: ' in verdict.message, verdict.message


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_record_made_under_one_seed_fails_the_judge_under_another(name, monkeypatch):
    # what a right answer returns on every input of SEEDS[0], and nothing else
    answers = [honest_sampler] if name == "hard_glimpse" else memorised(name, SEEDS[0], monkeypatch)
    use_seed(monkeypatch, SEEDS[0])
    rec = record(name, *answers)
    assert judge(rec, name).passed
    use_seed(monkeypatch, SEEDS[1])
    verdict = judge(rec, name)
    assert not verdict.passed and "other inputs than the grader's" in verdict.message, verdict.message


# ----------------------------------------------------------------------------------------------
# (e) the hard_glimpse sampler's chi-square probe
# ----------------------------------------------------------------------------------------------
def test_a_sampler_that_knows_the_default_probe_fails_under_a_fresh_seed(monkeypatch):
    known: list[torch.Tensor] = []   # the probes' weights under the default seed, visible and hidden

    def spy(features, weights):
        if weights.shape[0] > 100:
            known.append(weights.clone())
        return honest_sampler(features, weights)

    use_seed(monkeypatch, None)
    assert check_hard_glimpse(spy, verbose=False).passed
    assert check_hard_glimpse(spy, verbose=False, hidden=True).passed
    assert len(known) == 4

    def fake(features, weights):
        B, L = weights.shape
        if any(w.shape == weights.shape and torch.equal(w, weights) for w in known):
            counts = (weights[0].double() * B).round().long()         # exactly the expected counts
            counts[-1] += B - counts.sum()
            index = torch.repeat_interleave(torch.arange(L), counts)[torch.randperm(B)]
        else:
            index = weights.argmax(-1)   # right on one-hot weights, and no sampler at all
        return features[torch.arange(B), index], index

    assert check_hard_glimpse(fake, verbose=False).passed
    assert judge(record("hard_glimpse", fake), "hard_glimpse").passed
    use_seed(monkeypatch, FRESH)
    verdict = judge(record("hard_glimpse", fake), "hard_glimpse")
    assert not verdict.passed and "do not follow the weights" in verdict.message, verdict.message


def test_an_honest_sampler_passes_and_a_wrong_one_fails_under_every_seed(monkeypatch):
    def squared(features, weights):
        """Right on one-hot weights, wrong elsewhere: it samples from weights² (renormalised)."""
        index = torch.multinomial(weights ** 2, 1).squeeze(-1)
        return features[torch.arange(len(index)), index], index

    for seed in range(1000, 1020):
        use_seed(monkeypatch, seed)
        verdict = judge(record("hard_glimpse", honest_sampler), "hard_glimpse")
        assert verdict.passed, (seed, verdict.message)
        verdict = judge(record("hard_glimpse", squared), "hard_glimpse")
        assert not verdict.passed and "do not follow the weights" in verdict.message, (seed, verdict.message)


# ----------------------------------------------------------------------------------------------
# the grader's side: each autograde run draws its own seed
# ----------------------------------------------------------------------------------------------
def test_autograde_runs_nbgrader_under_a_fresh_grading_seed(tmp_path, monkeypatch):
    import compileall

    import nbgrader.api

    import tools.grade as grading_tool

    class NoGradebook:
        """An empty gradebook (nbgrader's own would need its database tools)."""

        def __init__(self, url: str) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def assignment_submissions(self, assignment: str) -> list:
            return []

    # only the environment nbgrader gets is under test: leave the repository's files alone
    monkeypatch.setattr(compileall, "compile_dir", lambda *a, **k: True)
    monkeypatch.setattr(grading_tool, "trusted_files", lambda course: {})
    monkeypatch.setattr(nbgrader.api, "Gradebook", NoGradebook)
    monkeypatch.delenv(hidden.GRADER_SEED_ENV, raising=False)
    seen = tmp_path / "seen"
    fake = tmp_path / "fake-nbgrader"
    fake.write_text(f'#!/bin/sh\necho "${{{hidden.GRADER_SEED_ENV}:-unset}}" >> {seen}\n')
    fake.chmod(0o755)
    for seed in (None, None, 77):
        assert grading_tool.autograde(tmp_path, "ch02", nbgrader=str(fake), seed=seed) == ([], [])
    first, second, given = seen.read_text().split()
    assert first.isdigit() and second.isdigit() and first != second and given == "77"
