"""utils.training: the generic fit loop, the padding-aware loss, seq2seq steps and evaluation."""

import math
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn

from utils.data import BucketBatches, Vocab, collate, make_sequence_task
from utils.length_experiment import build_plain_model, length_experiment_config
from utils.seq2seq_training import evaluate_seq2seq, seq2seq_step, sequence_loss
from utils.training import History, fit, to_device, warmup_cosine

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ---------------------------------------------------------------------------- fit
def regression_problem():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1)
    return model, [(x[:32], y[:32]), (x[32:], y[32:])]


def mse_step(model, batch):
    x, y = batch
    loss = ((model(x) - y) ** 2).mean()
    return loss, {"mae": float((model(x) - y).abs().mean().detach())}


def test_fit_records_history_and_learns():
    model, batches = regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, mse_step, opt, steps=60, eval_every=25,
                  eval_fn=lambda m: {"score": -mse_step(m, batches[0])[0].item()})
    assert isinstance(history, History)
    assert history.steps == list(range(1, 61)) and len(history.loss) == 60
    assert len(history.train["mae"]) == 60
    assert history.eval_steps == [25, 50, 60]  # and once at the end
    assert history.loss[-1] < 0.1 * history.loss[0]
    assert not history.stopped_early and not model.training
    assert history.last_eval == {"score": history.eval["score"][-1]}


def test_fit_stops_early_at_the_target():
    model, batches = regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, mse_step, opt, steps=1000, eval_every=10,
                  eval_fn=lambda m: {"score": -mse_step(m, batches[0])[0].item()},
                  target=("score", -0.01))
    assert history.stopped_early
    assert history.steps[-1] == history.eval_steps[-1] < 1000
    assert history.eval["score"][-1] >= -0.01 and history.eval["score"][-2] < -0.01


def test_fit_accepts_a_callable_and_rejects_bad_arguments():
    model, batches = regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def source(step):
        seen.append(step)
        return batches[step % 2]

    fit(model, source, mse_step, opt, steps=5)
    assert seen == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="steps"):
        fit(model, batches, mse_step, opt, steps=0)
    with pytest.raises(ValueError, match="eval_fn"):
        fit(model, batches, mse_step, opt, steps=5, target=("score", 1.0))
    with pytest.raises(ValueError, match="empty"):
        fit(model, [], mse_step, opt, steps=5)


def test_fit_cycles_bucket_batches_over_several_passes():
    pairs, vocab = make_sequence_task("copy", 40, 2, 3, n_symbols=3, seed=0)
    batches = BucketBatches(pairs, vocab, vocab, batch_size=16, seed=0)
    cfg = length_experiment_config(emb_dim=4, hidden_size=8)
    model = build_plain_model(vocab, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, batches, seq2seq_step(), opt, steps=3 * len(batches) + 1)
    assert batches.passes == 4
    assert all(0.0 <= a <= 1.0 for a in history.train["train_token_accuracy"])


def test_to_device_keeps_containers():
    Pair = namedtuple("Pair", "a b")
    batch = {"x": [torch.ones(2), (torch.zeros(1), 3)], "p": Pair(torch.ones(1), "s")}
    moved = to_device(batch, "cpu")
    assert isinstance(moved["p"], Pair) and moved["p"].b == "s"
    assert isinstance(moved["x"], list) and isinstance(moved["x"][1], tuple)
    assert torch.equal(moved["x"][0], torch.ones(2)) and moved["x"][1][1] == 3


# ---------------------------------------------------------------------------- the schedule
def schedule_factors(steps, warmup):
    """The learning-rate factor that each of ``steps + 1`` optimiser steps uses (base lr 1)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, steps, warmup)
    factors = []
    for _ in range(steps + 1):
        factors.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return factors, scheduler


def test_warmup_cosine_rises_linearly_then_falls_to_zero():
    factors, scheduler = schedule_factors(300, 50)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR)
    assert factors[0] == pytest.approx(1 / 50)  # step 0: one step into the warm-up, never a zero rate
    assert factors[24] == pytest.approx(25 / 50)
    assert factors[49] == pytest.approx(1.0) and factors[50] == pytest.approx(1.0)  # the top
    assert factors[175] == pytest.approx(0.5)  # half-way down the cosine
    assert factors[300] == pytest.approx(0.0, abs=1e-12)  # zero at `steps`
    assert all(a < b for a, b in zip(factors[:50], factors[1:50]))  # rising during the warm-up
    assert all(a > b for a, b in zip(factors[50:300], factors[51:301]))  # falling after it
    assert scheduler.lr_lambdas[0](400) == pytest.approx(0.0, abs=1e-12)  # stays at 0 past the end


def test_warmup_cosine_is_chapter_7s_schedule_and_works_without_warmup():
    steps, warmup = 1000, 50  # chapter 7 wrote this lambda inline
    chapter_7 = lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
    factors, _ = schedule_factors(steps, warmup)
    assert factors == pytest.approx([chapter_7(s) for s in range(steps + 1)], abs=1e-12)
    factors, _ = schedule_factors(10, 0)
    assert factors[0] == pytest.approx(1.0) and factors[10] == pytest.approx(0.0, abs=1e-12)


def test_warmup_cosine_trains_with_fit():
    model, batches = regression_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, mse_step, opt, steps=40, scheduler=warmup_cosine(opt, 40, 5))
    assert history.loss[-1] < history.loss[0] / 10
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_warmup_cosine_rejects_bad_arguments():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(TypeError, match="optimizer"):
        warmup_cosine([nn.Parameter(torch.zeros(1))], 10, 2)
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        warmup_cosine(opt, 0, 0)
    with pytest.raises(TypeError, match="steps must be an int"):
        warmup_cosine(opt, 10.0, 2)
    with pytest.raises(ValueError, match=r"warmup must be between 0 and 9, got 10"):
        warmup_cosine(opt, 10, 10)
    with pytest.raises(ValueError, match="warmup"):
        warmup_cosine(opt, 10, -1)


# ---------------------------------------------------------------------------- the loss
def test_sequence_loss_averages_over_real_tokens_only():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, generator=g)
    targets = torch.tensor([[3, 4, 2, 0], [5, 2, 0, 0]])
    real = targets != 0
    manual = -torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)[real].mean()
    assert torch.allclose(sequence_loss(logits, targets, pad_id=0), manual)
    # whatever the logits at padded positions, the loss is the same
    noisy = logits.clone()
    noisy[~real] = 100 * torch.randn(int((~real).sum()), 6, generator=g)
    assert torch.allclose(sequence_loss(noisy, targets, 0), manual)
    # and they receive no gradient
    leaf = logits.clone().requires_grad_()
    sequence_loss(leaf, targets, 0).backward()
    assert torch.all(leaf.grad[~real] == 0) and torch.all(leaf.grad[real].abs().sum(-1) > 0)


def test_sequence_loss_uses_the_given_pad_id_and_checks_shapes():
    logits = torch.zeros(1, 3, 5)
    logits[0, 2, 4] = 50.0  # confidently wrong where the target is padding id 4
    a = sequence_loss(logits, torch.tensor([[1, 1, 4]]), pad_id=4)
    assert torch.allclose(a, torch.log(torch.tensor(5.0)))
    with pytest.raises(ValueError, match="targets"):
        sequence_loss(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="logits"):
        sequence_loss(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))


def test_seq2seq_step_returns_loss_and_token_accuracy():
    pairs, vocab = make_sequence_task("reverse", 6, 2, 5, n_symbols=4, seed=0)
    batch = collate(pairs, vocab, vocab)
    model = build_plain_model(vocab, length_experiment_config(emb_dim=4, hidden_size=8))
    loss, metrics = seq2seq_step()(model, batch)
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    assert loss.requires_grad and torch.allclose(loss, sequence_loss(logits, batch.tgt_out))
    real = batch.tgt_out != 0
    expected = ((logits.argmax(-1) == batch.tgt_out) & real).sum().item() / real.sum().item()
    assert metrics["train_token_accuracy"] == pytest.approx(expected)


# ---------------------------------------------------------------------------- evaluation
class ScriptedModel(nn.Module):
    """Answers with a Python function of each source; the output framed like greedy_decode's."""

    def __init__(self, vocab, answer):
        super().__init__()
        self.vocab, self.answer = vocab, answer
        self.calls = []

    def greedy_decode(self, src, src_lengths, max_len):
        self.calls.append(max_len)
        rows = []
        for ids, n in zip(src.tolist(), src_lengths.tolist()):
            tokens = self.answer(self.vocab.decode(ids[:n]))
            row = self.vocab.encode(tokens)[:max_len]
            rows.append(row)
        width = max(len(r) for r in rows)
        return torch.tensor([r + [0] * (width - len(r)) for r in rows]), None


def test_evaluate_seq2seq_scores_by_length_and_position():
    vocab = Vocab(list("abc"))
    pairs = [
        (list("ab"), list("ba")),     # answered right
        (list("ab"), list("ba")),     # stops early: "b" then <eos>
        (list("abc"), list("cba")),   # first token wrong
        (list("cab"), list("bac")),   # never says <eos> (runs on)
    ]

    def answer(src):
        text = "".join(src)
        return {"ab": ["b", "a", "<eos>"], "abc": ["a", "b", "a", "<eos>"],
                "cab": ["b", "a", "c", "c", "c", "c", "c", "c", "c", "c"]}[text]

    # the two "ab" sources are identical, so make the second one stop early by position
    seen = {"ab": 0}

    def answer_with_memory(src):
        text = "".join(src)
        if text == "ab":
            seen["ab"] += 1
            return ["b", "a", "<eos>"] if seen["ab"] == 1 else ["b", "<eos>"]
        return answer(src)

    model = ScriptedModel(vocab, answer_with_memory)
    model.train()
    report = evaluate_seq2seq(model, pairs, vocab, vocab, batch_size=3, extra_len=2)
    assert model.training  # mode restored
    assert model.calls == [4 + 2, 4 + 2]  # longest target + <eos> + extra_len, per batch
    assert report.lengths == [2, 3]
    assert report.count_by_length == {2: 2, 3: 2}
    # length 2: targets "ba<eos>" twice; answers "ba<eos>" (3/3) and "b<eos>" (1/3: <eos> at 1 is wrong, 2 missing)
    assert report.token_accuracy_by_length[2] == pytest.approx(4 / 6)
    assert report.exact_match_by_length[2] == pytest.approx(1 / 2)
    assert report.position_errors[2] == pytest.approx([0.0, 0.5, 0.5])
    # length 3: "aba<eos>" vs "cba<eos>" (3/4); "baccc…" vs "bac<eos>" (3/4, not exact)
    assert report.token_accuracy_by_length[3] == pytest.approx(6 / 8)
    assert report.exact_match_by_length[3] == 0.0
    assert report.position_errors[3] == pytest.approx([0.5, 0.0, 0.0, 0.5])
    assert report.token_accuracy == pytest.approx(10 / 14)
    assert report.exact_match == pytest.approx(1 / 4)
    assert report.predictions[0] == ["b", "a"] and report.predictions[1] == ["b"]
    with pytest.raises(ValueError, match="empty"):
        evaluate_seq2seq(model, [], vocab, vocab)


def test_evaluate_seq2seq_never_counts_padding_and_handles_ragged_targets():
    """Targets of one source length but different lengths: each position is divided by the
    number of examples that reach it."""
    vocab = Vocab(list("abc"))
    pairs = [(list("ab"), list("a")), (list("ba"), list("abc"))]
    model = ScriptedModel(vocab, lambda src: ["a", "<eos>"] if src == list("ab") else ["a", "b", "b", "<eos>"])
    report = evaluate_seq2seq(model, pairs, vocab, vocab)
    assert report.count_by_length == {2: 2}
    assert report.position_errors[2] == pytest.approx([0.0, 0.0, 1.0, 0.0])
    assert report.token_accuracy == pytest.approx(5 / 6)
    assert report.exact_match == pytest.approx(0.5)


def test_evaluate_seq2seq_on_a_real_model_and_perfect_answers():
    pairs, vocab = make_sequence_task("reverse", 30, 2, 6, n_symbols=4, seed=0)
    perfect = evaluate_seq2seq(ScriptedModel(vocab, lambda s: s[::-1] + ["<eos>"]), pairs, vocab, vocab)
    assert perfect.exact_match == perfect.token_accuracy == 1.0
    assert all(max(e) == 0 for e in perfect.position_errors.values())
    model = build_plain_model(vocab, length_experiment_config(emb_dim=4, hidden_size=8))
    report = evaluate_seq2seq(model, pairs, vocab, vocab, batch_size=7)
    assert 0.0 <= report.token_accuracy <= 1.0 and len(report.predictions) == 30
    assert sum(report.count_by_length.values()) == 30


# ---------------------------------------------------------------------------- the shared plots
def test_accuracy_vs_length_and_error_by_position_draw_every_curve():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plots import accuracy_vs_length, error_by_position

    pairs, vocab = make_sequence_task("reverse", 40, 2, 5, n_symbols=4, seed=0)
    perfect = evaluate_seq2seq(ScriptedModel(vocab, lambda s: s[::-1] + ["<eos>"]), pairs, vocab, vocab)
    silent = evaluate_seq2seq(ScriptedModel(vocab, lambda s: ["<eos>"]), pairs, vocab, vocab)
    ax = accuracy_vs_length({"perfect": perfect, "silent": silent}, chance=0.25, title="t")
    lines = ax.get_lines()
    assert len(lines) == 5  # two curves per model and the chance line
    assert list(lines[0].get_xdata()) == perfect.lengths
    assert list(lines[0].get_ydata()) == [1.0] * len(perfect.lengths)
    assert list(lines[2].get_ydata()) == [0.0] * len(silent.lengths)
    assert len(accuracy_vs_length({"p": perfect}, token_accuracy=False).get_lines()) == 1
    ax = error_by_position({"S = 5": silent.position_errors[5]})
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="empty"):
        accuracy_vs_length({})
    with pytest.raises(ValueError, match="empty"):
        error_by_position({})
    plt.close("all")


def test_position_error_rates():
    from utils.seq2seq_training import position_error_rates

    targets = torch.tensor([[4, 5, 6, 2], [4, 2, 0, 0], [5, 6, 2, 0]])
    predictions = torch.tensor([[4, 6, 6, 2], [5, 2, 9, 9], [5, 5, 5, 5]])
    rates = position_error_rates(predictions, targets, pad_id=0)
    assert rates.dtype == torch.float32
    assert rates.tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2, 0.0])
    # a column of padding only gives 0, not NaN
    wide = position_error_rates(torch.cat([predictions, torch.ones(3, 1, dtype=torch.long)], 1),
                                torch.cat([targets, torch.zeros(3, 1, dtype=torch.long)], 1))
    assert wide[-1] == 0 and not torch.isnan(wide).any()
    with pytest.raises(ValueError, match="predictions and targets"):
        position_error_rates(predictions[:, :2], targets)


def test_compare_tokens_colours_right_and_wrong():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plots import compare_tokens

    ax = compare_tokens(list("abcd"), list("abd"), title="x")
    image = ax.get_images()[0].get_array()
    assert image.shape == (2, 4, 3)
    green, red = (0.74, 0.90, 0.74), (0.97, 0.66, 0.66)
    assert [tuple(np.round(image[1, i], 2)) for i in range(4)] == [green, green, red, red]
    texts = [t.get_text() for t in ax.texts]
    assert texts == list("abcd") + list("abd")
    ax = compare_tokens(list("ab"), list("abcc"))  # extra predicted tokens are wrong
    assert ax.get_images()[0].get_array().shape == (2, 4, 3)
    plt.close("all")
