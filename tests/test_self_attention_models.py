"""Chapter 6's models, its text task and its two figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.data import (
    FILLER_WORDS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    Vocab,
    collate_text,
    iterate_text_batches,
    make_sentiment_task,
    make_sequence_task,
    sentiment_label,
)
from utils.plots import attention_grid, token_weights
from utils.self_attention_models import BiLSTMSelfAttentionClassifier, SelfAttentivePooling, TransformerTagger, exact_match, tagging_tensors

CUES = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)


# ----------------------------------------------------------------------------------------------
# The text task
# ----------------------------------------------------------------------------------------------
def test_sentiment_label_follows_the_rule():
    assert sentiment_label("the film was good".split()) == 1
    assert sentiment_label("the film was not good".split()) == 0
    assert sentiment_label("not the film was good".split()) == 1  # `not` before a filler: no effect
    assert sentiment_label("good but dull and awful".split()) == 0
    assert sentiment_label("not bad and not awful and dull".split()) == 1


def test_sentiment_task_is_seeded_and_well_formed():
    examples, vocab = make_sentiment_task(500, min_len=8, max_len=14, seed=3)
    again, _ = make_sentiment_task(500, min_len=8, max_len=14, seed=3)
    other, _ = make_sentiment_task(500, min_len=8, max_len=14, seed=4)
    assert examples == again and examples != other
    labels = [label for _, label in examples]
    assert 0.35 < sum(labels) / len(labels) < 0.65
    for tokens, label in examples:
        assert 8 <= len(tokens) <= 14
        assert label == sentiment_label(tokens)
        assert sum(t in CUES for t in tokens) in (1, 3)
        assert all(vocab.stoi.get(t, vocab.unk_id) != vocab.unk_id for t in tokens)
    bigrams = [(t, nxt) for tokens, _ in examples for t, nxt in zip(tokens, tokens[1:])]
    negated_fillers = sum(t == "not" and nxt in FILLER_WORDS for t, nxt in bigrams)
    negated_cues = sum(t == "not" and nxt in CUES for t, nxt in bigrams)
    assert negated_fillers > 50 and negated_cues > 50
    with pytest.raises(ValueError, match="min_len"):
        make_sentiment_task(3, min_len=5)
    with pytest.raises(ValueError, match="negation_prob"):
        make_sentiment_task(3, negation_prob=2.0)


def test_collate_text_pads_and_batches():
    examples, vocab = make_sentiment_task(10, seed=0)
    batch = collate_text(examples[:3], vocab)
    T = max(len(t) for t, _ in examples[:3])
    assert batch.tokens.shape == (3, T) and batch.lengths.tolist() == [len(t) for t, _ in examples[:3]]
    assert batch.labels.tolist() == [label for _, label in examples[:3]]
    for row, n in zip(batch.tokens, batch.lengths):
        assert torch.all(row[n:] == vocab.pad_id) and torch.all(row[:n] != vocab.pad_id)
    batches = list(iterate_text_batches(examples, vocab, batch_size=4, seed=1))
    assert [b.tokens.shape[0] for b in batches] == [4, 4, 2]
    assert sorted(sum((b.labels.tolist() for b in batches), [])) == sorted(label for _, label in examples)
    with pytest.raises(ValueError, match="empty"):
        collate_text([], vocab)


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
def test_tagger_shapes_padding_and_positions():
    torch.manual_seed(0)
    model = TransformerTagger(12, 7, d_model=16, num_heads=2, num_layers=2, d_ff=32, max_len=20).eval()
    tokens = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    logits, weights = model(tokens, need_weights=True)
    assert logits.shape == (2, 4, 7) and len(weights) == 2 and weights[0].shape == (2, 2, 4, 4)
    assert torch.all(weights[1][1, :, :, 2:] == 0)  # nobody attends to padding
    longer, _ = model(torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], 1))  # more padding
    assert torch.allclose(longer[:, :4], logits, atol=1e-5)
    assert torch.allclose(model(tokens[1:, :2])[0], logits[1:, :2], atol=1e-5)
    # no positions: permuting the tokens permutes the outputs; with positions it does not
    blind = TransformerTagger(12, 7, d_model=16, num_heads=2, num_layers=1, d_ff=32, positions=None).eval()
    x, perm = torch.tensor([[4, 5, 6, 7, 8]]), torch.tensor([2, 0, 4, 1, 3])
    assert torch.allclose(blind(x[:, perm])[0], blind(x)[0][:, perm], atol=1e-5)
    assert not torch.allclose(model(x[:, perm])[0], model(x)[0][:, perm], atol=1e-3)
    learned = TransformerTagger(12, 7, d_model=16, num_heads=2, positions="learned", max_len=5)
    assert learned(x)[0].shape == (1, 5, 7)
    with pytest.raises(ValueError, match="positions"):
        TransformerTagger(12, 7, positions="rotary")


def test_tagging_tensors_and_exact_match():
    pairs, vocab = make_sequence_task("sort", 5, 2, 4, seed=0)
    tokens, targets = tagging_tensors(pairs, vocab)
    T = max(len(s) for s, _ in pairs)
    assert tokens.shape == targets.shape == (5, T)
    for (s, t), row, target in zip(pairs, tokens, targets):
        assert vocab.decode(row) == s and vocab.decode(target) == t
        assert torch.equal(row == vocab.pad_id, target == vocab.pad_id)
    assert exact_match(targets, targets) == 1.0
    wrong = targets.clone()
    wrong[0, 0] = (wrong[0, 0] + 1) % len(vocab)
    wrong[1, -1] = 5 if targets[1, -1] == vocab.pad_id else wrong[1, -1]  # padding does not count
    assert exact_match(wrong, targets) == pytest.approx(0.8)
    assert exact_match(torch.nn.functional.one_hot(targets, len(vocab)).float(), targets) == 1.0
    with pytest.raises(ValueError, match="as long as"):
        tagging_tensors([(["a", "b"], ["a"])], Vocab(["a", "b"]))


def test_self_attentive_pooling_ignores_padding():
    torch.manual_seed(0)
    pool = SelfAttentivePooling(6, attention_size=5, hops=3)
    H = torch.randn(2, 4, 6)
    keep = torch.tensor([[True, True, True, True], [True, True, False, False]])
    M, A = pool(H, keep)
    assert M.shape == (2, 18) and A.shape == (2, 3, 4)
    assert torch.allclose(A.sum(-1), torch.ones(2, 3)) and torch.all(A[1, :, 2:] == 0)
    H2 = H.clone()
    H2[1, 2:] = 100.0  # whatever sits in the padding does not matter
    assert torch.allclose(pool(H2, keep)[0], M)
    assert torch.allclose(M.view(2, 3, 6)[0], A[0] @ H[0], atol=1e-6)


def test_bilstm_classifier_padding_is_invisible_and_it_learns():
    torch.manual_seed(0)
    examples, vocab = make_sentiment_task(64, seed=0)
    model = BiLSTMSelfAttentionClassifier(len(vocab), 2, embed_dim=8, hidden_size=8, num_heads=2).eval()
    batch = collate_text(examples[:4], vocab)
    out = model(batch.tokens, batch.lengths)
    assert out.logits.shape == (4, 2) and out.pool_weights.shape == (4, 1, batch.tokens.shape[1])
    assert out.self_weights.shape == (4, 2, batch.tokens.shape[1], batch.tokens.shape[1])
    shortest = int(batch.lengths.argmin())
    alone = model(batch.tokens[shortest:shortest + 1, : batch.lengths[shortest]], batch.lengths[shortest:shortest + 1])
    assert torch.allclose(alone.logits, out.logits[shortest:shortest + 1], atol=1e-5)  # packing works
    assert torch.all(out.pool_weights[shortest, 0, batch.lengths[shortest]:] == 0)
    plain = BiLSTMSelfAttentionClassifier(len(vocab), 2, embed_dim=8, hidden_size=8, self_attention=False)
    assert plain(batch.tokens, batch.lengths).self_weights is None
    # a few steps on one batch lower the loss
    model.train()
    batch = collate_text(examples[:32], vocab)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(model(batch.tokens, batch.lengths, need_weights=False).logits, batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def test_attention_grid_draws_one_panel_per_layer_and_head():
    weights = [torch.softmax(torch.randn(1, 3, 4, 4), -1) for _ in range(2)]
    fig = attention_grid(weights, labels=list("abcd"), title="grid")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6 and len(fig.axes) == 7                      # six heads and one shared colour bar
    assert fig.axes[-1].get_ylabel() == "attention weight"
    assert len({ax.images[0].get_clim() for ax in panels}) == 1          # one scale for every head
    assert fig.axes[4].get_title() == "layer 2, head 2"
    np.testing.assert_allclose(fig.axes[5].get_images()[0].get_array(), weights[1][0, 2].numpy(), rtol=1e-6)
    assert len(attention_grid(torch.softmax(torch.randn(3, 2, 5, 5), -1)).axes) == 6 + 1
    with pytest.raises(ValueError, match=r"\(H, T, T\)"):
        attention_grid([torch.ones(4, 4)])
    plt.close("all")


def test_token_weights_shades_each_token():
    ax = token_weights([["a", "b", "c"], ["d"]], [torch.tensor([0.2, 0.8, 0.0]), [1.0, 0.0]], row_labels=["x", "y"])
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c", "d"]
    grid = ax.get_images()[0].get_array()
    np.testing.assert_allclose(grid[0].filled(-1), [0.25, 1.0, 0.0])
    assert grid.mask[1, 1] and not grid.mask[1, 0]
    with pytest.raises(ValueError, match="2 sentences but 1"):
        token_weights([["a"], ["b"]], [[1.0]])
    with pytest.raises(ValueError, match="only 1 weights"):
        token_weights([["a", "b"]], [[1.0]])
    plt.close("all")


def test_draw_positions_shows_the_encoding_and_its_similarities():
    from utils.positional import sinusoidal_positional_encoding
    from utils.widgets import draw_positions, positions_explorer

    fig = draw_positions(position=5, d_model=8, max_len=20)
    ax_pe, ax_sim = fig.axes[:2]  # the heatmap and the similarity curve (then the colour bar)
    np.testing.assert_allclose(ax_pe.get_images()[0].get_array(), sinusoidal_positional_encoding(20, 8), atol=1e-6)
    similarity = ax_sim.get_lines()[0].get_ydata()
    assert similarity[5] == pytest.approx(1.0) and np.argmax(similarity) == 5
    assert similarity[3] == pytest.approx(similarity[7])  # depends on the distance only
    with pytest.raises(ValueError, match="position"):
        draw_positions(position=20, max_len=20)
    assert positions_explorer(max_len=10).children[0].children[0].max == 9
    plt.close("all")
