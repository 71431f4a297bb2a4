"""Sliding-window attention stacked in layers: Luong's local-m window, made causal, and how far it reaches.

One layer under :func:`utils.efficient_attention.sliding_window_mask` lets position ``t`` read
positions ``t − w + 1 … t`` (a window of ``w``), at a cost linear in ``T``. Stack ``L`` such layers
and information hops a window per layer: output ``t`` depends on inputs back to
``t − L·(w − 1)`` (:func:`utils.efficient_attention.stacked_reach` computes the whole pattern
as a power of the mask). Longformer (Beltagy et al., ``beltagy2020``) counts its field of view the
same way, and chapter 8 measures it: a model asked at every position for the first symbol of the
stream (:func:`utils.data.first_symbol_streams`) answers perfectly up to the reach, and at
chance beyond it.

* :class:`SlidingWindowEncoder`: ``x (B, T)`` -> ``logits (B, T, num_classes)``.
* :func:`stream_step`: its training step for :func:`utils.training.fit`.
* :func:`accuracy_by_position`: accuracy at every position ``t``, ``(T,)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from utils.device import model_seed
from utils.efficient_attention import sliding_window_mask
from utils.positional import SinusoidalPositionalEncoding
from utils.transformer_encoder import TransformerEncoder
from utils.validate import require_int, require_token_ids, shape_of

__all__ = ["SlidingWindowEncoder", "stream_step", "accuracy_by_position"]


class SlidingWindowEncoder(nn.Module):
    """``x (B, T)`` -> ``logits (B, T, num_classes)``: ``L`` pre-norm encoder blocks, each under one causal window.

    ::

        h = E x · √d_model + PE           (B, T) -> (B, T, d_model)   sinusoidal positions
        h = L x TransformerEncoderBlock   (B, T, d_model), every block under sliding_window_mask(T, window)
        logits = W · LayerNorm(h) + b     (B, T, d_model) -> (B, T, num_classes)

    The blocks are chapter 6's (:class:`utils.transformer_encoder.TransformerEncoder`, pre-norm,
    whose final LayerNorm is the one above). The mask is made for each input's own ``T`` (up to
    ``max_len``), on its device: position ``t`` attends to ``t − window + 1 … t``. So block 1's
    output ``t`` has read inputs back to ``t − (window − 1)``, block 2's back to
    ``t − 2·(window − 1)``, and the model's back to ``reach = num_layers · (window − 1)``
    (the attribute ``reach``; :func:`utils.efficient_attention.stacked_reach` gives the same
    pattern as a ``(T, T)`` matrix). Nothing later than ``t`` is ever read: the model is causal.
    Both are properties of the architecture, true before any training.

    Args:
        vocab_size: input ids ``0 … vocab_size − 1``.
        num_classes: outputs per position.
        num_layers: ``L``, the blocks.
        window: ``w``, the positions each block's query sees, itself included (``>= 1``).
        max_len: the longest ``T`` (the positional table's length).
        d_model, num_heads, d_ff: the blocks' sizes (``num_heads`` must divide ``d_model``).
        seed: the weights come from ``torch.manual_seed(model_seed(seed))`` inside
            :func:`torch.random.fork_rng`, so the same seed gives the same model and the caller's
            random state is left alone; ``None`` draws from the global generator.

    Raises:
        TypeError, ValueError: sizes not positive ints, ``d_model`` not divisible by ``num_heads``;
            in ``forward``, ``x`` not ``(B, T)`` integer ids in the vocabulary, or ``T > max_len``.
    """

    def __init__(self, vocab_size: int, num_classes: int, num_layers: int, window: int, max_len: int,
                 d_model: int = 32, num_heads: int = 4, d_ff: int = 128, seed: int | None = None) -> None:
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("num_classes", num_classes), ("num_layers", num_layers),
                           ("window", window), ("max_len", max_len), ("d_model", d_model),
                           ("num_heads", num_heads), ("d_ff", d_ff)):
            require_int(name, size, minimum=1)
        if d_model % num_heads:
            raise ValueError(f"d_model must be divisible by num_heads, got d_model={d_model} and num_heads={num_heads}")
        self.vocab_size, self.window, self.max_len, self.d_model = vocab_size, window, max_len, d_model
        self.reach = num_layers * (window - 1)  # how many positions back output t can read
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(model_seed(seed))
            self.embedding = nn.Embedding(vocab_size, d_model)
            self.positions = SinusoidalPositionalEncoding(d_model, max_len)
            self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff, norm_first=True)
            self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, T)`` ids -> ``logits (B, T, num_classes)``."""
        require_token_ids("x", x, self.vocab_size, dim=2, shape="(B, T)")
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"x has T={T} positions, but the model was built with max_len={self.max_len}")
        mask = sliding_window_mask(T, self.window, device=x.device)  # (T, T), True = may attend
        h = self.positions(self.embedding(x) * math.sqrt(self.d_model))  # (B, T) -> (B, T, d_model)
        h, _ = self.encoder(h, attn_mask=mask)  # L blocks, then the final LayerNorm
        return self.head(h)  # (B, T, d_model) -> (B, T, num_classes)


def _pair(batch) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"the batch must be an (x, y) pair of (B, T) tensors, got {type(batch).__name__}")
    return batch[0], batch[1]


def _check_targets(y, logits: torch.Tensor) -> None:
    require_token_ids("y", y, logits.shape[-1])
    if y.shape != logits.shape[:2]:
        raise ValueError(f"y must be {tuple(logits.shape[:2])}, the shape of x, got {shape_of(y)}")


def stream_step(model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
    """One training step's loss on ``batch = (x (B, T), y (B, T))``, for :func:`utils.training.fit`.

    The loss is the cross-entropy of ``model(x)`` (``(B, T, C)`` logits) against ``y``, averaged
    over all ``B · T`` positions: every position is a question, and each counts the same.

    Returns:
        ``(loss, {"train_accuracy": the share of positions whose argmax is right})``.

    Raises:
        ValueError: ``batch`` not a pair; ``y`` not of ``x``'s shape or holding classes the
            logits do not have.
    """
    x, y = _pair(batch)
    logits = model(x)  # (B, T, C)
    _check_targets(y, logits)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # (B·T, C) against (B·T,)
    accuracy = (logits.detach().argmax(-1) == y).float().mean()
    return loss, {"train_accuracy": float(accuracy)}


def accuracy_by_position(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(T,)``: at each position ``t``, the share of the ``B`` streams whose answer ``argmax model(x)[b, t]`` is ``y[b, t]``.

    Run in eval mode under ``torch.no_grad()`` (the model's mode is given back afterwards); the
    result is a float32 tensor on the CPU, ready to plot against ``t``. With
    :func:`utils.data.first_symbol_streams` it shows the reach: 1 up to
    ``model.reach``, about ``1 / n_symbols`` beyond.

    Raises:
        ValueError: ``y`` not of ``x``'s shape ``(B, T)``, or holding classes the model does not have.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)  # (B, T, C)
            _check_targets(y, logits)
            right = logits.argmax(-1) == y.to(logits.device)  # (B, T)
            return right.float().mean(0).cpu()  # (B, T) -> (T,)
    finally:
        model.train(was_training)
