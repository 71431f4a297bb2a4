"""The hidden cases' random inputs: drawn afresh for every grading run.

A checker's hidden cases (``hidden=True``) draw their values and their shapes (batch sizes,
lengths, feature sizes, heads…) from :func:`hidden_generator`, seeded from the grading seed and the
check's name. The grading seed is the integer in ``ATTENTION_GRADER_SEED``: ``tools/grade.py
autograde`` sets a fresh one for each run, and the learners' kernels inherit nbgrader's
environment, so the kernel that records and the grader's process that judges build the same
inputs. Where it is not set (the course's tests, the solutions notebooks, learners' copies) the
seed is :data:`DEFAULT_GRADER_SEED`, so stored outputs stay reproducible.
"""

from __future__ import annotations

import hashlib
import os

import torch

__all__ = ["GRADER_SEED_ENV", "DEFAULT_GRADER_SEED", "grader_seed", "hidden_generator", "draw_size", "draw_lengths"]

GRADER_SEED_ENV = "ATTENTION_GRADER_SEED"
DEFAULT_GRADER_SEED = 0


def grader_seed() -> int:
    """The grading seed: ``ATTENTION_GRADER_SEED`` if set, else :data:`DEFAULT_GRADER_SEED`.

    Raises:
        ValueError: the variable holds something other than an integer.
    """
    raw = os.environ.get(GRADER_SEED_ENV, "").strip()
    if not raw:
        return DEFAULT_GRADER_SEED
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{GRADER_SEED_ENV} must be an integer, got {raw!r}") from None


def hidden_generator(salt: str) -> torch.Generator:
    """A fresh generator for the hidden cases of one check (``salt``: its name, say), seeded from
    the grading seed and ``salt``: the same in the learner's kernel and in the grader's process, but
    another one for every grading run and every check."""
    # sha256, not hash(): Python salts str hashes per process, and both processes must agree
    digest = hashlib.sha256(f"{grader_seed()}:{salt}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def draw_size(g: torch.Generator, low: int, high: int) -> int:
    """A whole number drawn uniformly from ``low … high``, both included."""
    if low > high:
        raise ValueError(f"draw_size needs low <= high, got {low} > {high}")
    return int(torch.randint(low, high + 1, (1,), generator=g))


def draw_lengths(g: torch.Generator, batch: int, longest: int, shortest: int = 1) -> torch.Tensor:
    """``(batch,)`` int64 lengths drawn from ``shortest … longest``; with two rows or more, one row
    (drawn) is ``longest`` (no padding) and another ``shortest`` (the most padding), so the hidden
    cases keep the edge cases they were written for."""
    lengths = torch.randint(shortest, longest + 1, (batch,), generator=g)
    if batch >= 2:
        full, short = torch.randperm(batch, generator=g)[:2].tolist()
        lengths[full], lengths[short] = longest, shortest
    return lengths
