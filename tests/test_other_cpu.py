"""Another CPU on this one: PyTorch's kernels of a narrower vector width (``ATEN_CPU_CAPABILITY``).

A learner's CPU may lack AVX-512 (or AVX2) and then PyTorch runs other kernels, which round the
last bits of sums, ``exp``, matrix products and even ``torch.randn`` differently. Nothing in the
course may depend on those bits. Here every checker is run, in a subprocess per capability this
machine offers, with a right answer computed by that capability's kernels:

* its visible cases must pass against the expected values stored by the recording CPU;
* its record (visible and hidden cases) must pass the judge in this process, which rebuilds the
  inputs with this CPU's own kernels (so the inputs differ in their last bits too);
* and the stored values must sit well inside the checkers' tolerance (``core.ATOL``/``core.RTOL``).

The first test proves that the emulation really changes the numbers, so none of this passes by
doing nothing. The numeric unit tests of ``utils`` run once more under the other capability at the
end. The notebooks' claims run under it when nbval runs the learner workbooks (``chapters/``, see the root
``conftest.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from grading.judge import judge
from utils.checks.submit import CHECKS
from utils.device import CAPABILITY_ENV, native_capability, other_capability

pytestmark = pytest.mark.slow(seconds=45)   # each test starts Python processes under other kernels

ROOT = Path(__file__).resolve().parent.parent
NARROWER = {"avx512": ["avx2", "default"], "avx2": ["default"], "default": []}[native_capability()]


def environment(capability: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != CAPABILITY_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    if capability:
        env[CAPABILITY_ENV] = capability
    return env


@cache
def worker(capability: str | None) -> dict:
    """What ``tests/other_cpu_worker.py`` reports under ``capability`` (None: this CPU's own)."""
    out = subprocess.run([sys.executable, "-m", "tests.other_cpu_worker"], cwd=ROOT, env=environment(capability),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_this_machine_can_emulate_another_cpu():
    if not NARROWER:
        pytest.skip("this CPU has no vector kernels to leave out")
    assert other_capability() == NARROWER[0]


@pytest.mark.parametrize("capability", NARROWER)
def test_the_emulation_really_changes_the_numbers(capability):
    native, other = worker(None), worker(capability)
    assert other["capability"] == capability.upper()
    assert native["capability"] == native_capability().upper()
    assert other["digest"] != native["digest"], "ATEN_CPU_CAPABILITY changed no number: the emulation does nothing"


@pytest.mark.parametrize("capability", [None, *NARROWER], ids=lambda c: c or "native")
def test_a_right_answer_passes_every_visible_case_on_every_cpu(capability):
    verdicts = worker(capability)["visible"]
    assert set(verdicts) == set(CHECKS)
    failed = {name: message for name, message in verdicts.items() if not message.startswith("✅")}
    assert not failed, failed


@pytest.mark.parametrize("capability", [None, *NARROWER], ids=lambda c: c or "native")
def test_a_right_answer_recorded_on_another_cpu_passes_the_judge_here(capability):
    records = worker(capability)["records"]
    verdicts = {name: judge(records[name], name) for name in CHECKS}
    failed = {name: v.message for name, v in verdicts.items() if not v.passed}
    assert not failed, failed


@pytest.mark.parametrize("capability", NARROWER)
def test_the_recorded_inputs_do_differ_in_their_last_bits(capability):
    """The judge's tolerance on inputs is exercised: some inputs built under the other kernels are
    not bit-identical to this CPU's (``torch.randn`` itself rounds differently)."""
    def summaries(records):
        return [call["fp"]["approx"] for name in sorted(records) for calls in records[name]["calls"] if calls
                for call in calls]
    here, there = summaries(worker(None)["records"]), summaries(worker(capability)["records"])
    assert len(here) == len(there)
    assert sum(a != b for a, b in zip(here, there)) > 0


@pytest.mark.parametrize("capability", [None, *NARROWER], ids=lambda c: c or "native")
def test_the_stored_values_sit_well_inside_the_tolerance(capability):
    report = worker(capability)
    assert report["tolerance_used"] < 0.5, (f"{report['tolerance_used']:.2f} of the tolerance used on "
                                            f"{report['tolerance_used_where']}")


# The unit tests that compute numbers (not the notebooks, the book or the grader's end-to-end runs),
# once more with the other CPU's kernels.
NUMERIC_TESTS = ["test_attention.py", "test_bahdanau.py", "test_beam.py", "test_captioning.py",
                 "test_check_hints.py", "test_checks_attention.py", "test_checks_bahdanau.py",
                 "test_checks_transformer.py", "test_checks_efficient_attention.py", "test_no_silent_results.py",
                 "test_checks_glimpse.py", "test_checks_luong.py", "test_checks_self_attention.py",
                 "test_checks_seq2seq.py", "test_glimpse.py", "test_judge.py", "test_local_attention.py", "test_luong.py",
                 "test_self_attention_models.py", "test_seq2seq.py", "test_length_experiment.py",
                 "test_diagnostics.py", "test_training.py",
                 "test_transformer.py", "test_validation.py", "test_validation_properties.py",
                 "test_efficient_attention.py", "test_linear_attention.py", "test_grouped_query.py"]


def test_the_numeric_unit_tests_pass_with_another_cpus_kernels():
    if not NARROWER:
        pytest.skip("this CPU has no vector kernels to leave out")
    files = [str(ROOT / "tests" / name) for name in NUMERIC_TESTS if (ROOT / "tests" / name).exists()]
    files += [str(p) for p in sorted((ROOT / "tests").glob("test_transformer_*.py"))]
    assert len(files) >= len(NUMERIC_TESTS)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *files],
                         cwd=ROOT, env=environment(NARROWER[0]), capture_output=True, text=True, timeout=1200)
    tail = "\n".join(out.stdout.strip().splitlines()[-15:])
    assert out.returncode == 0, f"under {CAPABILITY_ENV}={NARROWER[0]}:\n{tail}"
    assert " passed" in tail and " failed" not in tail
