"""Run by ``tests/test_other_cpu.py`` in a subprocess, usually under ``ATEN_CPU_CAPABILITY``: what a
correct answer computed with this process's kernels gives on every checker.

Prints one JSON object: the capability PyTorch runs with; a digest of a few numbers (to prove that
the capability changes them); each checker's verdict on its visible cases against the stored
expected values; each exercise's record (visible and hidden cases) for the judge; and how much of
the checkers' tolerance the references' answers use, here, against the stored values.
"""

from __future__ import annotations

import hashlib
import json
import sys

import torch

from grading.references import REFERENCES
from tests.conftest import ours
from utils.checks import core
from utils.checks.record import decode
from utils.checks.submit import CHECKS, check_by_name, record
from utils.glimpse import hard_glimpse


def correct_answers(name: str) -> list:
    """A right answer to exercise ``name``, as a learner's function (not the course's object)."""
    if name == "split_merge_heads":
        return [ours(REFERENCES["split_heads"]), ours(REFERENCES["merge_heads"])]
    if name == "hard_glimpse":
        return [ours(hard_glimpse)]
    if name in ("decoder_step", "luong_step"):  # the learner's function also gets the decoder
        reference = REFERENCES[name]
        return [ours(lambda decoder, *args: reference(*args))]
    return [ours(REFERENCES[name])]


def digest() -> str:
    """Sums, exp, a matrix product and random normals: numbers every CPU rounds its own way."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, generator=g)
    parts = [x, x.exp(), x.view(64, 64) @ x.view(64, 64).T, x.softmax(0), x.sum()]
    return hashlib.sha256(b"".join(p.numpy().tobytes() for p in parts)).hexdigest()[:16]


def tolerance_used() -> tuple[float, str]:
    """The largest ``|fresh - stored| / (ATOL + RTOL·|stored|)`` over every visible case, and where:
    1 would be the edge of what a checker accepts."""
    with core.use_references(REFERENCES), core.capturing_expected() as fresh:
        for name in CHECKS:
            check_by_name(name)(*[lambda *a, **k: None] * (2 if name == "split_merge_heads" else 1), verbose=False)
    stored = json.loads(core.STORE_PATH.read_text())
    worst, where = 0.0, ""

    def walk(a, b, place):
        nonlocal worst, where
        if isinstance(a, (tuple, list)):
            for u, v in zip(a, b):
                walk(u, v, place)
        elif isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel():
            a64, b64 = a.detach().double(), b.double()
            finite = torch.isfinite(a64) & torch.isfinite(b64)
            ratio = (a64 - b64).abs() / (core.ATOL + core.RTOL * b64.abs())
            here = float(ratio[finite].max()) if finite.any() else 0.0
            if here > worst:
                worst, where = here, place

    for check, cases in fresh.items():
        for case, value in cases.items():
            walk(value, decode(stored[check][case]), f"{check}, {case!r}")
    return worst, where


def main() -> int:
    result = {"capability": torch.backends.cpu.get_cpu_capability(), "digest": digest(),
              "visible": {}, "records": {}}
    for name in CHECKS:
        answers = correct_answers(name)
        result["visible"][name] = check_by_name(name)(*answers, verbose=False).message
        rec = record(name, *correct_answers(name))
        # the stand-in answers are the instructors' references, which run the course's own code: the
        # judge's watch would refuse them (tests/test_grading_what_runs.py tests that watch); this test
        # is about rounding on another CPU, so the list of what ran is left out
        for entry in (e for calls in rec["calls"] if calls for e in calls):
            entry["ran"] = []
        result["records"][name] = rec
    result["tolerance_used"], result["tolerance_used_where"] = tolerance_used()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
