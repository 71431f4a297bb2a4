"""Every solutions notebook, run once more under a non-zero COURSE_SEED_OFFSET.

nbval re-runs each notebook with the seeds that made its stored outputs; this runs it with other
model seeds (initialisation, batch order, sampling, dropout; the data unchanged), a different
offset per chapter, and checks that every assert still holds. A claim that held for one lucky seed
fails here the day it is written, not on a learner's machine with another CPU. `make robustness`
runs the same over more offsets and prints the table.

The kernels also run with another CPU's kernels (``ATEN_CPU_CAPABILITY``: ``default`` on an AVX2
CPU, ``avx2`` on an AVX-512 one; see ``utils.device.other_capability``), so a claim that holds only
on the CPU that recorded the outputs fails here too.
"""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from nbrun import describe_failure  # noqa: E402
from robustness import measure  # noqa: E402

from utils.device import other_capability  # noqa: E402

NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
_RUNS: dict = {}


def _seconds(path: Path) -> float:
    """The chapter's run time in the README's table (``make bench``), 60 if it has none."""
    import re

    row = re.search(rf"^\| {int(path.name[:2])} \|.*\| (\d+) s \|", (ROOT / "README.md").read_text(), re.M)
    return float(row.group(1)) if row else 60.0


def _run(path: Path) -> dict:
    offset = int(path.name[:2])          # chapter N runs under COURSE_SEED_OFFSET=N (model seeds + 1000·N)
    return measure(path, offset, capability=other_capability())


@pytest.fixture(scope="module")
def runs():
    """Every notebook's run, two at a time (each in its own kernel, on one thread): started at the
    first test, the longest chapters first, so that both cores stay busy."""
    if not _RUNS:
        pool = ThreadPoolExecutor(max_workers=2)
        for path in sorted(NOTEBOOKS, key=lambda p: -_seconds(p)):
            _RUNS[path] = pool.submit(_run, path)
        pool.shutdown(wait=False)
    return _RUNS


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_claim_holds_under_another_seed(path, runs):
    result = runs[path].result()
    offset, capability = int(path.name[:2]), other_capability()
    assert not result["failures"], (f"{path.name}, COURSE_SEED_OFFSET={offset}, ATEN_CPU_CAPABILITY={capability}: "
                                    f"{describe_failure(result['failures'])}")
