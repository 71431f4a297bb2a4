"""Chapter 8's exercises through nbgrader, end to end, in a course of their own.

One submission, autograded as an instructor would (`nbgrader autograde`): the online-softmax merge
right, and two mistakes the chapter's checkers name: a banded mask one position too wide, and a
linear-attention step that reads its state before adding the current token. The right answer
keeps its points, each wrong one scores 0, and the feedback says what went wrong. Its own course
(chapter 8 only) lets it run beside the other grading tests on the other core.
"""

import pytest

from tests.test_grading import autograde_one_chapter, graded_cell_text, scores

pytestmark = pytest.mark.slow(seconds=150)   # one run of chapter 8 under nbgrader

# Chapter 8 trains six small models; its longest cell (two Transformers) takes 30-40 s on 2 cores.
TIMEOUT = 300

WINDOW_ONE_TOO_WIDE = """
def sliding_window_mask(T, window):
    positions = torch.arange(T)
    offset = positions.unsqueeze(1) - positions.unsqueeze(0)
    return (offset >= 0) & (offset <= window)          # <= : the window holds window + 1 positions
"""
READ_BEFORE_UPDATE = """
def linear_attention_step(state_S, state_z, q_t, k_t, v_t):
    phi_q, phi_k = elu_feature_map(q_t), elu_feature_map(k_t)
    num = (phi_q.unsqueeze(-2) @ state_S).squeeze(-2)  # reads the old state: t does not see itself
    den = (phi_q * state_z).sum(dim=-1, keepdim=True)
    S = state_S + phi_k.unsqueeze(-1) * v_t.unsqueeze(-2)
    z = state_z + phi_k
    return num / den, S, z
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    mistakes = {"ex-sliding-window-mask": WINDOW_ONE_TOO_WIDE,
                "ex-linear-attention-step": READ_BEFORE_UPDATE}
    return autograde_one_chapter(tmp_path_factory.mktemp("course08"), "08", mistakes, TIMEOUT)


def test_the_right_answer_keeps_its_points_and_each_mistake_scores_zero(graded):
    assert scores(graded, "mixed", "ch08") == {"test-online-softmax-merge": 3, "test-sliding-window-mask": 0,
                                               "test-linear-attention-step": 0}


def test_the_feedback_names_each_mistake(graded):
    assert "✅" in graded_cell_text(graded, "mixed", "ch08", "test-online-softmax-merge")
    window = graded_cell_text(graded, "mixed", "ch08", "test-sliding-window-mask")
    assert "off by one" in window, window
    step = graded_cell_text(graded, "mixed", "ch08", "test-linear-attention-step")
    assert "update the state first" in step, step
