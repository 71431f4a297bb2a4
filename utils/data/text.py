"""A small synthetic text-classification task, generated with a seed: review-like sentences.

Each sentence is filler words with one or three *cue* words scattered anywhere in it. A cue is
positive (``great``, ``superb`` …) or negative (``dull``, ``awful`` …); ``not`` right before a cue
flips it. The label is the sign of the sum of the cues, so it depends on a few tokens wherever
they are, which is what makes attention weights over the tokens easy to read::

    the plot was not dull and the music superb with weak actors  ->  positive  (+1 +1 -1 = 1)
    a story with great actors and a poor and boring ending       ->  negative  (+1 -1 -1 = -1)
    not the film was superb and not good and dull scenes         ->  negative  (+1 -1 -1 = -1)

``not`` also appears before filler words, where it means nothing, so a model must look at the
word that follows it. Batches are padded, batch first: ``tokens (B, T)``, ``lengths (B,)``,
``labels (B,)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch

from utils.data.sequences import Vocab
from utils.validate import require_int

__all__ = [
    "POSITIVE_WORDS", "NEGATIVE_WORDS", "FILLER_WORDS", "SENTIMENT_LABELS",
    "make_sentiment_task", "sentiment_label", "TextBatch", "collate_text", "iterate_text_batches",
]

POSITIVE_WORDS = ("good", "great", "superb", "fun", "lovely", "brilliant")
NEGATIVE_WORDS = ("bad", "dull", "awful", "boring", "weak", "poor")
FILLER_WORDS = ("the", "a", "film", "plot", "story", "music", "actors", "ending", "script", "was",
                "is", "and", "with", "this", "very", "quite", "of", "it", "scenes", "cast")
NEGATION = "not"
SENTIMENT_LABELS = ("negative", "positive")


def sentiment_label(tokens: Sequence[str]) -> int:
    """The rule that labels a sentence: 1 (positive) if the cues, ``not`` flipping the next one, sum above 0."""
    total = 0
    for i, tok in enumerate(tokens):
        polarity = 1 if tok in POSITIVE_WORDS else -1 if tok in NEGATIVE_WORDS else 0
        if polarity and i > 0 and tokens[i - 1] == NEGATION:
            polarity = -polarity
        total += polarity
    return int(total > 0)


def make_sentiment_task(n: int, min_len: int = 8, max_len: int = 16, negation_prob: float = 0.3,
                        seed: int = 0) -> tuple[list[tuple[list[str], int]], Vocab]:
    """``n`` labelled sentences ``(tokens, label)`` and their vocabulary.

    Args:
        n: how many sentences.
        min_len, max_len: lengths (in tokens, ``not`` included) are uniform in this range.
        negation_prob: the chance that a cue is negated, and (separately) that a filler word
            gets a meaningless ``not`` in front of it (at most one per sentence).
        seed: the same seed gives the same sentences.

    Returns:
        ``(examples, vocab)``; labels are indices into :data:`SENTIMENT_LABELS`.

    Raises:
        TypeError: ``n``, ``min_len`` or ``max_len`` not ints.
        ValueError: ``n`` negative; lengths or ``negation_prob`` out of range.
    """
    require_int("n", n, minimum=0)
    require_int("min_len", min_len)
    require_int("max_len", max_len)
    if not 8 <= min_len <= max_len:  # room for three negated cues and a distractor
        raise ValueError(f"need 8 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if not 0.0 <= negation_prob <= 1.0:
        raise ValueError(f"negation_prob must be in [0, 1], got {negation_prob}")
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        length = rng.randint(min_len, max_len)
        n_cues = rng.choice((1, 3))  # odd: the sum is never zero
        cues = rng.sample(POSITIVE_WORDS + NEGATIVE_WORDS, n_cues)
        units = [[NEGATION, c] if rng.random() < negation_prob else [c] for c in cues]
        if rng.random() < negation_prob:  # a distractor: `not` before a filler word
            units.append([NEGATION, rng.choice(FILLER_WORDS)])
        used = sum(len(u) for u in units)
        units += [[rng.choice(FILLER_WORDS)] for _ in range(max(0, length - used))]
        rng.shuffle(units)
        tokens = [tok for unit in units for tok in unit]
        examples.append((tokens, sentiment_label(tokens)))
    vocab = Vocab(list(FILLER_WORDS) + [NEGATION] + list(POSITIVE_WORDS) + list(NEGATIVE_WORDS))
    return examples, vocab


class TextBatch(NamedTuple):
    """A padded batch of labelled sentences (batch first)."""

    tokens: torch.Tensor   # (B, T) token ids, padded with <pad>
    lengths: torch.Tensor  # (B,) true lengths
    labels: torch.Tensor   # (B,) class indices


def collate_text(examples: Sequence[tuple[Sequence[str], int]], vocab: Vocab) -> TextBatch:
    """Pad a list of ``(tokens, label)`` into a :class:`TextBatch`.

    Raises:
        ValueError: no examples, or a sentence with no token.
    """
    if not examples:
        raise ValueError("examples is empty")
    ids = [vocab.encode(tokens) for tokens, _ in examples]
    if any(len(row) == 0 for row in ids):
        raise ValueError("every sentence needs at least one token")
    width = max(len(row) for row in ids)
    return TextBatch(
        tokens=torch.tensor([row + [vocab.pad_id] * (width - len(row)) for row in ids], dtype=torch.long),
        lengths=torch.tensor([len(row) for row in ids], dtype=torch.long),
        labels=torch.tensor([label for _, label in examples], dtype=torch.long),
    )


def iterate_text_batches(examples: Sequence, vocab: Vocab, batch_size: int, shuffle: bool = True,
                         seed: int = 0) -> Iterator[TextBatch]:
    """Yield :class:`TextBatch` es over ``examples`` once, shuffled with ``seed``.

    Raises:
        TypeError, ValueError: at the call: ``batch_size`` not an int of at least 1; no examples.
    """
    require_int("batch_size", batch_size, minimum=1)
    if len(examples) == 0:
        raise ValueError("examples is empty")
    return _iterate_text_batches(examples, vocab, batch_size, shuffle, seed)


def _iterate_text_batches(examples, vocab, batch_size, shuffle, seed) -> Iterator[TextBatch]:
    order = list(range(len(examples)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        yield collate_text([examples[i] for i in order[start:start + batch_size]], vocab)
