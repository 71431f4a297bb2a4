"""COURSE_SEED_OFFSET: one knob that shifts every model seed and leaves every data set alone."""

import pytest
import torch

from utils.bahdanau import build_bahdanau_model
from utils.data import BucketBatches, iterate_batches, make_date_task, make_sequence_task
from utils.data.digits import canvas_batches, make_digit_canvases
from utils.device import model_seed, seed_everything, seed_offset
from utils.length_experiment import build_plain_model, length_experiment_config
from utils.luong import build_luong_model


def test_no_offset_leaves_every_seed_as_it_is(monkeypatch):
    monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
    assert seed_offset() == 0 and model_seed(0) == 0 and model_seed(7) == 7
    monkeypatch.setenv("COURSE_SEED_OFFSET", " ")
    assert seed_offset() == 0


def test_offset_shifts_by_a_stride_so_that_seeds_of_one_notebook_never_meet_another_offsets(monkeypatch):
    monkeypatch.setenv("COURSE_SEED_OFFSET", "3")
    assert seed_offset() == 3 and model_seed(0) == 3000 and model_seed(2) == 3002
    seeds = {model_seed(s) for s in range(3)}
    monkeypatch.setenv("COURSE_SEED_OFFSET", "4")
    assert not seeds & {model_seed(s) for s in range(3)}


@pytest.mark.parametrize("bad", ["x", "1.5", "3a"])
def test_a_malformed_offset_is_named(monkeypatch, bad):
    monkeypatch.setenv("COURSE_SEED_OFFSET", bad)
    with pytest.raises(ValueError, match="COURSE_SEED_OFFSET must be an integer"):
        model_seed(0)
    with pytest.raises(ValueError, match="COURSE_SEED_OFFSET"):
        seed_everything(0)


def test_model_seed_rejects_what_is_not_an_int():
    for bad in (1.0, True, "1"):
        with pytest.raises(ValueError, match="seed must be an int"):
            model_seed(bad)


def test_seed_everything_follows_the_offset_and_says_so(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
    seed_everything(0)
    base = torch.rand(3)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("COURSE_SEED_OFFSET", "1")
    seed_everything(0)
    shifted = torch.rand(3)
    assert "using seed 1000 (COURSE_SEED_OFFSET=1)" in capsys.readouterr().out
    assert not torch.equal(base, shifted)
    torch.manual_seed(1000)
    assert torch.equal(torch.rand(3), shifted)


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_model_builders_follow_the_offset(monkeypatch):
    cfg = length_experiment_config()
    _, _, vocab = cfg.data()
    builders = {
        "bahdanau": lambda: build_bahdanau_model(12, 12, 8, 8, 8, seed=0),
        "luong": lambda: build_luong_model(12, 12, 8, 8, seed=0),
        "plain": lambda: build_plain_model(vocab, cfg),
    }
    for name, build in builders.items():
        monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
        a, b = _weights(build()), _weights(build())
        monkeypatch.setenv("COURSE_SEED_OFFSET", "2")
        c, d = _weights(build()), _weights(build())
        assert torch.equal(a, b) and torch.equal(c, d), name        # repeatable under each offset
        assert not torch.equal(a, c), name                         # and another model under another


def test_batch_order_follows_the_offset_but_the_data_do_not(monkeypatch):
    def snapshot():
        pairs, vocab = make_sequence_task("reverse", 200, 3, 6, 5, seed=1)
        dates = make_date_task(50, seed=1).pairs
        canvases = make_digit_canvases(40, split="test", seed=2)
        order = [b.src.tolist() for b in BucketBatches(pairs, vocab, vocab, 16, seed=0)]
        once = [b.src.tolist() for b in iterate_batches(pairs, vocab, vocab, 16, seed=0)]
        drawn = canvas_batches(canvases, batch_size=8, seed=0)(0).images
        return pairs, dates, canvases.images, order, once, drawn

    monkeypatch.delenv("COURSE_SEED_OFFSET", raising=False)
    pairs, dates, images, order, once, drawn = snapshot()
    monkeypatch.setenv("COURSE_SEED_OFFSET", "5")
    pairs5, dates5, images5, order5, once5, drawn5 = snapshot()
    assert pairs == pairs5 and dates == dates5 and torch.equal(images, images5)   # the same data
    assert order != order5 and once != once5 and not torch.equal(drawn, drawn5)   # another order
    assert sorted(sum(order, [])) == sorted(sum(order5, []))                        # of the same pairs
