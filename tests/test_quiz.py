"""Concept quizzes and exercise hints: present in every chapter, complete, and never graded."""

import re

import nbformat
import pytest

from tools.notebooks import CHAPTERS, solution_paths
from utils.quiz import QUIZZES, quiz


@pytest.mark.parametrize("key", list(QUIZZES))
def test_each_quiz_has_three_questions_with_an_explanation_for_every_option(key):
    questions = QUIZZES[key]
    assert len(questions) >= 3
    for q in questions:
        assert len(q.options) >= 3 and sum(o.correct for o in q.options) == 1, q.prompt
        assert all(len(o.why) > 20 for o in q.options), q.prompt   # wrong options are explained too
    page = quiz(key)._repr_html_()
    assert page.count("<details") == sum(len(q.options) for q in questions)
    assert "mathjax_process" in page and "<script" not in page   # no JavaScript, no kernel


def test_the_right_answer_is_not_always_in_the_same_place():
    import utils.quiz as Q

    places = [[o.correct for o in Q._arranged(n, q.options)].index(True)
              for qs in QUIZZES.values() for n, q in enumerate(qs, 1)]
    assert len(set(places)) == 3


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
