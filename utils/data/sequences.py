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

__all__ = [
    "PAD", "SOS", "EOS", "UNK", "Vocab", "Batch", "collate", "iterate_batches",
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
    """Pad a list of ``(source tokens, target tokens)`` pairs into a :class:`Batch`."""
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
    """Yield batches over ``pairs`` once (reshuffled with ``seed`` + pass number when cycled)."""
    order = list(range(len(pairs)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        yield collate([pairs[i] for i in order[start:start + batch_size]], src_vocab, tgt_vocab)


# ----------------------------------------------------------------------------------------------
# Synthetic tasks whose difficulty grows with length
# ----------------------------------------------------------------------------------------------
SEQUENCE_TASKS = {
    "copy": lambda seq: list(seq),
    "reverse": lambda seq: list(reversed(seq)),
    "sort": lambda seq: sorted(seq),
}


def make_sequence_task(kind: str, n: int, min_len: int, max_len: int, n_symbols: int = 10,
                       seed: int = 0) -> tuple[list[tuple[list[str], list[str]]], Vocab]:
    """``n`` random examples of copying, reversing or sorting a string of symbols.

    Lengths are uniform in ``[min_len, max_len]``; symbols are the first ``n_symbols`` of
    ``a``–``z``, so ``sort`` is alphabetical.

    Returns:
        ``(pairs, vocab)``: pairs of token lists, and one vocabulary for source and target.
    """
    if kind not in SEQUENCE_TASKS:
        raise ValueError(f"kind must be one of {sorted(SEQUENCE_TASKS)}, got {kind!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if not 2 <= n_symbols <= 26:
        raise ValueError(f"n_symbols must be between 2 and 26, got {n_symbols}")
    symbols = [chr(ord("a") + i) for i in range(n_symbols)]
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        seq = [rng.choice(symbols) for _ in range(rng.randint(min_len, max_len))]
        pairs.append((seq, SEQUENCE_TASKS[kind](seq)))
    return pairs, Vocab(symbols)
