"""Training and evaluating a sequence-to-sequence model (chapters 1, 4, 5 and 7).

* :func:`sequence_loss`: the mean cross-entropy over the real target tokens (padding ignored);
* :func:`seq2seq_step`: the ``step_fn`` that :func:`utils.training.fit` calls, with teacher forcing;
* :func:`position_error_rates` and :func:`evaluate_seq2seq`: how often each output position is
  wrong, and greedy decoding scored by source length (:class:`Seq2SeqReport`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from utils.device import resolve_device
from utils.training import to_device
from utils.validate import require_float, require_int, require_tensor, require_token_ids

if TYPE_CHECKING:
    from utils.seq2seq import Seq2Seq  # for the annotation only: training runs without loading the models

__all__ = ["sequence_loss", "seq2seq_step", "position_error_rates", "Seq2SeqReport", "evaluate_seq2seq"]


# ----------------------------------------------------------------------------------------------
# Sequence-to-sequence: a loss that ignores padding, a training step, and evaluation by length
# ----------------------------------------------------------------------------------------------
def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Mean cross-entropy over the real (non-padding) target tokens.

    Args:
        logits: ``(B, T, V)`` unnormalised scores.
        targets: ``(B, T)`` ids; positions equal to ``pad_id`` count for nothing, whatever the
            logits there.
        pad_id: the padding id.

    Returns:
        A scalar: the sum of ``-log p(y_t)`` over real tokens divided by their number. A ``-inf``
        logit blocks a token (probability 0): at a target it gives the honest loss ``+inf``
        (``-log 0``), which :func:`fit` stops on with a ``FloatingPointError``.

    Raises:
        TypeError: ``logits`` not a floating-point tensor; ``targets`` not integer ids.
        ValueError: shapes that do not fit; a target id outside ``[0, V)`` (other than
            ``pad_id``); no real token at all (the mean over zero tokens would be NaN); at a real
            token, logits holding NaN or ``+inf``, or only ``-inf`` (the softmax there is
            ``inf/inf`` or ``0/0``, and the loss NaN).
    """
    require_tensor("logits", logits)
    require_tensor("targets", targets)
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and targets (B, T); got logits "
                         f"{tuple(logits.shape)} and targets {tuple(targets.shape)}")
    require_float("logits", logits)
    real = targets != pad_id
    require_token_ids("targets", targets.masked_fill(~real, 0), logits.shape[-1])
    if not bool(real.any()):
        raise ValueError(f"targets hold no real token (every position is pad_id={pad_id}): "
                         f"the mean loss over zero tokens is undefined")
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=pad_id)
    if bool(torch.isnan(loss)):  # the only check on the usual path: one scalar
        _explain_nan_loss(logits, real)
    return loss


def _explain_nan_loss(logits: torch.Tensor, real: torch.Tensor) -> None:
    """Raise a ``ValueError`` that says which real positions' logits made the loss NaN."""
    logits = logits.detach()
    kinds = {
        "NaN": torch.isnan(logits).any(-1),
        "+inf": (logits == float("inf")).any(-1),
        "only -inf": (logits == float("-inf")).all(-1),
    }  # each (B, T)
    found = [f"{name} at {int((where & real).sum())}" for name, where in kinds.items()
             if bool((where & real).any())]
    hint = (" (float16 logits above 65504 overflow to inf: compute them in float32)"
            if logits.dtype == torch.float16 else "")
    raise ValueError(f"logits hold {', '.join(found) or 'values that overflow'} of the {int(real.sum())} real "
                     f"target positions (logits shape {tuple(logits.shape)}): cross-entropy there is NaN{hint}")


def seq2seq_step(teacher_forcing: float = 1.0, pad_id: int = 0):
    """A ``step_fn`` for :func:`fit` that trains a :class:`utils.seq2seq.Seq2Seq` on a
    :class:`utils.data.Batch`: the loss is :func:`sequence_loss`, the metric the teacher-forced
    token accuracy (``train_token_accuracy``) over real tokens."""

    def step_fn(model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=teacher_forcing)
        loss = sequence_loss(logits, batch.tgt_out, pad_id)
        real = batch.tgt_out != pad_id
        accuracy = ((logits.argmax(-1) == batch.tgt_out) & real).sum() / real.sum()
        return loss, {"train_token_accuracy": float(accuracy)}

    return step_fn


def position_error_rates(predictions: torch.Tensor, targets: torch.Tensor,
                         pad_id: int = 0) -> torch.Tensor:
    """How often each target position is predicted wrong.

    Args:
        predictions: ``(B, T)`` predicted ids, aligned with ``targets``.
        targets: ``(B, T)`` true ids; positions equal to ``pad_id`` are not counted.
        pad_id: the padding id.

    Returns:
        ``(T,)`` float: at each position, the wrong predictions divided by the real targets
        there (0 where every target is padding).

    Raises:
        TypeError: not tensors.
        ValueError: not both ``(B, T)`` of one shape.
    """
    require_tensor("predictions", predictions)
    require_tensor("targets", targets)
    if predictions.shape != targets.shape or targets.dim() != 2:
        raise ValueError(f"predictions and targets must both be (B, T); got {tuple(predictions.shape)} "
                         f"and {tuple(targets.shape)}")
    real = targets != pad_id  # (B, T)
    wrong = (predictions != targets) & real
    return wrong.sum(0).float() / real.sum(0).clamp(min=1).float()


@dataclass
class Seq2SeqReport:
    """Greedy-decoding accuracy of a sequence-to-sequence model, overall and by source length.

    Attributes:
        token_accuracy: fraction of target positions (``<eos>`` included) predicted right.
        exact_match: fraction of examples whose whole output (up to ``<eos>``) is right.
        lengths: the source lengths present, sorted.
        token_accuracy_by_length, exact_match_by_length, count_by_length: per source length.
        position_errors: source length -> ``(T,)`` error rate at each target position
            ``0 … T-1`` (``<eos>`` last) over the examples of that source length.
        predictions: the decoded token lists, in the order of the pairs.
    """

    token_accuracy: float
    exact_match: float
    lengths: list[int]
    token_accuracy_by_length: dict[int, float]
    exact_match_by_length: dict[int, float]
    count_by_length: dict[int, int]
    position_errors: dict[int, list[float]]
    predictions: list[list[str]]


def evaluate_seq2seq(model: Seq2Seq, pairs, src_vocab, tgt_vocab, device: torch.device | str = "cpu",
                     batch_size: int = 256, extra_len: int = 5) -> Seq2SeqReport:
    """Decode ``pairs`` greedily with ``model.greedy_decode`` and score the outputs.

    A prediction is compared with ``target + <eos>`` position by position; a prediction that
    stops early counts its missing positions as wrong, and one that runs on past ``<eos>`` is not
    an exact match. Padding is never counted.

    Args:
        model: a :class:`~utils.seq2seq.Seq2Seq`, or anything with
            ``greedy_decode(src, src_lengths, max_len) -> (tokens, weights)``.
        pairs: ``(source tokens, target tokens)`` pairs.
        src_vocab, tgt_vocab: their vocabularies.
        device: where to run.
        batch_size: examples decoded at once.
        extra_len: decode up to ``len(longest target) + 1 + extra_len`` tokens.

    Returns:
        A :class:`Seq2SeqReport`.

    Raises:
        ValueError: ``pairs`` empty; ``batch_size`` below 1; ``extra_len`` negative; an unknown
            or absent ``device``.
    """
    from utils.data.sequences import collate

    if not pairs:
        raise ValueError("pairs is empty")
    batch_size = require_int("batch_size", batch_size, minimum=1)
    extra_len = require_int("extra_len", extra_len, minimum=0)
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    correct_tokens: dict[int, int] = {}  # per source length
    total_tokens: dict[int, int] = {}
    exact: dict[int, int] = {}
    count: dict[int, int] = {}
    pos_wrong: dict[int, list[int]] = {}  # per source length, per target position
    predictions: list[list[str]] = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            batch = to_device(collate(chunk, src_vocab, tgt_vocab), device)
            max_len = int(batch.tgt_lengths.max()) + extra_len
            tokens, _ = model.greedy_decode(batch.src, batch.src_lengths, max_len)
            tokens = tokens.cpu()
            for row, (src, tgt) in zip(tokens.tolist(), chunk):
                want = tgt_vocab.encode(tgt, eos=True)
                got = row[:row.index(tgt_vocab.eos_id) + 1] if tgt_vocab.eos_id in row else row
                wrong = [i >= len(got) or got[i] != w for i, w in enumerate(want)]
                n = len(src)
                count[n] = count.get(n, 0) + 1
                correct_tokens[n] = correct_tokens.get(n, 0) + len(want) - sum(wrong)
                total_tokens[n] = total_tokens.get(n, 0) + len(want)
                exact[n] = exact.get(n, 0) + int(got == want)
                sums = pos_wrong.setdefault(n, [])
                sums.extend([0] * (len(want) - len(sums)))
                for i, w in enumerate(wrong):
                    sums[i] += w
                predictions.append(tgt_vocab.decode(got))
    model.train(was_training)
    lengths = sorted(count)
    # Targets of one source length may differ in length (e.g. dates): divide each position by
    # the number of examples that reach it.
    reach = {n: [0] * len(pos_wrong[n]) for n in lengths}
    for (src, tgt) in pairs:
        for i in range(len(tgt) + 1):
            reach[len(src)][i] += 1
    return Seq2SeqReport(
        token_accuracy=sum(correct_tokens.values()) / sum(total_tokens.values()),
        exact_match=sum(exact.values()) / len(pairs),
        lengths=lengths,
        token_accuracy_by_length={n: correct_tokens[n] / total_tokens[n] for n in lengths},
        exact_match_by_length={n: exact[n] / count[n] for n in lengths},
        count_by_length={n: count[n] for n in lengths},
        position_errors={n: [w / r for w, r in zip(pos_wrong[n], reach[n])] for n in lengths},
        predictions=predictions,
    )
