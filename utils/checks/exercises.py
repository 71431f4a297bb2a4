"""Every graded exercise of the course, declared once.

An exercise is a name (what its check cell passes to ``submit("NAME", ...)``), the chapter whose
notebook holds it, the checker that tries an answer (``"module:function"``) and the points its
graded cell is worth. Everything else derives from this table: :data:`utils.checks.submit.CHECKS`,
the instructors' answers in :mod:`grading.references` (which must cover exactly these names), and
the tests that every solutions notebook submits exactly its chapter's exercises, with these points
in its nbgrader metadata (``tests/test_exercises.py``).

The references and the names of the course's own implementations are not here: this package is
what learners get, and those live in ``grading/``, which they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Exercise", "EXERCISES"]


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: ``submit(name, ...)`` in chapter ``chapter``'s notebook, tried by
    ``checker`` (``"module:function"``), worth ``points``."""

    name: str
    chapter: str
    checker: str
    points: int


def _table(*rows: tuple[str, str, str, int]) -> dict[str, Exercise]:
    return {name: Exercise(name, chapter, checker, points) for name, chapter, checker, points in rows}


EXERCISES: dict[str, Exercise] = _table(
    ("context_budget", "01", "utils.checks.seq2seq:check_context_budget", 1),
    ("masked_cross_entropy", "01", "utils.checks.seq2seq:check_masked_cross_entropy", 2),
    ("decode_loop", "01", "utils.checks.seq2seq:check_decode_loop", 3),
    ("position_error_rates", "01", "utils.checks.seq2seq:check_position_error_rates", 2),
    ("additive_score", "02", "utils.checks.attention:check_additive_score", 3),
    ("masked_softmax", "02", "utils.checks.attention:check_masked_softmax", 3),
    ("attend", "02", "utils.checks.attention:check_attend", 2),
    ("soft_glimpse", "03", "utils.checks.glimpse:check_soft_glimpse", 2),
    ("hard_glimpse", "03", "utils.checks.glimpse:check_hard_glimpse", 2),
    ("reinforce_surrogate", "03", "utils.checks.glimpse:check_reinforce_surrogate", 3),
    ("alignment_scores", "04", "utils.checks.bahdanau:check_alignment_scores", 3),
    ("attend_source", "04", "utils.checks.bahdanau:check_attend_source", 3),
    ("decoder_step", "04", "utils.checks.bahdanau:check_decoder_step", 4),
    ("general_score", "05", "utils.checks.luong:check_general_score", 2),
    ("luong_step", "05", "utils.checks.luong:check_luong_step", 3),
    ("local_p", "05", "utils.checks.luong:check_local_p", 3),
    ("causal_attention", "06", "utils.checks.self_attention:check_causal_attention", 3),
    ("split_merge_heads", "06", "utils.checks.self_attention:check_split_merge_heads", 3),
    ("sinusoidal_encoding", "06", "utils.checks.self_attention:check_sinusoidal_encoding", 2),
    ("decoder_masks", "07", "utils.checks.transformer:check_decoder_masks", 2),
    ("cross_attention", "07", "utils.checks.transformer:check_cross_attention", 3),
    ("attend_with_cache", "07", "utils.checks.transformer:check_attend_with_cache", 3),
    ("online_softmax_merge", "08", "utils.checks.efficient_attention:check_online_softmax_merge", 3),
    ("sliding_window_mask", "08", "utils.checks.efficient_attention:check_sliding_window_mask", 2),
    ("linear_attention_step", "08", "utils.checks.efficient_attention:check_linear_attention_step", 3),
)
