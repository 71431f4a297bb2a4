"""Chapter 1's experiment: accuracy against source length, and the plain model it is run on.

Reversing strings of 4–40 symbols makes the fixed-length context's limit visible: a plain GRU
encoder–decoder gets the shortest ones right and none of the longer ones. Chapter 7 trains
Bahdanau's attention decoder and a Transformer on the very same data, so the whole experiment —
task, lengths, sizes, seeds, optimiser — lives in one frozen :class:`LengthExperiment`::

    cfg = length_experiment_config()              # or length_experiment_config(steps=50) to try things
    train, test, vocab = cfg.data()               # test: n_test_per_length pairs per test length
    model = build_plain_model(vocab, cfg)         # the chapter-1 model, the same weights every time
    optimizer, scheduler = cfg.optimizer(model)   # Adam, cosine-decayed to 0 over cfg.steps
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from utils.data.sequences import Vocab, make_sequence_task
from utils.device import model_seed
from utils.seq2seq import Encoder, PlainDecoder, Seq2Seq

__all__ = ["LengthExperiment", "length_experiment_config", "build_plain_model"]


@dataclass(frozen=True)
class LengthExperiment:
    """Everything that defines the accuracy-versus-length experiment.

    Chapter 1 trains a plain encoder–decoder with it; chapter 7 trains an attention decoder and a
    Transformer on the very same data (same task, lengths, sizes and seeds) and draws the same plot.

    Reversing strings of 4–40 symbols: a plain GRU encoder–decoder with 96 units gets the
    shortest ones right and none of the longer ones; an attention decoder gets them all right.
    Lengths stop at 40 because the plain model has long collapsed by then (exact match is zero
    from about 14 symbols on), while an attention decoder's cost on a CPU grows with the square
    of the length. Training lengths are uniform (``length_distribution``; ``"equal_tokens"``
    helps the plain model on short sources but starves an attention decoder of long ones).
    """

    task: str = "reverse"
    n_symbols: int = 10
    min_len: int = 4
    max_len: int = 40
    n_train: int = 20_000
    length_distribution: str = "uniform"
    train_seed: int = 1
    test_lengths: tuple[int, ...] = tuple(range(4, 41, 2))
    n_test_per_length: int = 100
    test_seed: int = 2
    emb_dim: int = 32
    hidden_size: int = 96
    batch_size: int = 64
    steps: int = 500
    lr: float = 5e-3  # Adam's, decayed to 0 along a cosine over the steps
    model_seed: int = 0

    def data(self) -> tuple[list, list, Vocab]:
        """``(train_pairs, test_pairs, vocab)``. Test pairs come ``n_test_per_length`` per test
        length, in the order of ``test_lengths``; the test seed differs from the training seed."""
        train, vocab = make_sequence_task(self.task, self.n_train, self.min_len, self.max_len,
                                          self.n_symbols, seed=self.train_seed,
                                          lengths=self.length_distribution)
        test = []
        for i, length in enumerate(self.test_lengths):
            pairs, _ = make_sequence_task(self.task, self.n_test_per_length, length, length,
                                          self.n_symbols, seed=self.test_seed * 1000 + i)
            test += pairs
        return train, test, vocab

    def optimizer(self, model: nn.Module):
        """``(optimizer, scheduler)``: Adam at ``lr``, decayed to 0 along a cosine over ``steps``
        (pass both to :func:`utils.training.fit`)."""
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.steps)


def length_experiment_config(**overrides) -> LengthExperiment:
    """The configuration chapters 1 and 7 share; keyword arguments replace fields (for quick
    variations and tests), e.g. ``length_experiment_config(steps=50)``."""
    return LengthExperiment(**overrides)


def build_plain_model(vocab: Vocab, cfg: LengthExperiment, cell: str = "gru") -> Seq2Seq:
    """The chapter-1 model for ``cfg``: a unidirectional encoder and a :class:`~utils.seq2seq.PlainDecoder`,
    both with ``cfg.hidden_size`` units of type ``cell``, on the CPU. Its weights come from
    ``torch.manual_seed(model_seed(cfg.model_seed))`` inside :func:`torch.random.fork_rng`: the
    same model every time (for a given ``COURSE_SEED_OFFSET``), and the caller's random state is
    left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed(cfg.model_seed))
        encoder = Encoder(len(vocab), cfg.emb_dim, cfg.hidden_size, cell=cell, pad_id=vocab.pad_id)
        decoder = PlainDecoder(len(vocab), cfg.emb_dim, cfg.hidden_size, encoder.output_size,
                               cell=cell, pad_id=vocab.pad_id)
    return Seq2Seq(encoder, decoder, vocab.sos_id, vocab.eos_id, vocab.pad_id)
