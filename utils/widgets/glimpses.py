"""Chapter 3's glimpse stepper: step through a caption and see where each word was looked for.

For every word the captioner emits, the image with the attention over its regions laid on top
(the digit the word should name outlined in green), beside the weights ``α_i`` on the grid of
regions. Soft attention spreads its weights; hard attention samples one region per word.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from utils.data.digits import DIGIT_VOCAB
from utils.plots import attention_heatmap, attention_overlay
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.widgets.live import live_view

__all__ = ["draw_glimpse_step", "glimpse_stepper"]


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

    Returns a :class:`utils.static_explorer.LiveOrStatic`; the book shows test canvas 0 for
    each model, each step, drawn once with a fixed seed.
    """
    import ipywidgets as widgets

    draws = {"count": 0}

    def redraw(name, canvas, step):
        model, mode = models[name]
        draws["count"] += 1
        with torch.random.fork_rng(devices=[]):  # fresh samples, the notebook's generator untouched
            torch.manual_seed(draws["count"])
            out = model.caption(data.images[canvas:canvas + 1].to(device),
                                length=data.captions.shape[1], mode=mode)
        return draw_glimpse_step(data.images[canvas], out.weights[0], DIGIT_VOCAB.decode(out.tokens[0]),
                                 step, data.grid, boxes=data.boxes[canvas], label=name)

    controls = dict(
        name=widgets.Dropdown(options=list(models), description="model"),
        canvas=widgets.IntSlider(value=0, min=0, max=len(data) - 1, description="canvas"),
        step=widgets.IntSlider(value=0, min=0, max=data.captions.shape[1] - 1, description="step"),
    )
    live = live_view(redraw, controls)

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
