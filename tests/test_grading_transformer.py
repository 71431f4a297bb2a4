"""Chapter 7's exercises through nbgrader, end to end, in a course of their own.

One submission, autograded as an instructor would (`nbgrader autograde`): the masks right, and the
two mistakes the chapter's checkers name most often, queries taken from the encoder in
cross-attention and a key-value cache grown along the feature axis instead of the time axis. The
right answer keeps its points, each wrong one scores 0, and the feedback says what went wrong.
Its own course (chapter 7 only) lets it run beside `tests/test_grading.py` on the other core.
"""

import pytest

from tests.test_grading import autograde_one_chapter, graded_cell_text, scores

pytestmark = pytest.mark.slow(seconds=150)   # one run of chapter 7 under nbgrader

# Chapter 7 trains three models; its longest cell (Bahdanau's decoder) takes 40-50 s on 2 cores,
# more on a busy one, so the per-cell limit is wider than chapter 2's.
TIMEOUT = 300

QUERIES_FROM_ENCODER = """
def cross_attention(dec, enc, src_mask, W_q, W_k, W_v):
    Q, K, V = enc @ W_q, enc @ W_k, enc @ W_v          # the queries from the encoder: the usual slip
    scores = Q @ K.transpose(-2, -1) / math.sqrt(K.shape[-1])
    scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights
"""
CACHE_ON_THE_WRONG_AXIS = """
def attend_with_cache(q_t, k_t, v_t, cache_k, cache_v):
    k = torch.cat([cache_k, k_t], dim=-1)              # along the features, not the time axis
    v = torch.cat([cache_v, v_t], dim=-1)
    weights = torch.softmax(q_t @ k.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return weights @ v, k, v
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    mistakes = {"ex-cross-attention": QUERIES_FROM_ENCODER,
                "ex-attend-with-cache": CACHE_ON_THE_WRONG_AXIS}
    return autograde_one_chapter(tmp_path_factory.mktemp("course07"), "07", mistakes, TIMEOUT)


def test_the_right_answer_keeps_its_points_and_each_mistake_scores_zero(graded):
    assert scores(graded, "mixed", "ch07") == {"test-decoder-masks": 2, "test-cross-attention": 0,
                                               "test-attend-with-cache": 0}


def test_the_feedback_names_each_mistake(graded):
    assert "✅" in graded_cell_text(graded, "mixed", "ch07", "test-decoder-masks")
    cross = graded_cell_text(graded, "mixed", "ch07", "test-cross-attention")
    assert "queries must come from the decoder" in cross, cross
    cache = graded_cell_text(graded, "mixed", "ch07", "test-attend-with-cache")
    assert "time axis, dim -2" in cache, cache
