"""The quiz machinery: what a question is, the fixed order its options are shown in, and the
HTML that shows a chapter's questions without a kernel. The questions themselves are data, one
module per chapter (``utils/quiz/ch1_why_attention.py`` …); :mod:`utils.quiz` gathers them.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass

__all__ = ["Option", "Question", "ask", "arranged", "Quiz"]


@dataclass(frozen=True)
class Option:
    """One answer a reader may pick: its ``text``, whether it is the ``correct`` one, and ``why``
    (shown once the reader opens it, right or wrong)."""

    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Question:
    """A question's ``prompt`` and its ``options`` (exactly one of them correct; the lint test
    in ``tests/test_quiz.py`` checks every chapter's)."""

    prompt: str
    options: tuple[Option, ...]


def ask(prompt: str, *options: tuple[str, bool, str]) -> Question:
    """A :class:`Question` from its prompt and its options, each ``(text, correct, why)``: the
    short form the chapters' question modules are written in."""
    return Question(prompt, tuple(Option(*o) for o in options))


def arranged(question: Question) -> tuple[Option, ...]:
    """The options in display order: a fixed shuffle drawn from the question's own text (SHA-256),
    so every reader sees the same letters, and the right answer's place follows no pattern a
    reader could learn from one chapter and use in the next (``tests/test_quiz.py`` checks)."""
    digest = hashlib.sha256(question.prompt.encode("utf-8")).digest()
    keys = [digest[i] for i in range(len(question.options))]
    order = sorted(range(len(question.options)), key=lambda i: (keys[i], i))
    return tuple(question.options[i] for i in order)


class Quiz:
    """A chapter's questions, shown as HTML (``_repr_html_``) or as plain text (``__repr__``)."""

    def __init__(self, key: str, questions: tuple[Question, ...]) -> None:
        self.key, self.questions = key, questions

    def _repr_html_(self) -> str:
        parts = [f'<div class="course-quiz mathjax_process" role="group" aria-label="Check your understanding ({self.key})">']
        for n, q in enumerate(self.questions, 1):
            qid = f"quiz-{self.key}-{n}"
            parts.append(f'<div class="course-quiz-question" role="group" aria-labelledby="{qid}">')
            parts.append(f'<p id="{qid}"><strong>Question {n}.</strong> {_inline(q.prompt)}</p>')
            for letter, option in zip("ABCDEF", arranged(q)):
                verdict = "✅ Right." if option.correct else "❌ Not this one."
                parts.append(
                    f'<details class="course-quiz-option"><summary>{letter}. {_inline(option.text)}</summary>'
                    f'<p><strong>{verdict}</strong> {_inline(option.why)}</p></details>')
            parts.append("</div>")
        parts.append("<p><em>Open the option you believe in to see whether it is right, and why. "
                     "Answers are not recorded.</em></p></div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        lines = []
        for n, q in enumerate(self.questions, 1):
            lines.append(f"Question {n}. {q.prompt}")
            lines += [f"  {letter}. {o.text}" for letter, o in zip("ABCDEF", arranged(q))]
        return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape HTML, then render `code` spans; math stays as \\( … \\) for MathJax."""
    out, code = [], False
    for piece in html.escape(text, quote=False).split("`"):
        out.append(f"<code>{piece}</code>" if code else piece)
        code = not code
    return "".join(out)
