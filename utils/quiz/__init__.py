"""Concept questions with immediate feedback, in JupyterLab and in the static book, offline.

``quiz("ch2")`` shows a chapter's questions. Each option is an HTML ``<details>`` element: a
reader opens the option they believe in (click, or Tab then Enter) and reads at once whether it is
right and why; every option carries its own explanation, not only the right one. Nothing needs a
kernel, JavaScript or a network, so the same output works in JupyterLab, in the built book and
in an exported HTML file. Math is written ``\\( … \\)`` inside an element of class
``mathjax_process``, which both JupyterLab's and the book's MathJax typeset. A quiz answer is
never recorded and never changes a grade.

The machinery is in ``utils/quiz/core.py``; each chapter's questions are in a module of their own,
named after the chapter, so that a chapter's author edits one short file:

=======================  =======  =======================================================
module                   quiz     chapter
=======================  =======  =======================================================
``ch1_why_attention``    ch1      1 — Why attention: the flaws of RNN encoder–decoders
``ch2_weighted_average`` ch2      2 — Attention as a weighted average
``ch3_soft_and_hard``    ch3      3 — Soft and hard attention
``ch4_bahdanau``         ch4      4 — The Bahdanau decoder
``ch5_luong``            ch5      5 — Luong attention, global and local
``ch6_self_attention``   ch6      6 — Self-attention with queries, keys and values
``ch7_transformer``      ch7      7 — The Transformer
``ch8_attention_costs``  ch8      8 — What attention costs, and how to pay less
=======================  =======  =======================================================
"""

from __future__ import annotations

from utils.quiz import (
    ch1_why_attention,
    ch2_weighted_average,
    ch3_soft_and_hard,
    ch4_bahdanau,
    ch5_luong,
    ch6_self_attention,
    ch7_transformer,
    ch8_attention_costs,
)
from utils.quiz.core import Option, Question, Quiz, arranged

__all__ = ["Option", "Question", "QUIZZES", "Quiz", "arranged", "quiz", "right_letters"]

QUIZZES: dict[str, tuple[Question, ...]] = {
    "ch1": ch1_why_attention.QUESTIONS,
    "ch2": ch2_weighted_average.QUESTIONS,
    "ch3": ch3_soft_and_hard.QUESTIONS,
    "ch4": ch4_bahdanau.QUESTIONS,
    "ch5": ch5_luong.QUESTIONS,
    "ch6": ch6_self_attention.QUESTIONS,
    "ch7": ch7_transformer.QUESTIONS,
    "ch8": ch8_attention_costs.QUESTIONS,
}


def quiz(key: str) -> Quiz:
    """The questions of chapter ``key`` (``"ch1"`` … ``"ch8"``), ready to display."""
    if key not in QUIZZES:
        raise KeyError(f"no quiz called {key!r}; there are {', '.join(QUIZZES)}")
    return Quiz(key, QUIZZES[key])


def right_letters(key: str) -> str:
    """The letters of the right answers of chapter ``key``'s quiz, in order (for the lint test)."""
    return "".join("ABCDEF"[[o.correct for o in arranged(q)].index(True)] for q in QUIZZES[key])
