"""Training loops: one generic loop every chapter shares, with history, early stop and devices.

A chapter supplies three small things and :func:`fit` does the rest:

* ``batches``: an iterable (or a callable ``step -> batch``) producing batches of tensors;
* ``step_fn(model, batch) -> (loss, metrics)``: the forward pass and the loss to minimise;
* optionally ``eval_fn(model) -> metrics``, run every ``eval_every`` steps, and a ``target``
  such as ``("exact_match", 0.99)`` that stops training once reached;
* optionally a learning-rate ``scheduler``, e.g. :func:`warmup_cosine` (chapters 7 and 8).

Batches are moved to ``device`` here, so chapter code never calls ``.to(device)`` per step.
The sequence-to-sequence loss, training step and evaluation by length, which chapters 1, 4, 5
and 7 share, are in :mod:`utils.seq2seq_training`.

Progress bars (tqdm) are shown in JupyterLab and hidden when ``COURSE_PROGRESS=0`` (the test
suite and the notebook pipeline set it), so that stored outputs are reproducible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from utils.device import resolve_device
from utils.validate import require_int, require_number, require_tensor

__all__ = ["progress_enabled", "to_device", "History", "fit", "warmup_cosine"]


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


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A learning rate that rises linearly for ``warmup`` steps, then falls along a cosine to 0 at ``steps``.

    The rate of optimiser step ``s`` (0-based) is the optimizer's ``lr`` times::

        (s + 1) / warmup                                      for s < warmup  (1/warmup, …, 1)
        ½ · (1 + cos(π · (s − warmup) / (steps − warmup)))    for warmup <= s <= steps  (1 … 0)

    and 0 after ``steps``. Why: Adam's first updates rest on moment estimates made from a handful
    of gradients; a small rate at first keeps them from doing harm while the estimates settle
    (Vaswani et al. 2017 warm up too, then decay as ``1/√s``). The cosine ends training with
    small steps, which settle the weights. Pass it to :func:`fit` as
    ``scheduler``: ``fit`` steps it once after every optimiser step, so a run of ``steps`` steps
    uses the factors for ``s = 0 … steps − 1``. ``warmup = 0`` starts at the top of the cosine.

    Args:
        optimizer: the optimiser whose rate to schedule (its ``lr`` is the peak).
        steps: the length of training, ``>= 1``.
        warmup: warm-up steps, ``0 <= warmup < steps``.

    Returns:
        A ``torch.optim.lr_scheduler.LambdaLR`` (it has already set the rate of step 0).

    Raises:
        TypeError: ``optimizer`` not a ``torch.optim.Optimizer``; ``steps``/``warmup`` not ints.
        ValueError: ``steps < 1``, or ``warmup`` outside ``[0, steps − 1]``.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    steps = require_int("steps", steps, minimum=1)
    warmup = require_int("warmup", warmup, minimum=0, maximum=steps - 1)

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (min(s, steps) - warmup) / (steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
