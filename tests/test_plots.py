"""utils.plots: figures draw what they are given, and reject what does not fit."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from utils.plots import attention_heatmap, to_numpy, weights_bar


def test_heatmap_shows_the_weights_with_labels():
    w = torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]], requires_grad=True)  # leading batch of 1
    ax = attention_heatmap(w, x_labels=["a", "b", "c"], y_labels=["x", "y"], annotate=True, title="t")
    image = ax.get_images()[0]
    np.testing.assert_allclose(image.get_array(), w.detach()[0].numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    assert len(ax.texts) == 6 and ax.texts[0].get_text() == "0.70"
    plt.close("all")


def test_heatmap_rejects_mismatched_labels_and_shapes():
    with pytest.raises(ValueError, match="x_labels has 2 labels but weights have 3"):
        attention_heatmap(np.ones((2, 3)), x_labels=["a", "b"])
    with pytest.raises(ValueError, match="must be 2-D"):
        attention_heatmap(np.ones((2, 2, 3)))
    plt.close("all")


def test_weights_bar_highlights_the_largest():
    ax = weights_bar([0.1, 0.6, 0.3], labels=["a", "b", "c"])
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.1, 0.6, 0.3])
    colors = [p.get_facecolor() for p in ax.patches]
    assert colors[1] != colors[0] and colors[0] == colors[2]
    plt.close("all")


def test_to_numpy_handles_grad_and_dtypes():
    assert to_numpy(torch.ones(2, requires_grad=True)).dtype == np.float64
    assert to_numpy(torch.tensor([1, 2])).dtype == np.int64
    assert to_numpy([1.0]).shape == (1,)


def _points_under_legend(ax) -> int:
    """How many plotted data points the legend's box covers, in display coordinates."""
    fig = ax.figure
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    inside = 0
    for line in ax.get_lines():
        xy = line.get_transform().transform(line.get_xydata())
        inside += int(((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)).sum())
    return inside


def test_accuracy_vs_length_keeps_its_legend_off_the_data():
    """The legend sits beside the axes: with curves across the whole plot (chapter 7's three models,
    from 100% down to 0%), it covers no data point (the walkthrough found it on a curve)."""
    import matplotlib.pyplot as plt

    from utils.plots import accuracy_vs_length

    lengths = list(range(4, 41, 2))
    curves = {name: SimpleNamespace(lengths=lengths,
                                    exact_match_by_length={n: level(n) for n in lengths},
                                    token_accuracy_by_length={n: min(1.0, level(n) + 0.3) for n in lengths})
              for name, level in [("plain GRU", lambda n: max(0.0, 1 - n / 14)), ("Bahdanau", lambda n: 1 - n / 400),
                                  ("Transformer", lambda n: 1.0)]}
    ax = accuracy_vs_length(curves, chance=0.1)
    try:
        assert _points_under_legend(ax) == 0
    finally:
        plt.close(ax.figure)
