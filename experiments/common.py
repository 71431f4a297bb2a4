"""Shared pieces of the chapter-8 scouting runs (not part of the course package; see CH8_NOTES.md).

Run every script from the repository root with ``PYTHONPATH=.`` so that ``utils`` is this worktree's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from utils.training import warmup_cosine  # noqa: F401  the scripts import it from here

RESULTS = Path(__file__).resolve().parent / "results"


def record(name: str, row: dict) -> None:
    """Append one run's results (a JSON line) to ``experiments/results/<name>.jsonl`` and print it."""
    RESULTS.mkdir(exist_ok=True)
    row = {"time": time.strftime("%Y-%m-%d %H:%M"), **row}
    with open(RESULTS / f"{name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
