"""Shared pieces of the chapter-8 scouting runs (not part of the course package; see CH8_NOTES.md).

Run every script from the repository root with ``PYTHONPATH=.`` so that ``utils`` is this worktree's.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Chapter 7's schedule: linear warm-up over ``warmup`` steps, then a cosine down to 0 at ``steps``."""
    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def record(name: str, row: dict) -> None:
    """Append one run's results (a JSON line) to ``experiments/results/<name>.jsonl`` and print it."""
    RESULTS.mkdir(exist_ok=True)
    row = {"time": time.strftime("%Y-%m-%d %H:%M"), **row}
    with open(RESULTS / f"{name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
