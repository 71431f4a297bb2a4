"""Vocabularies, seeded synthetic sequence tasks, padding and batching.

A sequence-to-sequence example is a pair of token lists ``(source, target)``. A
:class:`Vocab` maps tokens to ids with four special tokens first::

    <pad> = 0   padding, never counted in losses or accuracies
    <sos> = 1   start of sequence: the decoder's first input
    <eos> = 2   end of sequence: the decoder's last output
    <unk> = 3   a token the vocabulary does not know

:func:`collate` turns a list of pairs into a :class:`Batch` of padded tensors, batch first:
``src (B, S)``, ``src_lengths (B,)``, ``tgt_in (B, T)`` (``<sos>`` + target, the decoder's
teacher-forced inputs) and ``tgt_out (B, T)`` (target + ``<eos>``, what it must predict).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

from utils.device import model_seed
from utils.validate import require_int

__all__ = [
    "PAD", "SOS", "EOS", "UNK", "Vocab", "Batch", "collate", "iterate_batches", "BucketBatches",
    "make_sequence_task", "SEQUENCE_TASKS",
]

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)


class Vocab:
    """Token <-> id mapping with ``<pad>``, ``<sos>``, ``<eos>``, ``<unk>`` as ids 0–3.

    Args:
        tokens: the ordinary tokens, in the order their ids should follow (duplicates ignored).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.itos: list[str] = list(SPECIALS)
        for tok in tokens:
            if tok not in self.itos:
                self.itos.append(tok)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        self.pad_id, self.sos_id, self.eos_id, self.unk_id = (self.stoi[t] for t in SPECIALS)

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self.itos[:12])}{' …' if len(self) > 12 else ''})"

    def encode(self, tokens: Sequence[str], sos: bool = False, eos: bool = False) -> list[int]:
        """Token list -> id list, optionally framed by ``<sos>``/``<eos>``."""
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return ([self.sos_id] if sos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Sequence[int] | torch.Tensor, strip: bool = True) -> list[str]:
        """Id list -> token list. With ``strip``, stop at ``<eos>`` and drop ``<pad>``/``<sos>``."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.sos_id):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return out


class Batch(NamedTuple):
    """A padded batch (batch first). ``to_device`` in :mod:`utils.training` moves all of it."""

    src: torch.Tensor          # (B, S) source ids, padded with <pad>
    src_lengths: torch.Tensor  # (B,) true source lengths
    tgt_in: torch.Tensor       # (B, T) <sos> y_1 … y_{T-1}: teacher-forced decoder inputs
    tgt_out: torch.Tensor      # (B, T) y_1 … y_{T-1} <eos>: what the decoder must predict
    tgt_lengths: torch.Tensor  # (B,) target lengths including <eos>


def _pad(rows: list[list[int]], pad_id: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)


def collate(pairs: Sequence[tuple[Sequence[str], Sequence[str]]], src_vocab: Vocab,
            tgt_vocab: Vocab) -> Batch:
    """Pad a list of ``(source tokens, target tokens)`` pairs into a :class:`Batch`.

    Raises:
        ValueError: no pairs, or a source with no token.
    """
    if not pairs:
        raise ValueError("pairs is empty")
    src = [src_vocab.encode(s) for s, _ in pairs]
    if any(len(s) == 0 for s in src):
        raise ValueError("every source needs at least one token")
    tgt_in = [tgt_vocab.encode(t, sos=True) for _, t in pairs]
    tgt_out = [tgt_vocab.encode(t, eos=True) for _, t in pairs]
    return Batch(
        src=_pad(src, src_vocab.pad_id),
        src_lengths=torch.tensor([len(s) for s in src], dtype=torch.long),
        tgt_in=_pad(tgt_in, tgt_vocab.pad_id),
        tgt_out=_pad(tgt_out, tgt_vocab.pad_id),
        tgt_lengths=torch.tensor([len(t) for t in tgt_out], dtype=torch.long),
    )


def iterate_batches(pairs: Sequence, src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int,
                    shuffle: bool = True, seed: int = 0) -> Iterator[Batch]:
    """Yield batches over ``pairs`` once, in an order shuffled with ``model_seed(seed)``
    (``COURSE_SEED_OFFSET`` shifts the order; the pairs are the same).

    This is a generator: it is spent after one pass, so :func:`utils.training.fit` cannot cycle
    it. For training over several passes use :class:`BucketBatches`, which reshuffles each pass.

    Raises:
        TypeError, ValueError: at the call (not at the first batch): ``batch_size`` not an int of
            at least 1; ``pairs`` empty.
    """
    require_int("batch_size", batch_size, minimum=1)
    if len(pairs) == 0:
        raise ValueError("pairs is empty")
    return _iterate_batches(pairs, src_vocab, tgt_vocab, batch_size, shuffle, seed)


def _iterate_batches(pairs, src_vocab, tgt_vocab, batch_size, shuffle, seed) -> Iterator[Batch]:
    order = list(range(len(pairs)))
    if shuffle:
        random.Random(model_seed(seed)).shuffle(order)
    for start in range(0, len(order), batch_size):
        yield collate([pairs[i] for i in order[start:start + batch_size]], src_vocab, tgt_vocab)


class BucketBatches:
    """Batches whose sources all have the same length, reshuffled on every pass.

    Padding a length-5 source to 60 wastes most of a recurrent network's steps (and packing
    padded sequences is slow on a CPU), so the pairs are grouped by source length, each group is
    shuffled and cut into batches of at most ``batch_size``, and the batches are served in random
    order: no source is ever padded. Unlike :func:`iterate_batches`'s generator this object
    can be iterated again and again (as :func:`utils.training.fit` does): pass ``k`` reshuffles
    with seed ``model_seed(seed) + k``, so the whole stream is fixed by ``seed`` (and
    ``COURSE_SEED_OFFSET``, which shifts the order, never the pairs).

    Args:
        pairs: ``(source tokens, target tokens)`` pairs.
        src_vocab, tgt_vocab: their vocabularies.
        batch_size: examples per batch (the last batch of a pass may be smaller).
        seed: fixes the order of every pass.

    Raises:
        TypeError: ``batch_size`` not an int.
        ValueError: ``pairs`` empty; ``batch_size`` below 1.
    """

    def __init__(self, pairs: Sequence, src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int,
                 seed: int = 0) -> None:
        if not pairs:
            raise ValueError("pairs is empty")
        require_int("batch_size", batch_size, minimum=1)
        self.pairs, self.src_vocab, self.tgt_vocab = pairs, src_vocab, tgt_vocab
        self.batch_size, self.seed, self.passes = batch_size, seed, 0

        self.groups: dict[int, list[int]] = {}
        for i, (src, _) in enumerate(pairs):
            self.groups.setdefault(len(src), []).append(i)

    def __len__(self) -> int:
        return sum(-(-len(g) // self.batch_size) for g in self.groups.values())

    def __iter__(self) -> Iterator[Batch]:
        rng = random.Random(model_seed(self.seed) + self.passes)
        self.passes += 1
        chunks = []
        for length in sorted(self.groups):
            group = list(self.groups[length])
            rng.shuffle(group)
            chunks += [group[k:k + self.batch_size] for k in range(0, len(group), self.batch_size)]
        rng.shuffle(chunks)
        for chunk in chunks:
            yield collate([self.pairs[i] for i in chunk], self.src_vocab, self.tgt_vocab)


# ----------------------------------------------------------------------------------------------
# Synthetic tasks whose difficulty grows with length
# ----------------------------------------------------------------------------------------------
SEQUENCE_TASKS = {
    "copy": lambda seq: list(seq),
    "reverse": lambda seq: list(reversed(seq)),
    "sort": lambda seq: sorted(seq),
}


def make_sequence_task(kind: str, n: int, min_len: int, max_len: int, n_symbols: int = 10,
                       seed: int = 0, lengths: str = "uniform",
                       ) -> tuple[list[tuple[list[str], list[str]]], Vocab]:
    """``n`` random examples of copying, reversing or sorting a string of symbols.

    Symbols are the first ``n_symbols`` of ``a``–``z``, so ``sort`` is alphabetical.

    Args:
        kind: ``"copy"``, ``"reverse"`` or ``"sort"``.
        n: number of examples.
        min_len, max_len: the range of source lengths.
        n_symbols: alphabet size.
        seed: the same seed gives the same examples.
        lengths: how lengths are drawn: ``"uniform"`` in ``[min_len, max_len]``, or
            ``"equal_tokens"``, with probability proportional to ``1 / length``, so that every
            length contributes about the same number of tokens (short sequences are not drowned
            out by long ones in a loss averaged over tokens).

    Returns:
        ``(pairs, vocab)``: pairs of token lists, and one vocabulary for source and target
        (``n = 0`` gives no pairs).

    Raises:
        TypeError: ``n``, ``min_len``, ``max_len`` or ``n_symbols`` not ints.
        ValueError: an unknown ``kind`` or ``lengths``; ``n`` negative; lengths or ``n_symbols``
            out of range.
    """
    require_int("n", n, minimum=0)
    for name, value in (("min_len", min_len), ("max_len", max_len), ("n_symbols", n_symbols)):
        require_int(name, value)
    if kind not in SEQUENCE_TASKS:
        raise ValueError(f"kind must be one of {sorted(SEQUENCE_TASKS)}, got {kind!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if not 2 <= n_symbols <= 26:
        raise ValueError(f"n_symbols must be between 2 and 26, got {n_symbols}")
    if lengths not in ("uniform", "equal_tokens"):
        raise ValueError(f"lengths must be 'uniform' or 'equal_tokens', got {lengths!r}")
    symbols = [chr(ord("a") + i) for i in range(n_symbols)]
    rng = random.Random(seed)
    choices = list(range(min_len, max_len + 1))
    weights = [1.0 / length for length in choices]
    pairs = []
    for _ in range(n):
        if lengths == "uniform":
            length = rng.randint(min_len, max_len)
        else:
            length = rng.choices(choices, weights)[0]
        seq = [rng.choice(symbols) for _ in range(length)]
        pairs.append((seq, SEQUENCE_TASKS[kind](seq)))
    return pairs, Vocab(symbols)
