"""Captioning in miniature: a CNN region encoder and a recurrent decoder that attends (chapter 3).

After Xu et al. (2015), in their symbols. The encoder turns an image into a grid of region
vectors ``a_1 … a_L``; at each step ``t`` the decoder scores the regions against its state
``h_{t-1}``, the query (soft or hard attention, :mod:`utils.glimpse`), turns the scores into
weights ``α_{t,i}``, takes a glimpse ``z_t`` (their context vector ``ẑ_t``), updates its
GRU state from ``z_t`` and the previous word, and emits the next word::

    images   (B, 1, H, W)  ->  features (B, L, D),  L = rows · cols
    tgt_in   (B, T)  <sos> w_1 … w_{T-1}     (teacher forcing)
    logits   (B, T, V),  weights (B, T, L)

:func:`caption_step` is the ``step_fn`` for :func:`utils.training.fit`: cross-entropy for soft
attention; for hard attention it adds the REINFORCE loss (Xu et al. 2015, §4.1) with a
moving-average baseline and an entropy bonus. Its reward is the log-likelihood of the right word
at each step, a per-step variant of the paper's whole-caption log-likelihood (chapter 3, section 8).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from utils.data.digits import DIGIT_VOCAB, DigitCanvases, region_windows
from utils.glimpse import HardAttention, MovingAverageBaseline, SoftAttention, reinforce_loss

__all__ = [
    "RegionEncoder", "CaptionOutput", "GlimpseCaptioner", "caption_step", "attended_on_target",
    "evaluate_captions", "reinforce_gradient_samples",
]


class RegionEncoder(nn.Module):
    """A small CNN: one vector per region of the image, ``(B, C, H, W) -> (B, L, D)``.

    The first convolution's ``window × window`` kernel moves by ``stride`` pixels, so each
    output position sees one window of the image: a region. A 1×1 convolution mixes its
    channels, and a learned position vector per region says *where* the region is (the CNN
    alone says only *what* is there, and the decoder must read the digits left to right).

    Args:
        grid: ``(rows, cols)`` of regions the images produce.
        feature_size: ``D``.
        channels: filters in the first convolution.
        window, stride: the region's size and the step between regions, in pixels.
        in_channels: image channels.
    """

    def __init__(self, grid: tuple[int, int], feature_size: int = 128, channels: int = 256,
                 window: int = 8, stride: int = 4, in_channels: int = 1) -> None:
        super().__init__()
        self.grid, self.window, self.stride = tuple(grid), window, stride
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=window, stride=stride)
        self.mix = nn.Conv2d(channels, feature_size, kernel_size=1)
        self.position = nn.Parameter(torch.zeros(grid[0] * grid[1], feature_size))

    def _check(self, images: torch.Tensor) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
        grid = tuple((size - self.window) // self.stride + 1 for size in images.shape[-2:])
        if grid != self.grid:
            raise ValueError(f"images of size {tuple(images.shape[-2:])} give a grid of "
                             f"{grid} regions but this encoder expects {self.grid}")

    def forward_conv(self, images: torch.Tensor) -> torch.Tensor:
        """The readable version of :meth:`forward`: the two convolutions as written."""
        self._check(images)
        x = F.relu(self.mix(F.relu(self.conv(images))))  # (B, D, rows, cols)
        return x.flatten(2).transpose(1, 2) + self.position  # (B, D, L) -> (B, L, D)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, C, H, W)`` -> ``features (B, L, D)``, regions row by row.

        The same numbers as :meth:`forward_conv`, computed as matrix products: cut out every
        window (``unfold``), then apply both layers' weights to each window's pixels. On a CPU
        its forward and backward pass take about half the time of the convolutions', whose
        backward pass is slow for such small images.
        """
        self._check(images)
        windows = F.unfold(images, self.window, stride=self.stride)  # (B, C·w·w, L)
        x = F.relu(F.linear(windows.transpose(1, 2), self.conv.weight.flatten(1),
                            self.conv.bias))  # (B, L, C·w·w) -> (B, L, channels)
        x = F.relu(F.linear(x, self.mix.weight.flatten(1), self.mix.bias))  # (B, L, D)
        return x + self.position


class CaptionOutput(NamedTuple):
    """What the captioner returns, stacked over steps; the last three are None for soft attention."""

    tokens: torch.Tensor  # (B, T) the argmax word at each step
    logits: torch.Tensor  # (B, T, V)
    weights: torch.Tensor  # (B, T, L) α_{t,i}, the attention at each step
    # the field shadows tuple.index on purpose (chapter 3 reads out.index); mypy flags any such field
    index: torch.Tensor | None = None  # type: ignore[assignment]  # (B, T) the region looked at, Xu et al.'s s_t (hard)
    log_prob: torch.Tensor | None = None  # (B, T) log α_{t,i} of that region (hard)
    entropy: torch.Tensor | None = None  # (B, T) H(α_t) (hard)


class GlimpseCaptioner(nn.Module):
    """CNN regions + GRU decoder with soft or hard attention (Xu et al. 2015, in miniature).

    Step ``t``: ``α_t = softmax(score(h_{t-1}, a_i))``, glimpse ``z_t``, then
    ``h_t = GRU([E w_{t-1}; z_t], h_{t-1})`` and ``p(w_t) = softmax(W_o [h_t; z_t; E w_{t-1}])``.
    The first state is ``h_0 = tanh(W_init · mean_i a_i)``.

    Args:
        vocab_size: ``V``.
        grid: the encoder's ``(rows, cols)``.
        attention: ``"soft"`` or ``"hard"``.
        score: ``"additive"`` (the tanh attention unit) or ``"dot"`` (needs
            ``hidden_size == feature_size``).
        feature_size, hidden_size, embed_size, attention_size, channels: layer sizes.
        dropout: before the output layer.
        expected_prob: hard attention only: how often training uses the expected glimpse
            instead of a sample (:class:`~utils.glimpse.HardAttention`).
    """

    def __init__(self, vocab_size: int, grid: tuple[int, int], attention: str = "soft",
                 score: str = "additive", feature_size: int = 128, hidden_size: int = 128,
                 embed_size: int = 16, attention_size: int = 32, channels: int = 256,
                 dropout: float = 0.3, expected_prob: float = 0.0) -> None:
        super().__init__()
        if attention not in ("soft", "hard"):
            raise ValueError(f"attention must be 'soft' or 'hard', got {attention!r}")
        self.kind = attention
        self.encoder = RegionEncoder(grid, feature_size, channels)
        self.attention: HardAttention | SoftAttention  # as `attention` asks, below
        if attention == "hard":
            self.attention = HardAttention(hidden_size, feature_size, score, attention_size,
                                           expected_prob=expected_prob)
        else:
            self.attention = SoftAttention(hidden_size, feature_size, score, attention_size)
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.init_state = nn.Linear(feature_size, hidden_size)
        self.cell = nn.GRUCell(embed_size + feature_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size + feature_size + embed_size, vocab_size)

    def decode(self, images: torch.Tensor, tgt_in: torch.Tensor | None = None,
               length: int | None = None, mode: str | None = None) -> CaptionOutput:
        """Run the decoder: teacher-forced on ``tgt_in (B, T)``, or greedy for ``length`` words.

        ``mode`` (hard attention only): ``"sample"`` or ``"argmax"``; default the module's own.
        """
        if (tgt_in is None) == (length is None):
            raise ValueError("pass exactly one of tgt_in (teacher forcing) and length (greedy)")
        n_steps = tgt_in.shape[1] if tgt_in is not None else length
        assert n_steps is not None  # one of the two was given
        features = self.encoder(images)  # (B, L, D)
        projected = self.attention.project(features)  # U_a a_i, once per image
        state = torch.tanh(self.init_state(features.mean(dim=1)))  # h_0 (B, H)
        word = torch.full((images.shape[0],), DIGIT_VOCAB.sos_id, dtype=torch.long,
                          device=images.device)
        hard = {"mode": mode} if self.kind == "hard" else {}
        steps = []  # per step: (word, logits, weights, index, log_prob, entropy)
        for t in range(n_steps):
            if tgt_in is not None:
                word = tgt_in[:, t]
            g = self.attention(state, features, projected, **hard)
            embedded = self.embed(word)  # (B, E)
            state = self.cell(torch.cat([embedded, g.glimpse], dim=-1), state)
            logits = self.out(self.dropout(torch.cat([state, g.glimpse, embedded], dim=-1)))
            word = logits.argmax(dim=-1)  # fed back when decoding greedily
            steps.append((word, logits, g.weights, g.index, g.log_prob, g.entropy))
        # one tuple per field, stacked along time -> (B, T, …); None where soft attention has none
        fields = list(zip(*steps))
        stacked: list[Any] = [None if f[0] is None else torch.stack(f, dim=1) for f in fields]  # Any: the fields differ
        return CaptionOutput(*stacked)

    def forward(self, images: torch.Tensor, tgt_in: torch.Tensor,
                mode: str | None = None) -> CaptionOutput:
        """Teacher-forced decoding (training): ``images (B, 1, H, W)``, ``tgt_in (B, T)``."""
        return self.decode(images, tgt_in=tgt_in, mode=mode)

    @torch.no_grad()
    def caption(self, images: torch.Tensor, length: int, mode: str | None = None) -> CaptionOutput:
        """Greedy captions of ``length`` words, each word fed back as the next input."""
        return self.decode(images, length=length, mode=mode)


def _word_log_likelihood(out: CaptionOutput, tgt_out: torch.Tensor) -> torch.Tensor:
    """``log p(w_t | …)`` of the right word at every step: ``(B, T)``."""
    return out.logits.log_softmax(-1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)


def caption_step(model: GlimpseCaptioner, batch, baseline: MovingAverageBaseline | None = None,
                 entropy_weight: float = 0.01,
                 label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """One training step's loss for :func:`utils.training.fit` (bind the keywords with a lambda).

    Soft attention: the mean cross-entropy of the words (with optional label smoothing, which
    keeps the small model from growing over-confident on its 1,497 training digits). Hard
    attention adds :func:`~utils.glimpse.reinforce_loss` with reward ``r_t = log p(w_t | glimpses)``
    (the log-likelihood of the right word at step ``t``), the baseline's value for each step,
    and the entropy bonus ``entropy_weight``.
    """
    out = model(batch.images, batch.tgt_in)
    loss = F.cross_entropy(out.logits.flatten(0, 1), batch.tgt_out.flatten(),
                           label_smoothing=label_smoothing)  # (B·T, V) against (B·T,)
    metrics = {"word_accuracy": float((out.tokens == batch.tgt_out).float().mean())}
    if out.log_prob is not None:
        reward = _word_log_likelihood(out, batch.tgt_out).detach()  # (B, T)
        b = baseline(reward.mean(dim=0)) if baseline is not None else 0.0  # one value per step
        loss = loss + reinforce_loss(out.log_prob, reward, b, out.entropy, entropy_weight)
        metrics["reward"] = float(reward.mean())
    return loss, metrics


def attended_on_target(weights: torch.Tensor, boxes: torch.Tensor,
                       grid: tuple[int, int]) -> torch.Tensor:
    """Whether the most attended region's centre lies inside the named digit's box.

    Args:
        weights: ``(N, T, L)`` attention at each step.
        boxes: ``(N, T, 4)`` the box ``(top, left, bottom, right)`` of the word emitted at step t.
        grid: ``(rows, cols)``.

    Returns:
        ``(N, T)`` bool.
    """
    windows = region_windows(grid).to(weights.device)[weights.argmax(dim=-1)]  # (N, T, 4)
    cy = (windows[..., 0] + windows[..., 2]) / 2
    cx = (windows[..., 1] + windows[..., 3]) / 2
    boxes = boxes.to(weights.device)
    return (boxes[..., 0] < cy) & (cy < boxes[..., 2]) & (boxes[..., 1] < cx) & (cx < boxes[..., 3])


def evaluate_captions(model: GlimpseCaptioner, data: DigitCanvases,
                      device: torch.device | str = "cpu", mode: str = "argmax") -> dict[str, float]:
    """Greedy captions of every canvas in ``data``: exact match, word accuracy, localisation.

    ``localisation`` is the share of steps whose most attended region has its centre on the
    digit being named (:func:`attended_on_target`). ``mode`` applies to hard attention.
    """
    was_training = model.training
    model.eval()
    out = model.caption(data.images.to(device), length=data.captions.shape[1], mode=mode)
    model.train(was_training)
    right = out.tokens.cpu() == data.captions
    on_target = attended_on_target(out.weights.cpu(), data.boxes, data.grid)
    return {
        "exact_match": float(right.all(dim=1).float().mean()),
        "word_accuracy": float(right.float().mean()),
        "localisation": float(on_target.float().mean()),
    }


def reinforce_gradient_samples(model: GlimpseCaptioner, batch, baseline=None, n_samples: int = 20,
                               parameters=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_samples`` REINFORCE gradient estimates on one batch, without and with a baseline.

    Each sample draws fresh glimpses; both estimates use the same draws, so they differ only
    by the baseline. Gradients are taken of the REINFORCE term alone, with respect to
    ``parameters`` (default: the attention's), and flattened.

    Args:
        model: a hard-attention captioner (put it in eval mode to switch dropout off).
        batch: a :class:`~utils.data.CanvasBatch` on the model's device.
        baseline: a number or one value per step ``(T,)``; None: the mean reward of each step
            over ``n_samples`` extra draws (what a moving average settles to).
        n_samples: how many estimates.
        parameters: the parameters to differentiate.

    Returns:
        ``(without (n_samples, P), with_baseline (n_samples, P))``.
    """
    params = list(parameters if parameters is not None else model.attention.parameters())

    def draw():
        out = model(batch.images, batch.tgt_in, mode="sample")
        return out, _word_log_likelihood(out, batch.tgt_out).detach()  # reward (B, T)

    if baseline is None:
        with torch.no_grad():
            baseline = torch.stack([draw()[1].mean(dim=0) for _ in range(n_samples)]).mean(dim=0)
    without: list[torch.Tensor] = []
    with_b: list[torch.Tensor] = []
    for _ in range(n_samples):
        out, reward = draw()
        for b, store in ((0.0, without), (baseline, with_b)):
            grads = torch.autograd.grad(reinforce_loss(out.log_prob, reward, b), params,
                                        retain_graph=True)
            store.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(without), torch.stack(with_b)
