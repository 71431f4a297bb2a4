"""Tests for utils.captioning: region encoder, captioner, training step, evaluation."""

import pytest
import torch

from utils.captioning import (
    CaptionOutput,
    GlimpseCaptioner,
    RegionEncoder,
    attended_on_target,
    caption_step,
    evaluate_captions,
    reinforce_gradient_samples,
)
from utils.data import DIGIT_VOCAB, canvas_batches, make_digit_canvases
from utils.glimpse import MovingAverageBaseline
from utils.training import fit

V = len(DIGIT_VOCAB)
GRID = (3, 8)


def _model(attention="soft", score="additive", seed=0, **kw):
    torch.manual_seed(seed)
    sizes = dict(feature_size=16, hidden_size=16, channels=24, attention_size=8)
    sizes.update(kw)
    return GlimpseCaptioner(V, GRID, attention=attention, score=score, **sizes)


def test_region_encoder_shape_and_locality():
    torch.manual_seed(0)
    enc = RegionEncoder(GRID, feature_size=8, channels=12)
    images = torch.rand(2, 1, 16, 36)
    features = enc(images)
    assert features.shape == (2, 24, 8)
    # region 0 sees pixels [0, 8) x [0, 8) only: changing a pixel outside leaves it unchanged
    changed = images.clone()
    changed[:, :, 10:, 10:] += 1.0
    after = enc(changed)
    assert torch.equal(after[:, 0], features[:, 0])
    assert not torch.equal(after[:, -1], features[:, -1])
    with pytest.raises(ValueError, match="grid"):
        enc(torch.rand(2, 1, 16, 32))
    with pytest.raises(ValueError, match="images"):
        enc(torch.rand(16, 36))


def test_region_encoder_matrix_products_match_the_convolutions():
    torch.manual_seed(0)
    enc = RegionEncoder(GRID, feature_size=8, channels=12)
    with torch.no_grad():
        enc.position.normal_()
    images = torch.rand(3, 1, 16, 36)
    assert torch.allclose(enc(images), enc.forward_conv(images), atol=1e-5)
    fast, slow = enc(images).square().sum(), enc.forward_conv(images).square().sum()
    g_fast = torch.autograd.grad(fast, list(enc.parameters()))
    g_slow = torch.autograd.grad(slow, list(enc.parameters()))
    for a, b in zip(g_fast, g_slow):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="grid"):
        enc.forward_conv(torch.rand(2, 1, 16, 32))


def test_region_encoder_positions_tell_regions_apart():
    enc = RegionEncoder(GRID, feature_size=4, channels=4)
    with torch.no_grad():
        enc.position.copy_(torch.arange(24.0).unsqueeze(1).expand(24, 4))
    features = enc(torch.zeros(1, 1, 16, 36))  # blank image: only the positions differ
    assert len({tuple(f.tolist()) for f in features[0]}) == 24


@pytest.mark.parametrize("attention,score", [("soft", "additive"), ("soft", "dot"),
                                             ("hard", "additive"), ("hard", "dot")])
def test_captioner_shapes(attention, score):
    model = _model(attention, score)
    batch = canvas_batches(make_digit_canvases(10, seed=0), batch_size=4)(1)
    out = model(batch.images, batch.tgt_in)
    assert isinstance(out, CaptionOutput)
    assert out.logits.shape == (4, 3, V) and out.weights.shape == (4, 3, 24)
    assert torch.allclose(out.weights.sum(-1), torch.ones(4, 3))
    if attention == "soft":
        assert out.index is None and out.log_prob is None and out.entropy is None
    else:
        assert out.index.shape == out.log_prob.shape == out.entropy.shape == (4, 3)
    greedy = model.caption(batch.images, length=3)
    assert greedy.tokens.shape == (4, 3) and not greedy.logits.requires_grad
    with pytest.raises(ValueError, match="exactly one"):
        model.decode(batch.images)


def test_captioner_options():
    assert _model("hard", expected_prob=0.5).attention.expected_prob == 0.5
    with pytest.raises(ValueError, match="attention"):
        _model("glance")


def test_teacher_forcing_feeds_the_given_words():
    model = _model().eval()
    images = make_digit_canvases(2, seed=0).images
    a = model(images, torch.tensor([[1, 4, 5], [1, 4, 5]]))
    b = model(images, torch.tensor([[1, 4, 9], [1, 4, 9]]))
    assert torch.equal(a.logits[:, :2], b.logits[:, :2])  # the same words so far
    assert not torch.allclose(a.logits[:, 2], b.logits[:, 2])


def test_soft_is_deterministic_and_hard_sampling_is_not():
    images = make_digit_canvases(64, seed=0).images
    soft = _model("soft").eval()
    assert torch.equal(soft.caption(images, 3).weights, soft.caption(images, 3).weights)
    hard = _model("hard").eval()
    torch.manual_seed(0)
    first, second = hard.caption(images, 3).index, hard.caption(images, 3).index
    assert not torch.equal(first, second)
    assert torch.equal(hard.caption(images, 3, mode="argmax").index,
                       hard.caption(images, 3, mode="argmax").index)


def test_caption_step_gradients():
    batch = canvas_batches(make_digit_canvases(10, seed=0), batch_size=4)(1)
    soft = _model("soft")
    loss, metrics = caption_step(soft, batch)
    loss.backward()
    assert loss.dim() == 0 and 0 <= metrics["word_accuracy"] <= 1 and "reward" not in metrics
    assert all(p.grad is not None for p in soft.attention.parameters())
    hard = _model("hard")
    baseline = MovingAverageBaseline()
    loss, metrics = caption_step(hard, batch, baseline=baseline, entropy_weight=0.0)
    loss.backward()
    assert metrics["reward"] < 0 and baseline.value.shape == (3,)
    # the attention learns only through REINFORCE, and it does get a gradient
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hard.attention.parameters())


def test_attended_on_target():
    # grid (3, 8): region 9 is row 1, col 1, window [4, 12) x [4, 12), centre (8, 8)
    weights = torch.zeros(1, 2, 24)
    weights[0, 0, 9] = 1.0
    weights[0, 1, 0] = 1.0  # centre (4, 4)
    boxes = torch.tensor([[[5, 5, 12, 11], [5, 5, 12, 11]]])
    assert attended_on_target(weights, boxes, GRID).tolist() == [[True, False]]


def test_evaluate_captions_counts_exact_matches():
    data = make_digit_canvases(3, seed=0)

    class Oracle(torch.nn.Module):
        """Emits the right caption except one word, and looks at the right tile."""

        def caption(self, images, length, mode=None):
            tokens = data.captions.clone()
            tokens[0, 1] = DIGIT_VOCAB.stoi["0"] + (data.digits[0, 1] + 1) % 10
            cols = data.tiles[..., 1] // 4
            rows = data.tiles[..., 0] // 4
            weights = torch.nn.functional.one_hot(rows * 8 + cols, 24).float()
            return CaptionOutput(tokens, None, weights)

    metrics = evaluate_captions(Oracle(), data)
    assert metrics["exact_match"] == pytest.approx(2 / 3)
    assert metrics["word_accuracy"] == pytest.approx(8 / 9)
    assert metrics["localisation"] == 1.0


def test_reinforce_gradient_samples_differ_only_by_the_baseline():
    hard = _model("hard").eval()
    batch = canvas_batches(make_digit_canvases(10, seed=0), batch_size=8)(1)
    torch.manual_seed(0)
    without, with_zero = reinforce_gradient_samples(hard, batch, 0.0, n_samples=3)
    assert without.shape[0] == 3 and torch.equal(without, with_zero)
    torch.manual_seed(0)
    without, with_b = reinforce_gradient_samples(hard, batch, -2.3, n_samples=20)
    assert not torch.equal(without, with_b)
    assert with_b.var(0).sum() < without.var(0).sum()  # rewards near -2.3 at the start
    torch.manual_seed(0)
    without, with_mean = reinforce_gradient_samples(hard, batch, None, n_samples=20)
    assert with_mean.var(0).sum() < 0.1 * without.var(0).sum()


def test_soft_captioner_learns_a_little():
    data = make_digit_canvases(500, seed=0, n_digits=2, height=8, width=24)
    torch.manual_seed(0)
    model = GlimpseCaptioner(V, data.grid, feature_size=32, hidden_size=32, channels=32)
    before = evaluate_captions(model, data)["word_accuracy"]
    history = fit(model, canvas_batches(data, 32), caption_step,
                  torch.optim.Adam(model.parameters(), 5e-3), steps=100)
    assert history.loss[-1] < 0.5 * history.loss[0]
    after = evaluate_captions(model, data)
    assert after["word_accuracy"] > before + 0.4 and after["localisation"] > 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_captioner_on_gpu():
    model = _model("hard").cuda()
    batch = canvas_batches(make_digit_canvases(10, seed=0), batch_size=4)(1)
    from utils.training import to_device

    loss, _ = caption_step(model, to_device(batch, "cuda"), MovingAverageBaseline())
    loss.backward()
    assert evaluate_captions(model, make_digit_canvases(4, seed=1), device="cuda")["exact_match"] >= 0


# ----------------------------------------------------------------------------------------------
# Figures and the widget (utils.plots, utils.widgets)
# ----------------------------------------------------------------------------------------------
def test_attention_overlay_draws_heat_where_the_weight_is():
    import matplotlib.pyplot as plt

    from utils.plots import attention_overlay

    data = make_digit_canvases(1, seed=0)
    weights = torch.zeros(24)
    weights[9] = 1.0  # row 1, col 1: window [4, 12) x [4, 12)
    ax = attention_overlay(data.images[0], weights, GRID, box=data.boxes[0, 0], title="t")
    overlay = ax.get_images()[1].get_array()  # (H, W, 4) colours with opacity
    alpha = overlay[..., 3]
    assert alpha.shape == (16, 36)
    assert alpha[4:12, 4:12].min() > 0.3 and alpha[:4].max() == 0 and alpha[:, 12:].max() == 0
    assert len(ax.patches) == 2  # the digit's box and the most attended window
    with pytest.raises(ValueError, match="regions"):
        attention_overlay(data.images[0], torch.ones(20) / 20, GRID)
    plt.close("all")


def test_caption_attention_one_panel_per_word():
    import matplotlib.pyplot as plt

    from utils.plots import caption_attention

    data = make_digit_canvases(1, seed=0)
    weights = torch.softmax(torch.randn(3, 24), -1)
    axes = caption_attention(data.images[0], weights, ["7", "1", "4"], GRID, boxes=data.boxes[0],
                             label="soft")
    assert len(axes) == 3 and "says '1'" in axes[1].get_title() and "soft" in axes[0].get_title()
    with pytest.raises(ValueError, match="words"):
        caption_attention(data.images[0], weights, ["7", "1"], GRID)
    plt.close("all")


def test_glimpse_step_figure_and_widget():
    import matplotlib.pyplot as plt

    from utils.widgets import draw_glimpse_step, glimpse_stepper

    data = make_digit_canvases(4, seed=0)
    weights = torch.softmax(torch.randn(3, 24), -1)
    fig = draw_glimpse_step(data.images[0], weights, ["7", "1", "4"], 1, GRID, data.boxes[0], "soft")
    assert "7 [1] 4" in fig._suptitle.get_text() and len(fig.axes) == 2
    with pytest.raises(ValueError, match="step"):
        draw_glimpse_step(data.images[0], weights, ["7", "1", "4"], 3, GRID)
    plt.close(fig)
    models = {"soft": (_model("soft").eval(), None), "hard": (_model("hard").eval(), "sample")}
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    box = glimpse_stepper(models, data)
    assert len(box.children) == 2
    assert len(box.static.frames) == 2 * data.captions.shape[1]   # each model, each step, drawn ahead
    assert torch.equal(torch.rand(2), expected)  # drawing left the global generator alone
    plt.close("all")
