"""Soft and hard attention over image regions, and REINFORCE for the hard kind (chapter 3).

After Xu et al. (2015), "Show, Attend and Tell", in their symbols. An image is a set of region
(annotation) vectors ``a_1 … a_L`` (``features (B, L, D)``, from a CNN). At step ``t`` the
decoder's state ``h_{t-1}`` is the query (``query (B, H)``): every region is scored against it, a
softmax turns the scores into weights ``α_{t,i}`` (``weights (B, L)``; ``α_i`` within one step),
and the weights make a *glimpse* ``z_t`` of the image (Xu et al.'s context vector ``ẑ_t``):

* **soft** (deterministic): ``z = Σ_i α_i a_i``, the expected region. Differentiable, trained by
  backpropagation. :func:`soft_glimpse`, :class:`SoftAttention`.
* **hard** (stochastic): sample one region ``i ~ Categorical(α)`` (Xu et al. call the sampled
  location ``s_t``) and use ``z = a_i``. The sample has no gradient, so the scores are trained with
  the score-function estimator (REINFORCE, Williams 1992): :func:`hard_glimpse`,
  :class:`HardAttention`, :func:`reinforce_loss`, :class:`MovingAverageBaseline`.

Scores reuse :mod:`utils.attention`: the *attention unit* ``m_i = tanh(W_a h_{t-1} + U_a a_i)`` with
``e_i = v_aᵀ m_i`` is :class:`~utils.attention.AdditiveScore` (``W_k = U_a``, ``W_q = W_a``), and the
plain dot product ``e_i = a_i · h_{t-1}`` is :func:`~utils.attention.dot_score`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from utils.attention import AdditiveScore, attention_pool, dot_score, masked_softmax
from utils.validate import require_finite, require_tensor

__all__ = [
    "soft_glimpse", "hard_glimpse", "Glimpse", "SoftAttention", "HardAttention",
    "reinforce_loss", "MovingAverageBaseline",
]


def _check(features: torch.Tensor, weights: torch.Tensor) -> None:
    if features.dim() != 3:
        raise ValueError(f"features must be (B, L, D), got shape {tuple(features.shape)}")
    if weights.shape != features.shape[:2]:
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not match features of shape "
            f"{tuple(features.shape)}: expected weights {tuple(features.shape[:2])}"
        )


def soft_glimpse(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The expected region ``z = Σ_i α_i a_i``.

    Args:
        features: ``(B, L, D)`` region vectors ``a_i``.
        weights: ``(B, L)`` probabilities ``α_i`` (each row sums to 1).

    Returns:
        ``(B, D)``.
    """
    _check(features, weights)
    # one query per image: (B, 1, L) @ (B, L, D) -> (B, 1, D) -> (B, D)
    return attention_pool(weights.unsqueeze(1), features).squeeze(1)


def hard_glimpse(
    features: torch.Tensor,
    weights: torch.Tensor,
    mode: str = "sample",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One region per image: sampled ``i ~ Categorical(α)`` (``mode="sample"``) or the most
    probable one (``mode="argmax"``, for evaluation), and its vector ``z = a_i``.

    Args:
        features: ``(B, L, D)`` region vectors ``a_i``.
        weights: ``(B, L)`` probabilities ``α_i``.
        mode: ``"sample"`` or ``"argmax"``.
        generator: an optional ``torch.Generator`` for the sample (default: the global one).

    Returns:
        ``(glimpse (B, D), index (B,))``.
    """
    _check(features, weights)
    if mode == "sample":
        index = torch.multinomial(weights.detach(), 1, generator=generator).squeeze(1)  # (B,)
    elif mode == "argmax":
        index = weights.argmax(dim=-1)
    else:
        raise ValueError(f"mode must be 'sample' or 'argmax', got {mode!r}")
    rows = torch.arange(features.shape[0], device=features.device)
    return features[rows, index], index  # (B, D), (B,)


class Glimpse(NamedTuple):
    """What an attention step returns. The last three are None for soft attention."""

    glimpse: torch.Tensor  # (B, D) z, the glimpse
    weights: torch.Tensor  # (B, L) α, the attention probabilities
    # the field shadows tuple.index on purpose (chapter 3 reads g.index); mypy flags any such field
    index: torch.Tensor | None = None  # type: ignore[assignment]  # (B,) i, the region looked at (Xu et al.'s location s_t)
    log_prob: torch.Tensor | None = None  # (B,) log α_index, for REINFORCE
    entropy: torch.Tensor | None = None  # (B,) H(α) = -Σ α_i log α_i, for the entropy bonus


class _RegionAttention(nn.Module):
    """Scores ``e_i`` of every region ``a_i`` against the query ``h_{t-1}``: additive or dot."""

    def __init__(self, query_size: int, feature_size: int, score: str = "additive",
                 hidden_size: int = 64) -> None:
        super().__init__()
        self.score: AdditiveScore | None  # None: the dot score, which has no weights
        if score == "additive":
            self.score = AdditiveScore(query_size, feature_size, hidden_size)
        elif score == "dot":
            if query_size != feature_size:
                raise ValueError(f"a dot score needs query_size == feature_size, got "
                                 f"{query_size} and {feature_size}")
            self.score = None
        else:
            raise ValueError(f"score must be 'additive' or 'dot', got {score!r}")
        self.score_name = score

    def project(self, features: torch.Tensor) -> torch.Tensor | None:
        """``U_a a_i`` for every region, computed once per image (None for the dot score)."""
        return self.score.project_keys(features) if self.score is not None else None

    def scores(self, query: torch.Tensor, features: torch.Tensor,
               projected: torch.Tensor | None = None) -> torch.Tensor:
        """``e_i``: ``query (B, H)``, the state ``h_{t-1}``; ``features (B, L, D)`` -> ``(B, L)``."""
        q = query.unsqueeze(1)  # (B, H) -> (B, 1, H): one query per image
        if self.score is None:
            return dot_score(q, features).squeeze(1)  # (B, 1, L) -> (B, L)
        if projected is None:
            projected = self.project(features)
        return self.score(q, projected_key=projected).squeeze(1)


class SoftAttention(_RegionAttention):
    """Deterministic attention: ``α = softmax(e)``, ``z = Σ α_i a_i`` (Xu et al. 2015).

    Args:
        query_size: ``H``, the decoder state's size.
        feature_size: ``D``, the region vectors' size.
        score: ``"additive"`` (the attention unit ``v_aᵀ tanh(W_a h_{t-1} + U_a a_i)``) or ``"dot"``.
        hidden_size: the attention unit's size (additive only).
    """

    def forward(self, query: torch.Tensor, features: torch.Tensor,
                projected: torch.Tensor | None = None) -> Glimpse:
        """``query (B, H)``, ``features (B, L, D)`` -> :class:`Glimpse` with ``glimpse (B, D)``."""
        weights = masked_softmax(self.scores(query, features, projected))  # (B, L)
        return Glimpse(soft_glimpse(features, weights), weights)


class HardAttention(_RegionAttention):
    """Stochastic attention: look at one region ``i ~ Categorical(α)``, ``z = a_i``.

    ``mode`` switches between sampling (training, and to see the randomness) and the most
    probable region (evaluation); ``forward`` can override it per call.

    Xu et al. (2015) also replace the sample by its expectation ``Σ α_i a_i`` with probability
    0.5 during training, which gets learning going sooner: ``expected_prob`` does that, for each
    image independently, in sample mode while the module is training. Those images get
    ``log_prob = 0``, so they add nothing to the REINFORCE term (their gradient flows through
    the soft glimpse instead).

    Args:
        query_size, feature_size, score, hidden_size: as :class:`SoftAttention`.
        mode: ``"sample"`` or ``"argmax"``.
        expected_prob: the probability of using the expectation instead of a sample (training).
    """

    def __init__(self, query_size: int, feature_size: int, score: str = "additive",
                 hidden_size: int = 64, mode: str = "sample", expected_prob: float = 0.0) -> None:
        super().__init__(query_size, feature_size, score, hidden_size)
        if mode not in ("sample", "argmax"):
            raise ValueError(f"mode must be 'sample' or 'argmax', got {mode!r}")
        if not 0.0 <= expected_prob <= 1.0:
            raise ValueError(f"expected_prob must be in [0, 1], got {expected_prob}")
        self.mode, self.expected_prob = mode, expected_prob

    def forward(self, query: torch.Tensor, features: torch.Tensor,
                projected: torch.Tensor | None = None, mode: str | None = None,
                generator: torch.Generator | None = None) -> Glimpse:
        """Like :class:`SoftAttention`, plus the region chosen, its log-probability and H(α)."""
        mode = mode or self.mode
        log_weights = torch.log_softmax(self.scores(query, features, projected), dim=-1)  # (B, L)
        weights = log_weights.exp()
        glimpse, index = hard_glimpse(features, weights, mode, generator)
        log_prob = log_weights.gather(1, index.unsqueeze(1)).squeeze(1)  # (B,)
        entropy = -(weights * log_weights).sum(dim=-1)  # (B,)
        if self.training and mode == "sample" and self.expected_prob > 0:
            u = torch.rand(features.shape[0], generator=generator, device=features.device)
            use_mean = u < self.expected_prob  # (B,)
            glimpse = torch.where(use_mean.unsqueeze(1), soft_glimpse(features, weights), glimpse)
            log_prob = log_prob.masked_fill(use_mean, 0.0)
        return Glimpse(glimpse, weights, index, log_prob, entropy)


def reinforce_loss(
    log_prob: torch.Tensor,
    reward: torch.Tensor,
    baseline: torch.Tensor | float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_weight: float = 0.0,
) -> torch.Tensor:
    """The surrogate loss whose gradient is the REINFORCE estimate (Williams 1992).

    ``loss = -mean[(r - b) · log π(i)] - λ_e · mean[H(π)]``, with the reward ``r`` and the
    baseline ``b`` treated as constants (for hard attention ``π(i) = α_i``). Its gradient,
    ``-(r - b) ∇log π(i)``, is on average ``-∇ E_i[r]`` for any ``b`` that does not depend on
    the sampled ``i``. A ``b`` close to ``E[r]`` removes the noise that comes from the rewards'
    common level: much of it when the rewards are all alike, little once they differ (chapter 3,
    section 11). The entropy bonus keeps the policy exploring.

    Args:
        log_prob: ``log π(i)`` of the sampled actions, any shape (e.g. ``(B, T)``).
        reward: the same shape; for captioning, the log-likelihood of the right word.
        baseline: a number or a tensor broadcastable to ``reward``.
        entropy: optional, the same shape as ``log_prob``.
        entropy_weight: ``λ_e``.

    Returns:
        A scalar to minimise (add it to the other losses).

    Raises:
        TypeError: ``log_prob`` or ``reward`` not a tensor.
        ValueError: shapes that differ; a loss that is not finite, naming the input that holds
            NaN or inf (``log_prob``, ``reward``, ``baseline`` or ``entropy``).
    """
    require_tensor("log_prob", log_prob)
    require_tensor("reward", reward)
    if reward.shape != log_prob.shape:
        raise ValueError(f"reward has shape {tuple(reward.shape)} but log_prob has "
                         f"{tuple(log_prob.shape)}")
    advantage = (reward - baseline).detach()  # a constant: no gradient through r or b
    loss = -(advantage * log_prob).mean()
    if entropy is not None and entropy_weight:
        if entropy.shape != log_prob.shape:
            raise ValueError(f"entropy has shape {tuple(entropy.shape)} but log_prob has "
                             f"{tuple(log_prob.shape)}")
        loss = loss - entropy_weight * entropy.mean()
    if not bool(torch.isfinite(loss)):  # the only check on the usual path: one scalar
        used = [("log_prob", log_prob), ("reward", reward), ("baseline", torch.as_tensor(baseline))]
        if entropy is not None and entropy_weight:
            used += [("entropy", entropy), ("entropy_weight", torch.as_tensor(entropy_weight))]
        for name, t in used:
            require_finite(name, t.detach(), ": the REINFORCE loss would not be finite")
        raise ValueError(f"the REINFORCE loss overflowed to {float(loss)} in {loss.dtype}")
    return loss


class MovingAverageBaseline:
    """``b_k = m · b_{k-1} + (1 - m) · r_k``, the baseline of Xu et al. (2015) with ``m = 0.9``.

    Call it with the batch's mean reward (a number or a tensor, e.g. one value per caption
    step): it returns the baseline to use for this batch, the average of the batches before
    (or the batch's own mean on the first call), then folds the batch in.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.value: torch.Tensor | None = None

    def __call__(self, reward_mean: torch.Tensor) -> torch.Tensor:
        reward_mean = torch.as_tensor(reward_mean).detach()
        baseline = reward_mean if self.value is None else self.value
        self.value = self.momentum * baseline + (1.0 - self.momentum) * reward_mean
        return baseline
