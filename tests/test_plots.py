"""utils.plots: figures draw what they are given, and reject what does not fit."""

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
