"""Chapter 4's decoding stepper: greedy decoding, one output token at a time.

At each step the learner sees where the decoder looks (its attention weights over the source, the
current row framed) while it picks the next token, and the few tokens it thought most likely.
Chapter 7 steps through its Transformer's decoding with the same stepper.
"""

from __future__ import annotations

import matplotlib.patches as patches
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from utils.bahdanau import decode_trace
from utils.plots import attention_heatmap
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets.live import live_view

__all__ = ["draw_decoding_step", "decoding_stepper"]


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
    :func:`draw_decoding_step`. ``tokenize(text) -> list of source tokens``.

    Works for any model :func:`utils.bahdanau.decode_trace` can trace: chapter 4's Bahdanau
    decoder, and chapter 7's Transformer. Returns a :class:`utils.static_explorer.LiveOrStatic`
    whose book version shows every step of ``text``.
    """
    import ipywidgets as widgets

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

    def draw(source_text, step):
        if not source_text.strip():
            print("type a source")
            return None
        trace = trace_for(source_text)
        return draw_decoding_step(trace, min(step, len(trace.output) - 1), top_k=top_k, sep=sep)

    live = live_view(draw, {"source_text": text_box, "step": slider})

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
