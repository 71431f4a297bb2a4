"""Training loops: one generic loop every chapter shares, with history, early stop and devices.

A chapter supplies three small things and :func:`fit` does the rest:

* ``batches``: an iterable (or a callable ``step -> batch``) producing batches of tensors;
* ``step_fn(model, batch) -> (loss, metrics)``: the forward pass and the loss to minimise;
* optionally ``eval_fn(model) -> metrics``, run every ``eval_every`` steps, and a ``target``
  such as ``("exact_match", 0.99)`` that stops training once reached.

Batches are moved to ``device`` here, so chapter code never calls ``.to(device)`` per step.
Progress bars (tqdm) are shown in JupyterLab and hidden when ``COURSE_PROGRESS=0`` (the test
suite and the notebook pipeline set it), so that stored outputs are reproducible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm.auto import tqdm

from utils.device import resolve_device
from utils.validate import require_float, require_int, require_number, require_tensor, require_token_ids

if TYPE_CHECKING:
    from utils.seq2seq import Seq2Seq  # for the annotation only: training runs without loading the models

__all__ = [
    "progress_enabled", "to_device", "History", "fit",
    "sequence_loss", "seq2seq_step", "position_error_rates", "Seq2SeqReport", "evaluate_seq2seq",
]


def progress_enabled() -> bool:
    """Whether to draw progress bars: yes unless the environment sets ``COURSE_PROGRESS=0``."""
    return os.environ.get("COURSE_PROGRESS", "1") != "0"


def to_device(batch, device: torch.device | str):
    """Move a tensor, or every tensor inside tuples, lists and dicts, to ``device``.

    Raises:
        TypeError, ValueError: an unknown device name, or one this machine does not have (the
            message lists the ones it has).
    """
    if not isinstance(device, torch.device) or device.type != "cpu":
        device = resolve_device(device)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        rebuild: Callable[..., Any] = type(batch)  # a dict, or a subclass built from one
        return rebuild({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@dataclass
class History:
    """What happened during :func:`fit`.

    Attributes:
        steps: the step number (1-based) of every recorded training step.
        loss: the training loss at each of those steps.
        train: other per-step metrics returned by ``step_fn`` (name -> list).
        eval_steps: the steps at which ``eval_fn`` ran.
        eval: its metrics (name -> list, aligned with ``eval_steps``).
        stopped_early: whether ``target`` was reached before ``steps`` ran out.
    """

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False

    @property
    def last_eval(self) -> dict[str, float]:
        """The most recent evaluation's metrics (empty if none ran)."""
        return {k: v[-1] for k, v in self.eval.items() if v}


def fit(
    model: nn.Module,
    batches: Iterable | Callable[[int], object],
    step_fn: Callable[[nn.Module, object], tuple[torch.Tensor, dict[str, float]]],
    optimizer: torch.optim.Optimizer,
    steps: int,
    device: torch.device | str = "cpu",
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    eval_every: int = 100,
    target: tuple[str, float] | None = None,
    clip_grad_norm: float | None = 1.0,
    scheduler=None,
    desc: str = "training",
) -> History:
    """Train ``model`` for at most ``steps`` optimiser steps.

    Args:
        model: already on ``device``.
        batches: an iterable of batches, cycled when it runs out, or a callable ``step -> batch``
            (e.g. a generator of fresh synthetic data).
        step_fn: ``(model, batch) -> (loss, metrics)``; ``loss`` is a scalar tensor.
        optimizer: over ``model``'s parameters.
        steps: the most optimiser steps to take.
        device: where batches go.
        eval_fn: ``model -> metrics``, called in eval mode under ``torch.no_grad()`` every
            ``eval_every`` steps and at the end.
        eval_every: steps between evaluations.
        target: ``(metric name, value)``: stop once ``eval_fn`` reports at least that value.
        clip_grad_norm: clip the global gradient norm (None: no clipping).
        scheduler: an optional learning-rate scheduler, stepped after every optimiser step.
        desc: the progress bar's label.

    Returns:
        A :class:`History`.

    Raises:
        TypeError: ``steps``/``eval_every`` not ints; ``step_fn`` returning a loss that is not a
            tensor.
        ValueError: ``steps`` or ``eval_every`` below 1; a ``target`` without ``eval_fn``, or not
            a ``(name, value)`` pair; ``clip_grad_norm`` not positive; an unknown or absent
            ``device``; an empty ``batches``; a loss with more than one element.
        FloatingPointError: the loss is NaN or infinite: training stops at that step, before the
            weights are updated, and the message gives the step and the last finite loss.
    """
    steps = require_int("steps", steps, minimum=1)
    eval_every = require_int("eval_every", eval_every, minimum=1)
    device = resolve_device(device)
    if clip_grad_norm is not None:
        require_number("clip_grad_norm", clip_grad_norm, low=0.0, low_open=True)
    if target is not None and eval_fn is None:
        raise ValueError("a target needs an eval_fn to measure it")
    if target is not None and (not isinstance(target, (tuple, list)) or len(target) != 2
                               or not isinstance(target[0], str)):
        raise ValueError(f"target must be a (metric name, value) pair, got {target!r}")
    if not callable(batches) and not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batches or a callable step -> batch, "
                        f"got {type(batches).__name__}")
    history = History()
    source = batches if callable(batches) else _cycle(batches)
    bar = tqdm(total=steps, desc=desc, disable=not progress_enabled(), leave=False)

    def evaluate(step: int) -> bool:
        assert eval_fn is not None  # called only when there is one
        model.eval()
        with torch.no_grad():
            metrics = eval_fn(model)
        model.train()
        history.eval_steps.append(step)
        for k, v in metrics.items():
            history.eval.setdefault(k, []).append(float(v))
        return target is not None and metrics[target[0]] >= target[1]

    model.train()
    step = 0
    for step in range(1, steps + 1):
        batch = to_device(source(step) if callable(source) else next(source), device)
        loss, metrics = step_fn(model, batch)
        value = _loss_value(loss, step, history)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        history.steps.append(step)
        history.loss.append(value)
        for k, v in (metrics or {}).items():
            history.train.setdefault(k, []).append(float(v))
        bar.update(1)
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}", refresh=False)
        if eval_fn is not None and step % eval_every == 0 and evaluate(step):
            history.stopped_early = step < steps
            break
    else:
        if eval_fn is not None and (not history.eval_steps or history.eval_steps[-1] != step):
            evaluate(step)
    bar.close()
    model.eval()
    return history


def _loss_value(loss, step: int, history: History) -> float:
    """The loss as a float (the one sync a step needs anyway), or a clear error if it is unusable."""
    require_tensor("the loss step_fn returned", loss)
    if loss.numel() != 1:
        raise ValueError(f"step_fn must return a scalar loss, got shape {tuple(loss.shape)} (use .mean())")
    value = float(loss.detach())
    if not math.isfinite(value):
        last = f"the last finite loss was {history.loss[-1]:.4g} at step {history.steps[-1]}" \
            if history.loss else "it was the first step"
        raise FloatingPointError(
            f"the loss became {value} at step {step} ({last}); training stopped before updating "
            f"the weights. Try a lower learning rate, gradient clipping, or look for NaN/inf in the batch"
        )
    return value


def _cycle(iterable: Iterable):
    """Yield from ``iterable`` again and again (a DataLoader reshuffles on every pass)."""
    for _ in count():
        empty = True
        for item in iterable:
            empty = False
            yield item
        if empty:
            raise ValueError("batches is empty")


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
