"""Interactive explorers. Each has a ``draw_…`` function (a plain Matplotlib figure, used for the
book's static view and in tests) and a widget that redraws it as the learner moves the controls.

Each explorer also draws its figure ahead for a grid of control values
(:class:`utils.static_explorer.StaticExplorer`): JupyterLab shows the live widget, the book,
which has no kernel, shows those frames with radio buttons that switch them without Python.
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

__all__ = ["EXPLORER_LABELS", "explorer_vectors", "explorer_weights", "draw_explorer", "attention_explorer",
           "draw_decoding_step", "decoding_stepper", "draw_positions", "positions_explorer",
           "local_window_weights", "draw_local_window", "local_window_explorer",
           "draw_glimpse_step", "glimpse_stepper"]

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
    """Sliders for the query's angle and length, temperature and d_k, and a score menu."""
    import ipywidgets as widgets
    from IPython.display import display

    controls = dict(
        angle_deg=widgets.FloatSlider(value=40, min=0, max=360, step=5, description="query angle"),
        length=widgets.FloatSlider(value=2.0, min=0.0, max=2.5, step=0.1, description="query length"),
        score=widgets.Dropdown(options=list(SCORES), value="scaled dot", description="score"),
        temperature=widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05, description="temperature"),
        d_k=widgets.IntSlider(value=2, min=2, max=MAX_D_K, step=1, description="d_k"),
    )

    def redraw(**kwargs):
        fig = draw_explorer(**kwargs)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(redraw, controls)
    live = widgets.VBox([widgets.HBox([widgets.VBox(list(controls.values())[:3]), widgets.VBox(list(controls.values())[3:])]), out])

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


# ----------------------------------------------------------------------------------------------
# Chapter 4: step through greedy decoding, one output token at a time
# ----------------------------------------------------------------------------------------------
def _visible(token: str) -> str:
    """A space drawn as ``␣``, so that it shows up as a tick label."""
    return "\u2423" if token == " " else token


def draw_decoding_step(trace, step: int, top_k: int = 5, sep: str = "", fig: Figure | None = None) -> Figure:
    """Draw step ``step`` (0-based) of a :class:`utils.bahdanau.DecodeTrace`.

    Left: the attention weights of every step so far (later steps greyed out), the current row
    framed in red: where the decoder looks while it chooses this token. Right: the ``top_k``
    most likely next tokens, the chosen one (greedy: the most likely) in orange. ``sep`` joins
    output tokens in the title ("" for characters, " " for words).
    """
    import matplotlib.patches as patches

    from utils.plots import attention_heatmap

    T = len(trace.output)
    if not 0 <= step < T:
        raise ValueError(f"step must be between 0 and {T - 1} (the trace has {T} steps), got {step}")
    if fig is None:
        fig = plt.figure(figsize=(10, 3.8))
    fig.clear()
    has_weights = trace.weights is not None
    if has_weights:
        ax_map, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(2.0, 0.25 * len(trace.source)), 1.2]})
        shown = trace.weights.clone()
        shown[step + 1:] = 0.0
        labels = [_visible(tok) if t <= step else "·" for t, tok in enumerate(trace.output)]
        attention_heatmap(shown, x_labels=[_visible(tok) for tok in trace.source], y_labels=labels, ax=ax_map, colorbar=False,
                          xlabel="source tokens j", ylabel="output step t", title="where the decoder looks")
        if step + 1 < T:
            ax_map.add_patch(patches.Rectangle((-0.5, step + 0.5), len(trace.source), T - step - 1,
                                               facecolor="white", alpha=0.75, edgecolor="none"))
        ax_map.add_patch(patches.Rectangle((-0.5, step - 0.5), len(trace.source), 1.0,
                                           fill=False, edgecolor="tab:red", lw=2))
    else:
        ax_bar = fig.subplots(1, 1)
    probs = trace.probs[step]
    k = min(top_k, probs.numel())
    top = torch.topk(probs, k)
    names = [trace.vocab[i] for i in top.indices.tolist()][::-1]
    values = top.values.tolist()[::-1]
    colors = ["tab:blue"] * (k - 1) + ["tab:orange"]
    ax_bar.barh(range(k), values, color=colors)
    ax_bar.set_yticks(range(k), labels=[_visible(n) for n in names])
    ax_bar.set_xlim(0, 1)
    for y, v in enumerate(values):
        ax_bar.text(min(v + 0.02, 0.8), y, f"{v:.2f}", va="center", fontsize=8)
    ax_bar.set_xlabel("p(next token)")
    ax_bar.set_title(f"top {k} candidates")
    so_far = sep.join(trace.output[:step])
    fig.suptitle(f"step {step + 1} of {T}: output so far \u201c{so_far}\u201d, next: {trace.output[step]!r}")
    fig.tight_layout()
    return fig


def decoding_stepper(model, src_vocab, tgt_vocab, tokenize, text: str, max_len: int = 30,
                     top_k: int = 5, sep: str = ""):
    """A text box for the source and a slider over the output steps, redrawing
    :func:`draw_decoding_step`. ``tokenize(text) -> list of source tokens``."""
    import ipywidgets as widgets
    from IPython.display import display

    from utils.bahdanau import decode_trace

    cache: dict[str, object] = {}

    def trace_for(source_text: str):
        if source_text not in cache:
            cache.clear()
            cache[source_text] = decode_trace(model, tokenize(source_text), src_vocab, tgt_vocab, max_len)
        return cache[source_text]

    first = trace_for(text)
    text_box = widgets.Text(value=text, description="source", continuous_update=False)
    slider = widgets.IntSlider(value=0, min=0, max=len(first.output) - 1, description="step")

    def on_text(change):
        n = len(trace_for(change["new"]).output) if change["new"].strip() else 1
        slider.max = n - 1
        slider.value = min(slider.value, n - 1)

    text_box.observe(on_text, names="value")

    def redraw(source_text, step):
        if not source_text.strip():
            print("type a source")
            return
        trace = trace_for(source_text)
        fig = draw_decoding_step(trace, min(step, len(trace.output) - 1), top_k=top_k, sep=sep)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(redraw, {"source_text": text_box, "step": slider})
    live = widgets.VBox([widgets.HBox([text_box, slider]), out])

    def describe(step):
        token = _visible(first.output[step])
        text_ = f"Step {step + 1} of {len(first.output)} for the source {text!r}: the decoder emits {token!r}"
        if first.weights is None:
            return text_ + "."
        w = first.weights[step]
        j = int(w.argmax())
        return text_ + (f"; its attention is largest on source position {j + 1}, "
                        f"{_visible(first.source[j])!r}, with weight {float(w[j]):.2f}.")

    static = StaticExplorer(
        f"Decoding stepper: {text!r}, step by step",
        [("output step", [(t, str(t + 1)) for t in range(len(first.output))])],
        draw=lambda step: draw_decoding_step(first, step, top_k=top_k, sep=sep), describe=describe)
    return LiveOrStatic(live, static)


# ----------------------------------------------------------------------------------------------
# Chapter 6: sinusoidal positional encodings
# ----------------------------------------------------------------------------------------------
def draw_positions(position: int = 20, d_model: int = 32, max_len: int = 64, base: float = 10000.0,
                   fig: Figure | None = None) -> Figure:
    """Left: the sinusoidal encodings ``PE (max_len, d_model)``, the row of ``position`` framed.
    Right: how similar that row is to every other position, ``PE[pos] · PE[j] / (d_model / 2)``
    (1 at ``j = pos``), which depends only on the distance ``j - pos``."""
    from utils.positional import sinusoidal_positional_encoding

    if not 0 <= position < max_len:
        raise ValueError(f"position must be between 0 and {max_len - 1}, got {position}")
    pe = sinusoidal_positional_encoding(max_len, d_model, base, dtype=torch.float64)
    similarity = (pe @ pe[position]) / (d_model / 2)  # (max_len,)
    if fig is None:
        fig = plt.figure(figsize=(10, 3.6))
    fig.clear()
    ax_pe, ax_sim = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    image = ax_pe.imshow(pe.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax_pe.axhline(position - 0.5, color="gold", lw=2)
    ax_pe.axhline(position + 0.5, color="gold", lw=2)
    ax_pe.set(xlabel="dimension (even: sin, odd: cos)", ylabel="position", title=f"PE, d_model = {d_model}, base = {base:g}")
    fig.colorbar(image, ax=ax_pe, fraction=0.046, pad=0.04).set_label("PE value (sin or cos)")
    ax_sim.plot(range(max_len), similarity.numpy(), ".-", color="tab:blue")
    ax_sim.axvline(position, color="tab:red", lw=1, ls="--")
    ax_sim.set(xlabel="position j", ylabel="similarity", ylim=(-1.05, 1.05),
               title=f"PE[{position}] · PE[j] / (d_model/2)")
    fig.tight_layout()
    return fig


def positions_explorer(max_len: int = 64):
    """Sliders for the position, ``d_model`` and the base, redrawing :func:`draw_positions`."""
    import ipywidgets as widgets
    from IPython.display import display

    controls = dict(
        position=widgets.IntSlider(value=20, min=0, max=max_len - 1, description="position"),
        d_model=widgets.Dropdown(options=[4, 8, 16, 32, 64, 128], value=32, description="d_model"),
        base=widgets.FloatLogSlider(value=10000, base=10, min=1, max=5, step=0.25, description="base"),
    )

    def redraw(**kwargs):
        fig = draw_positions(max_len=max_len, **kwargs)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(redraw, controls)
    live = widgets.VBox([widgets.HBox(list(controls.values())), out])
    positions = sorted({p for p in (0, 5, 20, max_len - 1) if 0 <= p < max_len})

    def describe(position, d_model):
        return (f"Sinusoidal encodings of {max_len} positions with d_model = {d_model} and base 10000, row "
                f"{position} framed; its similarity to every other position is 1 at position {position} and "
                "depends only on the distance to it.")

    static = StaticExplorer(
        "Positional encodings: position and d_model (base 10000)",
        [("position", [(p, str(p)) for p in positions]), ("d_model", [(d, str(d)) for d in (8, 32, 128)])],
        draw=lambda position, d_model: draw_positions(position, d_model, max_len=max_len),
        describe=describe, default=(positions.index(20) if 20 in positions else 0, 1))
    return LiveOrStatic(live, static)


# ----------------------------------------------------------------------------------------------
# Chapter 5: Luong's local attention window
# ----------------------------------------------------------------------------------------------
def local_window_weights(center: float = 7.5, w: int = 3, S: int = 20, gaussian: bool = True,
                         seed: int = 0) -> dict[str, torch.Tensor]:
    """Global and local weights over ``S`` positions for fixed seeded scores (the explorer's data).

    Returns a dict with ``scores``, ``global`` (softmax over all ``S``), ``align`` (softmax inside
    ``[center − w, center + w]``), ``gaussian`` (``exp(−(s − center)² / (2σ²))``, ``σ = w/2``)
    and ``local`` (``align``, times ``gaussian`` if asked; not renormalised), each ``(S,)``.
    """
    from utils.luong import gaussian_factor, local_weights

    if not 0 <= center <= S:
        raise ValueError(f"center must be between 0 and {S}, got {center}")
    scores = torch.randn(S, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    p = torch.tensor([[float(center)]], dtype=torch.float64)  # (B=1, T=1)
    align = local_weights(scores.view(1, 1, S), p, w, gaussian=False)[0, 0]
    factor = gaussian_factor(p, S, w / 2.0)[0, 0]
    return {"scores": scores, "global": masked_softmax(scores), "align": align, "gaussian": factor,
            "local": align * factor if gaussian else align}


def draw_local_window(center: float = 7.5, w: int = 3, S: int = 20, gaussian: bool = True,
                      seed: int = 0, fig: Figure | None = None) -> Figure:
    """Top: global attention over all ``S`` positions. Bottom: local attention — the window
    ``[p_t − w, p_t + w]`` shaded, the Gaussian ``σ = w/2`` dashed, the local weights as bars."""
    weights = local_window_weights(center, w, S, gaussian, seed)
    if fig is None:
        fig = plt.figure(figsize=(9, 4.4))
    fig.clear()
    ax_g, ax_l = fig.subplots(2, 1, sharex=True)
    s = np.arange(S)
    ax_g.bar(s, weights["global"].numpy(), color="tab:gray")
    ax_g.set(ylabel="weight", title="global: softmax over every source position", ylim=(0, 1))
    ax_l.axvspan(center - w, center + w, color="tab:orange", alpha=0.15, label=f"window [p_t − w, p_t + w], w = {w}")
    ax_l.bar(s, weights["local"].numpy(), color="tab:blue", label="local weights" + (" (align × Gaussian)" if gaussian else " (align)"))
    if gaussian:
        fine = np.linspace(0, S - 1, 400)
        ax_l.plot(fine, np.exp(-(fine - center) ** 2 / (2 * (w / 2) ** 2)), "--", color="tab:red",
                  label="Gaussian, σ = w/2")
    ax_l.axvline(center, color="tab:red", lw=1)
    ax_l.set(xlabel="source position s", ylabel="weight", ylim=(0, 1.05),
             title=f"local, p_t = {center:g}: weights sum to {float(weights['local'].sum()):.2f}")
    ax_l.set_xticks(s)
    ax_l.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def local_window_explorer(S: int = 20):
    """Sliders for the window centre ``p_t`` and half-width ``w``, and a Gaussian switch,
    redrawing :func:`draw_local_window`."""
    import ipywidgets as widgets
    from IPython.display import display

    controls = dict(
        center=widgets.FloatSlider(value=7.5, min=0, max=S, step=0.5, description="centre p_t"),
        w=widgets.IntSlider(value=3, min=1, max=S // 2, description="half-width w"),
        gaussian=widgets.Checkbox(value=True, description="Gaussian (local-p)"),
    )

    def redraw(**kwargs):
        fig = draw_local_window(S=S, **kwargs)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(redraw, controls)
    live = widgets.VBox([widgets.HBox(list(controls.values())), out])

    def describe(center, w, gaussian):
        weights = local_window_weights(center, w, S, gaussian)
        local, glob = weights["local"], weights["global"]
        inside = [i for i in range(S) if float(local[i]) > 0]
        span = f"positions {inside[0]} to {inside[-1]}" if inside else "no position"
        return (f"p_t = {center:g}, w = {w}, Gaussian {'on' if gaussian else 'off'}: the local weights are non-zero "
                f"at {span}, largest at {int(local.argmax())} ({float(local.max()):.2f}), summing to "
                f"{float(local.sum()):.2f}; global attention's largest weight is at {int(glob.argmax())}.")

    centres = [c for c in (3.0, 7.5, 15.0) if c <= S]
    static = StaticExplorer(
        "Local attention window: centre p_t, half-width w, Gaussian",
        [("centre p_t", [(c, f"{c:g}") for c in centres]), ("half-width w", [(d, str(d)) for d in (1, 3, 5)]),
         ("Gaussian (local-p)", [(True, "on"), (False, "off")])],
        draw=lambda center, w, gaussian: draw_local_window(center, w, S, gaussian), describe=describe,
        default=(centres.index(7.5) if 7.5 in centres else 0, 1, 0))
    return LiveOrStatic(live, static)


# ----------------------------------------------------------------------------------------------
# Chapter 3: step through a caption and see each glimpse
# ----------------------------------------------------------------------------------------------
def draw_glimpse_step(image, weights, words, step: int, grid: tuple[int, int], boxes=None,
                      label: str | None = None, fig: Figure | None = None) -> Figure:
    """One step of a caption: the attention over the image when the word was emitted (left)
    and the probabilities ``α_i`` on the grid of regions (right).

    Args:
        image: ``(1, H, W)`` or ``(H, W)``.
        weights: ``(T, L)`` attention at every step.
        words: the ``T`` words emitted.
        step: which step to show (0-based).
        grid: ``(rows, cols)`` of regions.
        boxes: optional ``(T, 4)``: the box of the digit each step should name.
        label: the model's name, for the title.
    """
    from utils.plots import attention_heatmap, attention_overlay

    if not 0 <= step < len(words):
        raise ValueError(f"step must be between 0 and {len(words) - 1}, got {step}")
    w = torch.as_tensor(weights).detach().cpu()
    if fig is None:
        fig = plt.figure(figsize=(9, 2.6))
    fig.clear()
    ax_image, ax_grid = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.15]})
    box = None if boxes is None else boxes[step]
    attention_overlay(image, w[step], grid, ax=ax_image, box=box,
                      title=f"step {step + 1}: looks here, says {words[step]!r}")
    attention_heatmap(w[step].reshape(grid), ax=ax_grid, annotate=True, colorbar=False,
                      xlabel="region column", ylabel="region row",
                      title="attention α_i on the grid of regions")
    caption = " ".join(f"[{word}]" if t == step else word for t, word in enumerate(words))
    fig.suptitle(f"{label + ' — ' if label else ''}caption: {caption}", fontsize=10)
    fig.tight_layout()
    return fig


def glimpse_stepper(models: dict, data, device="cpu"):
    """Sliders for the canvas and the caption step, and a menu of models.

    Args:
        models: ``name -> (model, mode)``, ``mode`` being ``None`` for soft attention and
            ``"argmax"`` or ``"sample"`` for hard attention. A sampling model draws new
            glimpses every time the view is redrawn: move a slider and back to see it.
        data: a :class:`utils.data.DigitCanvases`.
        device: where the models are.
    """
    import ipywidgets as widgets
    from IPython.display import display

    from utils.data.digits import DIGIT_VOCAB

    draws = {"count": 0}

    def redraw(name, canvas, step):
        model, mode = models[name]
        draws["count"] += 1
        with torch.random.fork_rng(devices=[]):  # fresh samples, the notebook's generator untouched
            torch.manual_seed(draws["count"])
            out = model.caption(data.images[canvas:canvas + 1].to(device),
                                length=data.captions.shape[1], mode=mode)
        fig = draw_glimpse_step(data.images[canvas], out.weights[0], DIGIT_VOCAB.decode(out.tokens[0]),
                                step, data.grid, boxes=data.boxes[canvas], label=name)
        display(fig)
        plt.close(fig)

    controls = dict(
        name=widgets.Dropdown(options=list(models), description="model"),
        canvas=widgets.IntSlider(value=0, min=0, max=len(data) - 1, description="canvas"),
        step=widgets.IntSlider(value=0, min=0, max=data.captions.shape[1] - 1, description="step"),
    )
    out = widgets.interactive_output(redraw, controls)
    live = widgets.VBox([widgets.HBox(list(controls.values())), out])

    captions = {}
    for index, name in enumerate(models):  # canvas 0, each model once, with a fixed draw
        model, mode = models[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(index)
            captions[name] = model.caption(data.images[0:1].to(device), length=data.captions.shape[1], mode=mode)

    def draw(name, step):
        out_ = captions[name]
        return draw_glimpse_step(data.images[0], out_.weights[0], DIGIT_VOCAB.decode(out_.tokens[0]), step,
                                 data.grid, boxes=data.boxes[0], label=name)

    def describe(name, step):
        out_ = captions[name]
        words, w = DIGIT_VOCAB.decode(out_.tokens[0]), out_.weights[0][step].detach().cpu()
        row, col = divmod(int(w.argmax()), data.grid[1])
        return (f"{name}, test canvas 0, step {step + 1}: the model says {words[step]!r} while its attention is "
                f"largest on the region in row {row + 1}, column {col + 1} (weight {float(w.max()):.2f}).")

    static = StaticExplorer(
        "Glimpse stepper: test canvas 0, each model, each step",
        [("model", [(name, name) for name in models]),
         ("step", [(t, str(t + 1)) for t in range(data.captions.shape[1])])],
        draw=draw, describe=describe)
    return LiveOrStatic(live, static)
