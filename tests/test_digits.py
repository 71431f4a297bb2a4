"""Tests for utils.data.digits: seeded canvases of scikit-learn's handwritten digits."""

import numpy as np
import pytest
import torch

from utils.data import DIGIT_VOCAB, CanvasBatch, DigitCanvases, canvas_batches, digit_split, load_digit_images, make_digit_canvases, region_windows


def test_load_digit_images_scaled_and_cached():
    images, labels = load_digit_images()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert load_digit_images()[0] is images  # loaded once


def test_load_digit_images_matches_scikit_learn():
    from sklearn.datasets import load_digits

    images, labels = load_digit_images()
    digits = load_digits()
    assert np.array_equal(images, (digits.images / 16.0).astype(np.float32))
    assert np.array_equal(labels, digits.target)


def test_digit_split_disjoint_complete_and_seeded():
    train, test = digit_split(n_test=300, seed=0)
    assert len(test) == 300 and len(train) == 1497
    assert not set(train) & set(test)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1797))
    assert np.array_equal(digit_split(300, seed=0)[1], test)
    assert not np.array_equal(digit_split(300, seed=1)[1], test)
    with pytest.raises(ValueError, match="n_test"):
        digit_split(n_test=0)


def test_canvases_shapes_and_captions():
    data = make_digit_canvases(50, split="train", seed=3)
    assert isinstance(data, DigitCanvases) and len(data) == 50
    assert data.images.shape == (50, 1, 16, 36) and data.images.dtype == torch.float32
    assert data.digits.shape == (50, 3) and data.boxes.shape == (50, 3, 4)
    assert data.grid == (3, 8)
    assert torch.equal(data.captions, data.digits + DIGIT_VOCAB.stoi["0"])
    assert DIGIT_VOCAB.decode(data.captions[0]) == [str(d) for d in data.digits[0].tolist()]


def test_canvases_contain_the_named_digits_left_to_right():
    images, labels = load_digit_images()
    data = make_digit_canvases(40, split="test", seed=1)
    _, test = digit_split()
    for n in range(40):
        lefts = data.boxes[n, :, 1].tolist()
        assert lefts == sorted(lefts)  # captions read left to right
        for k in range(3):
            src = int(data.source[n, k])
            assert src in set(test.tolist())
            assert int(data.digits[n, k]) == labels[src]
            y, x = int(data.tiles[n, k, 0]), int(data.tiles[n, k, 1])
            assert y % 4 == 0 and x % 4 == 0  # on the region lattice
            assert np.allclose(data.images[n, 0, y:y + 8, x:x + 8].numpy(), images[src])
            top, left, bottom, right = data.boxes[n, k].tolist()
            ink = np.argwhere(data.images[n, 0].numpy()[y:y + 8, x:x + 8] > 0)
            assert (top, left) == (y + ink[:, 0].min(), x + ink[:, 1].min())
            assert (bottom, right) == (y + ink[:, 0].max() + 1, x + ink[:, 1].max() + 1)
        # tiles never overlap, and outside the tiles the canvas is blank
        blank = data.images[n, 0].clone()
        for k in range(3):
            y, x = data.tiles[n, k].tolist()
            blank[y:y + 8, x:x + 8] = 0
        assert blank.abs().sum() == 0
        xs = data.tiles[n, :, 1].tolist()
        assert all(b - a >= 8 for a, b in zip(xs, xs[1:]))


def test_canvases_seeded_and_splits_do_not_share_digits():
    a = make_digit_canvases(20, "train", seed=5)
    b = make_digit_canvases(20, "train", seed=5)
    c = make_digit_canvases(20, "train", seed=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.digits, b.digits)
    assert not torch.equal(a.images, c.images)
    train = make_digit_canvases(300, "train", seed=0)
    test = make_digit_canvases(300, "test", seed=0)
    assert not set(train.source.flatten().tolist()) & set(test.source.flatten().tolist())


def test_canvases_use_every_position():
    data = make_digit_canvases(2000, "train", seed=0, n_digits=2, height=12, width=28)
    assert data.grid == (2, 6)
    assert set(data.tiles[:, :, 0].flatten().tolist()) == {0, 4}
    assert set(data.tiles[:, :, 1].flatten().tolist()) == {0, 4, 8, 12, 16, 20}


def test_canvases_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        make_digit_canvases(4, split="valid")
    with pytest.raises(ValueError, match="width"):
        make_digit_canvases(4, n_digits=5, width=36)
    with pytest.raises(ValueError, match="height"):
        make_digit_canvases(4, height=10)


def test_region_windows_cover_the_grid():
    windows = region_windows((3, 8))
    assert windows.shape == (24, 4)
    assert windows[0].tolist() == [0, 0, 8, 8]
    assert windows[9].tolist() == [4, 4, 12, 12]  # row 1, column 1
    assert windows[-1].tolist() == [8, 28, 16, 36]


def test_canvas_batches_seeded_batches():
    data = make_digit_canvases(30, "train", seed=0)
    sample = canvas_batches(data, batch_size=8, seed=0)
    batch = sample(1)
    assert isinstance(batch, CanvasBatch)
    assert batch.images.shape == (8, 1, 16, 36)
    assert batch.tgt_out.shape == (8, 3) and batch.tgt_in.shape == (8, 3)
    assert (batch.tgt_in[:, 0] == DIGIT_VOCAB.sos_id).all()
    assert torch.equal(batch.tgt_in[:, 1:], batch.tgt_out[:, :-1])
    again = canvas_batches(data, batch_size=8, seed=0)
    assert torch.equal(again(1).images, batch.images)
    assert not torch.equal(sample(2).tgt_out, batch.tgt_out) or not torch.equal(
        sample(3).tgt_out, batch.tgt_out)
