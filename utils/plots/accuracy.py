"""How a sequence model's outputs go wrong: exact match and per-token accuracy against the source
length, the error rate at each position, and one prediction compared token by token with its target.

Chapter 1 draws its length experiment with these (the plain encoder–decoder's cliff); chapter 7
draws the same curves for its three models side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from utils.plots.arrays import to_numpy

__all__ = ["accuracy_vs_length", "error_by_position", "compare_tokens"]


def accuracy_vs_length(curves, ax: Axes | None = None, title: str | None = None,
                       token_accuracy: bool = True, chance: float | None = None) -> Axes:
    """Exact match (solid) and per-token accuracy (dashed) against source length, one colour
    per model — chapter 1's plain encoder–decoder, chapter 4's attention decoder.

    Args:
        curves: ``label -> report``, where a report has ``lengths``, ``exact_match_by_length``
            and ``token_accuracy_by_length`` (a :class:`utils.seq2seq_training.Seq2SeqReport`).
        ax: where to draw; a new figure if None.
        title: text above.
        token_accuracy: also draw the per-token curves.
        chance: draw a dotted line at this per-token accuracy (e.g. ``1 / n_symbols``).
    """
    if not curves:
        raise ValueError("curves is empty: pass {label: report}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (label, report) in enumerate(curves.items()):
        color = f"C{i}"
        lengths = list(report.lengths)
        ax.plot(lengths, [report.exact_match_by_length[n] for n in lengths], "o-", color=color,
                label=f"{label}: exact match")
        if token_accuracy:
            ax.plot(lengths, [report.token_accuracy_by_length[n] for n in lengths], "s--",
                    color=color, markersize=4, alpha=0.8, label=f"{label}: per-token accuracy")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance (per token)")
    ax.set_xlabel("source length S")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    # beside the axes, not on them: with curves from 100% down to 0% no corner inside is free
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        ax.set_title(title)
    return ax


def error_by_position(rates, ax: Axes | None = None, title: str | None = None,
                      xlabel: str = "source position j") -> Axes:
    """Error rate at each position, one curve per label (e.g. per source length).

    Args:
        rates: ``label -> (N,)`` error rates; position ``j`` is drawn at ``x = j + 1``.
        ax: where to draw; a new figure if None.
        title, xlabel: text.
    """
    if not rates:
        raise ValueError("rates is empty: pass {label: error rates}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    for label, r in rates.items():
        r = to_numpy(r).reshape(-1)
        ax.plot(np.arange(1, len(r) + 1), r, ".-", label=str(label))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error rate")
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def compare_tokens(target: Sequence[str], prediction: Sequence[str], ax: Axes | None = None,
                   title: str | None = None, labels: Sequence[str] = ("target", "prediction")) -> Axes:
    """Two rows of cells: the target tokens above, the predicted tokens below, each predicted
    token green where it matches the target and red where it does not (missing ones are blank
    and red; extra ones red).

    Args:
        target, prediction: token lists (without ``<eos>``).
        ax: where to draw; a new figure if None.
        title: text above.
        labels: the two rows' names.
    """
    n = max(len(target), len(prediction), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(0.32 * n + 1.6, 16), 1.4))
    ok = np.array([i < len(prediction) and i < len(target) and prediction[i] == target[i]
                   for i in range(n)])
    colours = np.ones((2, n, 3))
    colours[0, : len(target)] = (0.92, 0.92, 0.92)
    colours[1] = np.where(ok[:, None], (0.74, 0.90, 0.74), (0.97, 0.66, 0.66))
    ax.imshow(colours, aspect="auto")
    for row, tokens in enumerate((target, prediction)):
        for i, tok in enumerate(tokens):
            ax.text(i, row, tok, ha="center", va="center", fontsize=9)
    ax.set_yticks([0, 1], labels=list(labels))
    ax.set_xticks(range(n), labels=[str(i + 1) for i in range(n)], fontsize=7)
    ax.set_xlabel("output position t")
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
