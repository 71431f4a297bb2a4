"""Chapter 2's attention explorer: one query, five keys, and the weighted average they give.

The learner turns the query (its angle and length in the plane the figure shows), picks a score
function (dot, scaled dot, general, additive), sets the softmax temperature and the dimension
``d_k``, and watches the weights ``α_j = softmax(e_j / temperature)`` and the context vector move.
Raising ``d_k`` shows why the dot score is scaled by ``√d_k``: unscaled, the weights saturate.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from utils.attention import masked_softmax
from utils.plots import weights_bar
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets.live import live_view

__all__ = ["EXPLORER_LABELS", "explorer_vectors", "explorer_weights", "draw_explorer", "attention_explorer"]

EXPLORER_LABELS = ["apple", "banana", "cherry", "truck", "train"]
# Where the keys sit in the plane we draw (their first two coordinates, on a circle of radius 1.5): fruit on one side,
# vehicles on the other, so a query pointing "towards fruit" is easy to read.
_KEY_ANGLES_DEG = [10.0, 50.0, 95.0, 200.0, 250.0]
_KEY_RADIUS = 1.5
SCORES = ("dot", "scaled dot", "general", "additive")
MAX_D_K = 64


def explorer_vectors(angle_deg: float, length: float, d_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The explorer's query ``(d_k,)`` and keys ``(5, d_k)`` in float64.

    The first two coordinates are what the figure shows: keys on a circle of radius 1.5, the query at
    ``angle_deg`` with norm ``length``. Coordinates 3..d_k are fixed random numbers with mean 0
    and variance 1 (seeded), as in a real model's high-dimensional vectors: they are why dot
    products grow with ``d_k``.
    """
    if not 2 <= d_k <= MAX_D_K:
        raise ValueError(f"d_k must be between 2 and {MAX_D_K}, got {d_k}")
    extra = np.random.RandomState(0).randn(len(EXPLORER_LABELS) + 1, MAX_D_K - 2)[:, : d_k - 2]
    a = math.radians(angle_deg)
    query = np.concatenate([[length * math.cos(a), length * math.sin(a)], extra[0]])
    keys = _KEY_RADIUS * np.array([[math.cos(math.radians(t)), math.sin(math.radians(t))] for t in _KEY_ANGLES_DEG])
    keys = np.concatenate([keys, extra[1:]], axis=1)
    return torch.tensor(query), torch.tensor(keys)


def _fixed_params(d_k: int, d_a: int = 8):
    rng = np.random.RandomState(1)
    W = torch.tensor(np.eye(d_k) + 0.3 * rng.randn(d_k, d_k))  # general: near the identity
    W_q = torch.tensor(rng.randn(d_k, d_a) / math.sqrt(d_k))
    W_k = torch.tensor(rng.randn(d_k, d_a) / math.sqrt(d_k))
    v = torch.tensor(rng.randn(d_a) * 2.0)
    return W, W_q, W_k, v


def explorer_weights(angle_deg: float = 40.0, length: float = 2.0, score: str = "scaled dot",
                     temperature: float = 1.0, d_k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The explorer's ``(scores (5,), weights (5,))`` for one setting of its controls.

    ``weights = softmax(score(q, k_j) / temperature)``; ``score`` is one of ``dot``,
    ``scaled dot`` (``q·k/√d_k``), ``general`` (``qᵀ W k``) or ``additive``
    (``vᵀ tanh(W_qᵀ q + W_kᵀ k)``), with fixed seeded parameters.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    q, K = explorer_vectors(angle_deg, length, d_k)
    W, W_q, W_k, v = _fixed_params(d_k)
    if score == "dot":
        e = K @ q
    elif score == "scaled dot":
        e = K @ q / math.sqrt(d_k)
    elif score == "general":
        e = K @ (W.T @ q)  # q^T W k_j for every j
    else:
        e = torch.tanh(q @ W_q + K @ W_k) @ v
    return e, masked_softmax(e / temperature)


def draw_explorer(angle_deg: float = 40.0, length: float = 2.0, score: str = "scaled dot",
                  temperature: float = 1.0, d_k: int = 2, fig: Figure | None = None) -> Figure:
    """Draw the query, the keys (dot size = weight), the context vector and the weights."""
    scores, weights = explorer_weights(angle_deg, length, score, temperature, d_k)
    q, K = explorer_vectors(angle_deg, length, d_k)
    context = weights @ K  # the weighted average of the values (here values = keys)
    if fig is None:
        fig = plt.figure(figsize=(9, 3.8))
    fig.clear()
    ax_plane, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    w = weights.numpy()
    ax_plane.scatter(K[:, 0], K[:, 1], s=40 + 500 * w, c=["tab:green"] * 3 + ["tab:gray"] * 2, alpha=0.8, zorder=2)
    for (x, y), label, wj in zip(K[:, :2].numpy(), EXPLORER_LABELS, w):
        ax_plane.annotate(f"{label}\n{wj:.2f}", (x, y), textcoords="offset points", xytext=(8, 6), fontsize=8)
    ax_plane.annotate("", xy=(q[0], q[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="tab:red", lw=2))
    ax_plane.text(q[0] * 1.05, q[1] * 1.05, "query", color="tab:red")
    ax_plane.scatter([context[0]], [context[1]], marker="*", s=250, c="tab:orange", edgecolors="k", zorder=3, label="context c")
    ax_plane.set_xlim(-2.6, 2.6)
    ax_plane.set_ylim(-2.6, 2.6)
    ax_plane.set_aspect("equal")
    ax_plane.axhline(0, color="0.85", lw=0.8)
    ax_plane.axvline(0, color="0.85", lw=0.8)
    ax_plane.legend(loc="lower right", fontsize=8)
    ax_plane.set_title(f"first two of d_k = {d_k} coordinates")
    weights_bar(weights, EXPLORER_LABELS, ax=ax_bar,
                title=f"{score}, temperature {temperature:g}: max weight {w.max():.2f}")
    ax_bar.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def attention_explorer():
    """Sliders for the query's angle and length, temperature and d_k, and a score menu.

    Returns a :class:`utils.static_explorer.LiveOrStatic`: the live widget in JupyterLab, frames
    drawn ahead for a grid of angles, scores and d_k in the book.
    """
    import ipywidgets as widgets

    controls = dict(
        angle_deg=widgets.FloatSlider(value=40, min=0, max=360, step=5, description="query angle"),
        length=widgets.FloatSlider(value=2.0, min=0.0, max=2.5, step=0.1, description="query length"),
        score=widgets.Dropdown(options=list(SCORES), value="scaled dot", description="score"),
        temperature=widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05, description="temperature"),
        d_k=widgets.IntSlider(value=2, min=2, max=MAX_D_K, step=1, description="d_k"),
    )
    live = live_view(draw_explorer, controls, columns=[["angle_deg", "length", "score"], ["temperature", "d_k"]])

    def describe(angle, score, d_k):
        _, w = explorer_weights(angle_deg=angle, length=2.0, score=score, d_k=d_k)
        pairs = ", ".join(f"{label} {x:.2f}" for label, x in zip(EXPLORER_LABELS, w.tolist()))
        return (f"Query at {angle} degrees, length 2, {score} score, d_k = {d_k}: the weights are {pairs}; "
                f"the largest goes to {EXPLORER_LABELS[int(w.argmax())]}.")

    static = StaticExplorer(
        "Attention explorer: query angle, score and d_k",
        [("query angle", [(a, f"{a}°") for a in (0, 40, 120, 200)]),
         ("score", [(sc, sc) for sc in ("dot", "scaled dot")]),
         ("d_k", [(d, str(d)) for d in (2, 64)])],
        draw=lambda angle, score, d_k: draw_explorer(angle_deg=angle, length=2.0, score=score, d_k=d_k),
        describe=describe, default=(1, 1, 0))
    return LiveOrStatic(live, static)
