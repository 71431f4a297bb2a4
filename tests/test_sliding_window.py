"""utils.sliding_window: a stack of sliding-window layers, its reach, its training step and its score."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.data import first_symbol_streams
from utils.efficient_attention import sliding_window_mask, stacked_reach
from utils.sliding_window import SlidingWindowEncoder, accuracy_by_position, stream_step
from utils.training import fit, warmup_cosine

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small(num_layers=2, window=3, max_len=16, seed=0, **sizes):
    return SlidingWindowEncoder(20, 10, num_layers, window, max_len, seed=seed, **sizes)


# ---------------------------------------------------------------------------- the model
def test_shapes_and_reach():
    model = small(num_layers=3, window=5, max_len=24)
    assert model.reach == 12  # L · (window − 1)
    for T in (1, 7, 24):  # the mask is made for the input's own length
        x, _ = first_symbol_streams(4, T, generator=T)
        logits = model(x)
        assert logits.shape == (4, T, 10) and logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
    assert len(model.encoder.layers) == 3 and model.encoder.layers[0].norm_first


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_output_t_depends_on_input_s_only_within_the_reach(num_layers):
    """Causality and reach are properties of the architecture: an untrained model already has them."""
    T, window = 14, 3  # reach 2, 4, 6: inside the stream, with positions beyond it
    model = small(num_layers, window, max_len=T, seed=num_layers).double()  # a far input's pull is small:
    x, _ = first_symbol_streams(3, T, generator=0)                           # float64 shows it above rounding
    expected = stacked_reach(sliding_window_mask(T, window), num_layers)  # (T, T): [t, s] output t sees input s
    with torch.no_grad():
        base = model(x)
        for s in range(T):
            changed_x = x.clone()
            changed_x[:, s] = (x[:, s] + 7) % 20  # another symbol at position s
            moved = (model(changed_x) - base).abs().amax(dim=(0, 2))  # (T,): how far each output moved
            assert (moved[~expected[:, s]] == 0).all(), f"s={s}: outputs outside the reach moved"
            assert (moved[expected[:, s]] > 1e-12).all(), f"s={s}: outputs within the reach did not move"
            seen = [t for t in range(T) if moved[t] > 0]
            assert seen == [t for t in range(T) if 0 <= t - s <= num_layers * (window - 1)]


def test_seed_gives_identical_parameters_and_leaves_the_global_state_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = small(seed=4), small(seed=4), small(seed=5)
    assert torch.equal(torch.rand(1), before)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not all(torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))
    torch.manual_seed(9)
    d = small(seed=None)  # no seed: the global generator's draws
    torch.manual_seed(9)
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), small(seed=None).parameters()))


def test_bad_sizes_and_inputs_are_named():
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        small(window=0)
    with pytest.raises(ValueError, match="num_layers must be at least 1, got 0"):
        small(num_layers=0)
    with pytest.raises(TypeError, match="max_len must be an int"):
        small(max_len=16.0)
    with pytest.raises(ValueError, match="d_model"):
        small(d_model=30)  # 4 heads do not divide 30
    model = small(max_len=16)
    with pytest.raises(ValueError, match="max_len=16"):
        model(torch.zeros(2, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="vocabulary has 20 tokens"):
        model(torch.full((2, 5), 20))
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"x must be \(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))


# ---------------------------------------------------------------------------- step and score
def test_stream_step_is_the_cross_entropy_over_every_position():
    model = small()
    x, y = first_symbol_streams(6, 9, generator=1)
    loss, metrics = stream_step(model, (x, y))
    logits = model(x)
    assert loss.shape == () and torch.allclose(loss, F.cross_entropy(logits.reshape(-1, 10), y.reshape(-1)))
    assert metrics == {"train_accuracy": pytest.approx((logits.argmax(-1) == y).float().mean().item())}
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match=r"y must be \(6, 9\)"):
        stream_step(model, (x, y[:, :4]))
    with pytest.raises(ValueError, match=r"an \(x, y\) pair"):
        stream_step(model, x)


class Oracle(nn.Module):
    """Logits that pick ``answer[b, t]``: a model whose predictions the test chooses."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return F.one_hot(self.answer, 10).float() * self.weight


def test_accuracy_by_position_counts_right_answers_per_position():
    y = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 2]])
    answer = y.clone()
    answer[0, 1] = answer[1, 1] = answer[0, 2] = 0  # position 1: 2 of 4 wrong, position 2: 1 of 4
    model = Oracle(answer).train()
    acc = accuracy_by_position(model, torch.zeros(4, 3, dtype=torch.long), y)
    assert acc.shape == (3,) and acc.dtype == torch.float32 and acc.device.type == "cpu"
    assert acc.tolist() == pytest.approx([1.0, 0.5, 0.75])
    assert acc.grad_fn is None and model.training  # no graph, and the model's mode is given back
    with pytest.raises(ValueError, match=r"y must be \(4, 3\)"):
        accuracy_by_position(model, torch.zeros(4, 3, dtype=torch.long), y[:2])


def test_one_layer_learns_the_first_symbol_exactly_within_its_reach():
    """Chapter 8's claim in miniature: 100% up to the reach, chance (10%) beyond it."""
    T, window, steps = 10, 5, 150
    model = SlidingWindowEncoder(20, 10, 1, window, T, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, betas=(0.9, 0.98))
    g = torch.Generator().manual_seed(1000)
    fit(model, lambda step: first_symbol_streams(32, T, generator=g), stream_step, optimizer, steps,
        scheduler=warmup_cosine(optimizer, steps, 50))
    acc = accuracy_by_position(model, *first_symbol_streams(500, T, generator=12345))
    assert (acc[: model.reach + 1] == 1).all(), acc
    assert (acc[model.reach + 1:] < 0.2).all(), acc


# ---------------------------------------------------------------------------- GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_cuda_and_agrees_with_the_cpu():
    model = small(num_layers=2, window=4, max_len=16)
    x, y = first_symbol_streams(5, 16, generator=2)
    cpu_logits = model(x)
    model.cuda()
    logits = model(x.cuda())
    assert logits.is_cuda and torch.allclose(logits.cpu(), cpu_logits, atol=1e-4)
    loss, _ = stream_step(model, (x.cuda(), y.cuda()))
    loss.backward()
    assert loss.is_cuda and all(p.grad is not None and p.grad.is_cuda for p in model.parameters())
    acc = accuracy_by_position(model, x.cuda(), y.cuda())
    assert acc.device.type == "cpu" and acc.shape == (16,)
    g = torch.Generator(device="cuda").manual_seed(0)
    x, y = first_symbol_streams(4, 8, generator=g)  # streams drawn on the GPU itself
    assert x.is_cuda and y.is_cuda and torch.equal(y, x[:, :1].expand(4, 8) - 10)
