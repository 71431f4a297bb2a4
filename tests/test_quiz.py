"""Concept quizzes and exercise hints: present in every chapter, complete, and never graded."""

import math
import re

import nbformat
import pytest

from tools.notebooks import CHAPTERS, solution_paths
from utils.quiz import QUIZZES, Question, quiz, right_letters


def _right_is_longest(q) -> bool:
    """The right option is strictly the longest: a reader who picks the longest wins."""
    right = next(o for o in q.options if o.correct)
    return all(len(right.text) > len(o.text) for o in q.options if not o.correct)


@pytest.mark.parametrize("key", list(QUIZZES))
def test_each_quiz_must_be_read_to_be_answered(key):
    """The quiz lint: five questions or more, one right option each and an explanation on every
    option, one prediction from the chapter's own experiments, and no pattern in where the right
    answer sits or how long it is."""
    questions = QUIZZES[key]
    assert len(questions) >= 5, f"{key}: {len(questions)} questions, at least 5 wanted"
    for q in questions:
        assert len(q.options) >= 3 and sum(o.correct for o in q.options) == 1, q.prompt
        assert all(len(o.why) > 20 for o in q.options), q.prompt   # wrong options are explained too
    assert any(q.prompt.startswith("Predict") for q in questions), \
        f"{key}: no question asks to predict a number, a shape or a curve from the chapter's experiments"
    letters = right_letters(key)
    assert max(letters.count(c) for c in letters) <= math.ceil(len(letters) / 2), f"{key}: right answers {letters}"
    longest = [n for n, q in enumerate(questions, 1) if _right_is_longest(q)]
    assert len(longest) <= 0.4 * len(questions), f"{key}: the right option is the longest in questions {longest}"
    page = quiz(key)._repr_html_()
    assert page.count("<details") == sum(len(q.options) for q in questions)
    assert "mathjax_process" in page and "<script" not in page   # no JavaScript, no kernel


def test_no_two_chapters_share_their_right_letters():
    sequences = {key: right_letters(key) for key in QUIZZES}
    assert len(set(sequences.values())) == len(sequences), sequences


def test_the_right_answer_is_anywhere_and_not_the_longest_more_than_chance():
    questions = [q for qs in QUIZZES.values() for q in qs]
    letters = "".join(right_letters(key) for key in QUIZZES)
    for letter in "ABC":
        assert 0.2 <= letters.count(letter) / len(letters) <= 0.47, (letter, letters)
    assert sum(_right_is_longest(q) for q in questions) <= 0.4 * len(questions)


def test_quiz_text_escapes_html():
    from utils.quiz import Option, Question, Quiz

    page = Quiz("x", (Question("a < b?", (Option("`x<y`", True, "because <b>"),) * 3),))._repr_html_()
    assert "a &lt; b?" in page and "<code>x&lt;y</code>" in page and "because &lt;b&gt;" in page


def test_an_unknown_quiz_is_named():
    with pytest.raises(KeyError, match="ch1"):
        quiz("chapter one")


@pytest.mark.parametrize("path", solution_paths(), ids=lambda p: p.name)
def test_every_chapter_has_its_quiz_and_every_exercise_its_hints(path):
    for folder in (path.parent, CHAPTERS):
        nb = nbformat.read(str(folder / path.name), as_version=4)
        quiz_cells = [c for c in nb.cells if c.cell_type == "code" and re.search(r'quiz\("ch\d"\)', c.source)]
        assert len(quiz_cells) == 1 and "remove-input" in quiz_cells[0].metadata.get("tags", [])
        assert not quiz_cells[0].metadata.get("nbgrader"), "a quiz is never graded"
        for i, cell in enumerate(nb.cells):
            if cell.metadata.get("nbgrader", {}).get("solution"):
                hints = nb.cells[i - 1].source
                assert nb.cells[i - 1].cell_type == "markdown" and 1 <= hints.count('<details class="course-hint">') <= 2, \
                    f"{path.name}: no hints before {cell.metadata['nbgrader']['grade_id']}"
                assert hints.count("<details") == hints.count("</details>")


def test_each_chapters_questions_live_in_their_own_module():
    """utils/quiz/ reads like the course: the machinery in one module, chapter N's questions in
    ``chN_….py``; ``QUIZZES`` gathers them in the course's order."""
    import importlib
    import pkgutil

    import utils.quiz
    from utils.quiz import core

    modules = {m.name for m in pkgutil.iter_modules(utils.quiz.__path__)}
    assert list(QUIZZES) == [f"ch{n}" for n in range(1, len(QUIZZES) + 1)]
    for key, questions in QUIZZES.items():
        (name,) = [m for m in modules if m.startswith(f"{key}_")]
        module = importlib.import_module(f"utils.quiz.{name}")
        assert module.QUESTIONS is questions
        assert f"Chapter {key[2:]}" in module.__doc__.split("\n\n")[0], f"{name}: the docstring names its chapter"
    assert not any(isinstance(v, tuple) and v and isinstance(v[0], Question) for v in vars(core).values()), \
        "the machinery holds no questions"
    assert {m for m in modules if not m.startswith("ch")} == {"core"}


def test_ask_builds_a_question_from_plain_tuples():
    from utils.quiz import Option, Question
    from utils.quiz.core import ask

    q = ask("Why?", ("because", True, "right, it is why"), ("no", False, "it is not"))
    assert q == Question("Why?", (Option("because", True, "right, it is why"), Option("no", False, "it is not")))
