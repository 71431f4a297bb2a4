"""utils.length_experiment: chapter 1's accuracy-versus-length experiment and its plain model."""

import pytest
import torch
from torch import nn

from utils.data import BucketBatches, make_sequence_task
from utils.length_experiment import LengthExperiment, build_plain_model, length_experiment_config
from utils.seq2seq import PlainDecoder
from utils.seq2seq_training import evaluate_seq2seq, seq2seq_step
from utils.training import fit

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_model_is_deterministic_under_a_seed_and_learns_a_small_task():
    cfg = length_experiment_config(n_symbols=3, emb_dim=8, hidden_size=32, lr=5e-3, batch_size=32)
    pairs, vocab = make_sequence_task("reverse", 600, 2, 4, n_symbols=3, seed=0)

    def train():
        model = build_plain_model(vocab, cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history = fit(model, BucketBatches(pairs, vocab, vocab, 32, seed=0), seq2seq_step(), opt, steps=300)
        return model, history

    (m1, h1), (m2, h2) = train(), train()
    assert h1.loss == h2.loss
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    report = evaluate_seq2seq(m1, pairs[:200], vocab, vocab)
    assert report.exact_match > 0.9, report.exact_match_by_length


def test_length_experiment_config_and_data():
    cfg = length_experiment_config(n_train=300, n_test_per_length=7, test_lengths=(5, 9))
    assert isinstance(cfg, LengthExperiment) and cfg.n_train == 300
    assert length_experiment_config() == LengthExperiment()
    train, test, vocab = cfg.data()
    assert len(train) == 300 and len(test) == 14
    assert [len(s) for s, _ in test] == [5] * 7 + [9] * 7
    assert all(cfg.min_len <= len(s) <= cfg.max_len for s, _ in train)
    assert all(t == s[::-1] for s, t in train + test)  # the task is reversal
    again = cfg.data()
    assert again[0] == train and again[1] == test
    with pytest.raises(TypeError):
        length_experiment_config(hidden=3)
    default = LengthExperiment()
    assert max(default.test_lengths) <= default.max_len and min(default.test_lengths) >= default.min_len


def test_build_plain_model_is_seeded():
    cfg = length_experiment_config(hidden_size=16, emb_dim=4)
    vocab = make_sequence_task("reverse", 1, 1, 1)[1]
    a, b = build_plain_model(vocab, cfg), build_plain_model(vocab, cfg)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert a.encoder.hidden_size == 16 and not a.encoder.bidirectional
    assert isinstance(a.decoder, PlainDecoder)
    c = build_plain_model(vocab, length_experiment_config(hidden_size=16, emb_dim=4, model_seed=1))
    assert not torch.equal(a.encoder.embedding.weight, c.encoder.embedding.weight)
    src = torch.tensor([[4, 5, 6]])
    logits, _ = a(src, torch.tensor([3]), torch.tensor([[1, 6, 5]]))
    assert logits.shape == (1, 3, len(vocab))


def test_experiment_optimizer_decays_the_learning_rate_to_zero():
    cfg = length_experiment_config(steps=10, lr=0.1)
    model = nn.Linear(2, 2)
    optimizer, scheduler = cfg.optimizer(model)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    rates = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[4] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
