"""Canvases of real handwritten digits, for captioning with attention (chapter 3).

The digits are scikit-learn's bundled 8×8 handwritten digits (1,797 images, values 0–16, scaled
here to [0, 1]); they ship inside the package, so nothing is downloaded. A canvas holds
``n_digits`` of them side by side, and its caption is the digits read from left to right::

    canvas  (1, H, W)        e.g. 16 × 36 pixels
    digits  (n_digits,)      labels 0–9, left to right
    boxes   (n_digits, 4)    each digit's ink box: top, left, bottom, right (bottom/right excluded)

Digits sit on a lattice of 4 pixels, the stride of the region encoder in :mod:`utils.captioning`,
so that some region's 8×8 window holds exactly one whole digit. Vertical positions vary too, so
the model must find each digit in two dimensions. The 1,797 images are split once (with a seed)
into training and held-out digits: held-out canvases are made only of digits never seen in
training.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from utils.data.sequences import Vocab
from utils.device import model_seed
from utils.validate import require_int

__all__ = [
    "DIGIT_VOCAB", "DIGIT_SIZE", "LATTICE", "load_digit_images", "digit_split", "DigitCanvases",
    "make_digit_canvases", "region_windows", "CanvasBatch", "canvas_batches",
]

DIGIT_SIZE = 8  # the digits are 8×8 pixels
LATTICE = 4  # digits are placed at multiples of 4 pixels: the encoder's stride
DIGIT_VOCAB = Vocab([str(d) for d in range(10)])  # <pad> <sos> <eos> <unk> 0 … 9


@lru_cache(maxsize=1)
def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits, loaded once: ``(images (1797, 8, 8) in [0, 1], labels (1797,))``.

    The file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``: 64 pixel values and the
    label on each row) is read directly, which spares a notebook the second or two it takes to
    import ``sklearn.datasets``; where the file is not found, :func:`sklearn.datasets.load_digits`
    reads it.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / "datasets" / "data" / "digits.csv.gz" if folders else None
    if path is not None and path.is_file():
        data = np.loadtxt(path, delimiter=",")  # (1797, 65): pixels 0-16, then the label
        pixels, target = data[:, :-1].reshape(-1, DIGIT_SIZE, DIGIT_SIZE), data[:, -1]
    else:  # pragma: no cover - a scikit-learn that keeps the file elsewhere
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, target = digits.images, digits.target
    images = (pixels / 16.0).astype(np.float32)
    images.setflags(write=False)
    labels = target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def digit_split(n_test: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split the 1,797 digit images into ``(train indices, test indices)``, disjoint, with a seed."""
    n = len(load_digit_images()[1])
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and {n - 1}, got {n_test}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


@dataclass
class DigitCanvases:
    """A set of canvases and what is on them.

    Attributes:
        images: ``(N, 1, H, W)`` float32 in [0, 1].
        digits: ``(N, K)`` the labels 0–9, left to right.
        captions: ``(N, K)`` the same as word ids of :data:`DIGIT_VOCAB`.
        boxes: ``(N, K, 4)`` each digit's ink box ``(top, left, bottom, right)``, bottom and
            right excluded: where the digit really is, for measuring where the model looks.
        tiles: ``(N, K, 2)`` the top-left corner ``(y, x)`` of each digit's 8×8 tile.
        source: ``(N, K)`` the index of each digit in scikit-learn's data set.
        grid: ``(rows, columns)`` of 8×8 region windows at stride 4 (see :func:`region_windows`).
    """

    images: torch.Tensor
    digits: torch.Tensor
    captions: torch.Tensor
    boxes: torch.Tensor
    tiles: torch.Tensor
    source: torch.Tensor
    grid: tuple[int, int]

    def __len__(self) -> int:
        return len(self.images)


def make_digit_canvases(n: int, split: str = "train", n_digits: int = 3, height: int = 16,
                        width: int = 36, seed: int = 0, n_test: int = 300) -> DigitCanvases:
    """``n`` canvases of ``n_digits`` handwritten digits each, placed left to right with a seed.

    Each digit's tile goes to a random row of the lattice and to random columns with at least
    8 pixels between neighbours, every arrangement that fits being possible.

    Args:
        n: how many canvases.
        split: ``"train"`` or ``"test"``: which digits of :func:`digit_split` to draw from.
        n_digits: digits per canvas (the caption's length).
        height, width: canvas size in pixels; ``height - 8`` and ``width - 8`` must be
            multiples of 4, and ``width`` must leave room for ``n_digits`` tiles side by side.
        seed: the seed for choosing digits and places.
        n_test: how many digit images are held out for ``"test"``.

    Returns:
        A :class:`DigitCanvases`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    for name, size in (("height", height), ("width", width)):
        if size < DIGIT_SIZE or (size - DIGIT_SIZE) % LATTICE:
            raise ValueError(f"{name} must be 8 plus a multiple of 4, got {size}")
    rows, cols = (height - DIGIT_SIZE) // LATTICE + 1, (width - DIGIT_SIZE) // LATTICE + 1
    span = DIGIT_SIZE // LATTICE  # lattice steps one tile takes
    free = width // LATTICE - span * n_digits  # lattice steps left over for gaps
    if n_digits < 1 or free < 0:
        raise ValueError(f"width {width} has no room for {n_digits} digits of 8 pixels side by side")
    images, labels = load_digit_images()
    pool = digit_split(n_test, seed=0)[0 if split == "train" else 1]
    rng = np.random.default_rng(seed)

    source = rng.choice(pool, size=(n, n_digits))  # (N, K) which digit images
    # Columns: sorted extra gaps in 0..free, then each tile shifted by the tiles before it.
    extra = np.sort(rng.integers(0, free + 1, size=(n, n_digits)), axis=1)
    x = LATTICE * (extra + span * np.arange(n_digits))  # (N, K) left edges, >= 8 apart
    y = LATTICE * rng.integers(0, rows, size=(n, n_digits))  # (N, K) top edges

    canvas = np.zeros((n, height, width), dtype=np.float32)
    offsets = np.arange(DIGIT_SIZE)
    batch = np.arange(n)[:, None, None]
    for k in range(n_digits):  # tiles never overlap, so plain assignment is enough
        r = (y[:, k, None] + offsets)[:, :, None]  # (N, 8, 1)
        c = (x[:, k, None] + offsets)[:, None, :]  # (N, 1, 8)
        canvas[batch, r, c] = images[source[:, k]]

    ink = images[source] > 0  # (N, K, 8, 8)
    ink_rows, ink_cols = ink.any(axis=3), ink.any(axis=2)  # (N, K, 8) each
    top = ink_rows.argmax(axis=2)
    bottom = DIGIT_SIZE - ink_rows[..., ::-1].argmax(axis=2)
    left = ink_cols.argmax(axis=2)
    right = DIGIT_SIZE - ink_cols[..., ::-1].argmax(axis=2)
    boxes = np.stack([y + top, x + left, y + bottom, x + right], axis=-1)  # (N, K, 4)

    digits = torch.as_tensor(labels[source])
    return DigitCanvases(
        images=torch.from_numpy(canvas).unsqueeze(1),  # (N, H, W) -> (N, 1, H, W)
        digits=digits,
        captions=digits + DIGIT_VOCAB.stoi["0"],
        boxes=torch.as_tensor(boxes),
        tiles=torch.as_tensor(np.stack([y, x], axis=-1)),
        source=torch.as_tensor(source),
        grid=(rows, cols),
    )


def region_windows(grid: tuple[int, int], size: int = DIGIT_SIZE,
                   stride: int = LATTICE) -> torch.Tensor:
    """The pixel window of each region, row by row: ``(rows·cols, 4)`` as (top, left, bottom, right)."""
    rows, cols = grid
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    top, left = (stride * r).flatten(), (stride * c).flatten()
    return torch.stack([top, left, top + size, left + size], dim=1)


class CanvasBatch(NamedTuple):
    """A batch for the captioner (moved to a device as a whole by ``utils.training.to_device``)."""

    images: torch.Tensor  # (B, 1, H, W)
    tgt_in: torch.Tensor  # (B, K) <sos> y_1 … y_{K-1}: the decoder's teacher-forced inputs
    tgt_out: torch.Tensor  # (B, K) y_1 … y_K: the words it must emit


def canvas_batches(data: DigitCanvases, batch_size: int = 64,
                   seed: int = 0) -> Callable[[int], CanvasBatch]:
    """A callable ``step -> CanvasBatch`` drawing random canvases from ``data`` (for ``fit``).

    The draws come from a generator seeded with ``model_seed(seed)``: ``COURSE_SEED_OFFSET``
    changes which canvases a batch holds, never the canvases themselves.

    Raises:
        TypeError: ``batch_size`` not an int.
        ValueError: ``batch_size`` below 1 (a batch of 0 canvases would train on nothing);
            ``data`` holds no canvas.
    """
    require_int("batch_size", batch_size, minimum=1)
    if len(data) == 0:
        raise ValueError("data holds no canvas (make_digit_canvases(n=0)): there is nothing to draw batches from")
    generator = torch.Generator().manual_seed(model_seed(seed))
    sos = torch.full((batch_size, 1), DIGIT_VOCAB.sos_id, dtype=torch.long)

    def sample(step: int) -> CanvasBatch:
        i = torch.randint(len(data), (batch_size,), generator=generator)
        captions = data.captions[i]
        return CanvasBatch(data.images[i], torch.cat([sos, captions[:, :-1]], dim=1), captions)

    return sample
