"""utils.efficient_attention: the online softmax and attention block by block against PyTorch's
fused attention, and sliding windows against brute-force loops and chapter 5's local-m window."""

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from utils.attention import scaled_dot_product_attention
from utils.efficient_attention import (
    blockwise_attention,
    online_softmax_finish,
    online_softmax_merge,
    sliding_window_attention,
    sliding_window_mask,
    softmax_partial,
    stacked_reach,
)
from utils.local_attention import window_mask
from utils.masks import causal_mask, length_mask

TOL = 1e-5
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one thread is faster, and the machine is shared."""


def qkv(B=2, h=3, T=5, S=7, d_k=8, d_v=4, seed=0, dtype=torch.float32, device="cpu", scale=1.0):
    g = torch.Generator().manual_seed(seed)
    shapes = ((B, h, T, d_k), (B, h, S, d_k), (B, h, S, d_v))
    return tuple((torch.randn(*s, generator=g, dtype=dtype) * (scale if i < 2 else 1.0)).to(device)
                 for i, s in enumerate(shapes))


class LargestTensor(TorchFunctionMode):
    """Records the largest number of elements of any tensor a torch function returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


# ----------------------------------------------------------------------------------------------
# partial results and their merge
# ----------------------------------------------------------------------------------------------
def test_one_partial_result_finished_is_the_softmax_average():
    q, k, v = qkv()
    scores = q @ k.transpose(-2, -1) / 8 ** 0.5
    m, ell, o = softmax_partial(scores, v)
    assert m.shape == ell.shape == (2, 3, 5) and o.shape == (2, 3, 5, 4)
    assert torch.allclose(m, scores.amax(-1)) and bool((ell >= 1).all())      # the maximum's own term is exp(0) = 1
    assert torch.allclose(online_softmax_finish(ell, o), torch.softmax(scores, -1) @ v, atol=TOL)


def test_a_masked_key_is_not_read_and_an_empty_block_is_the_neutral_partial():
    q, k, v = qkv(B=1, h=1, T=2, S=3)
    scores = q @ k.transpose(-2, -1)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    v[..., 1, :] = float("nan")                                               # stored at a masked key only
    m, ell, o = softmax_partial(scores, v, mask)
    assert m[0, 0, 1] == float("-inf") and ell[0, 0, 1] == 0 and bool((o[0, 0, 1] == 0).all())
    assert bool(torch.isfinite(o).all())
    expected = torch.softmax(scores[..., 0, [0, 2]], -1) @ v[..., [0, 2], :]
    assert torch.allclose(online_softmax_finish(ell, o)[..., 0, :], expected, atol=TOL)
    assert bool((online_softmax_finish(ell, o)[..., 1, :] == 0).all())          # no key: zeros, not NaN
    m0, l0, o0 = softmax_partial(scores[..., :0], v[..., :0, :])              # no keys at all
    assert bool((m0 == float("-inf")).all()) and l0.shape == (1, 1, 2) and o0.shape == (1, 1, 2, 4)


def split_partials(scores, v, cuts):
    """The partial results of the key blocks between ``cuts``."""
    edges = [0, *cuts, scores.shape[-1]]
    return [softmax_partial(scores[..., a:b], v[..., a:b, :]) for a, b in zip(edges, edges[1:])]


@pytest.mark.parametrize("scale", [1.0, 30.0, 300.0], ids=["plain", "large", "huge"])
def test_merging_the_blocks_partials_gives_the_whole_partial_exactly(scale):
    q, k, v = qkv(seed=1, S=9, scale=scale)
    scores = q @ k.transpose(-2, -1)                                           # up to about ±10⁵: exp overflows
    whole = softmax_partial(scores, v)
    first, second, third = split_partials(scores, v, [2, 6])
    merged = online_softmax_merge(*online_softmax_merge(*first, *second), *third)
    for got, want in zip(merged, whole):
        assert torch.allclose(got, want, atol=TOL, rtol=1e-5)
    assert bool(torch.isfinite(merged[2]).all())
    # the order of the blocks does not matter: the merge is symmetric and associative
    other = online_softmax_merge(*third, *online_softmax_merge(*second, *first))
    for got, want in zip(other, whole):
        assert torch.allclose(got, want, atol=TOL, rtol=1e-5)
    assert torch.allclose(online_softmax_finish(*merged[1:]), torch.softmax(scores, -1) @ v, atol=TOL)


def test_an_empty_partial_changes_nothing_and_two_empty_ones_stay_empty():
    q, k, v = qkv(seed=2)
    part = softmax_partial(q @ k.transpose(-2, -1), v)
    empty = (torch.full_like(part[0], float("-inf")), torch.zeros_like(part[1]), torch.zeros_like(part[2]))
    for merged in (online_softmax_merge(*part, *empty), online_softmax_merge(*empty, *part)):
        for got, want in zip(merged, part):
            assert torch.equal(got, want)
    m, ell, o = online_softmax_merge(*empty, *empty)
    assert bool((m == float("-inf")).all()) and bool((ell == 0).all()) and bool((o == 0).all())


def test_the_merge_names_bad_shapes_and_dtypes():
    m, ell, o = torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="o1 must be"):
        online_softmax_merge(m, ell, o[..., 0], m, ell, o)
    with pytest.raises(TypeError, match="dtype"):
        online_softmax_merge(m, ell, o, m.double(), ell, o)
    with pytest.raises(ValueError, match="do not broadcast"):
        online_softmax_merge(m, ell, o, m[:, :2], ell[:, :2], o[:, :2])
    with pytest.raises(ValueError, match="keys"):
        softmax_partial(torch.zeros(2, 3), torch.zeros(4, 2))


# ----------------------------------------------------------------------------------------------
# blockwise attention against F.scaled_dot_product_attention
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block_size", [1, 3, 4, 7, 64])
@pytest.mark.parametrize("T, S", [(5, 7), (7, 5), (6, 6)])
def test_blockwise_attention_equals_pytorch(block_size, T, S):
    q, k, v = qkv(T=T, S=S, seed=block_size)
    expected = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(blockwise_attention(q, k, v, block_size), expected, atol=TOL)
    causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)      # top-left aligned when T != S
    assert torch.allclose(blockwise_attention(q, k, v, block_size, causal=True), causal, atol=TOL)


@pytest.mark.parametrize("block_size", [2, 3, 5])
def test_blockwise_attention_with_padding_masks_whole_blocks_and_causal(block_size):
    B, h, T, S = 3, 2, 6, 10
    q, k, v = qkv(B=B, h=h, T=T, S=S, seed=7)
    lengths = torch.tensor([10, 2, 5])                     # row 1: every block after the first is masked
    keys = length_mask(lengths, S).view(B, 1, 1, S)       # (B, S) -> (B, 1, 1, S), True = a real key
    k[1, :, 2:] = v[1, :, 2:] = float("nan")               # padding may hold anything: it is never read
    expected = F.scaled_dot_product_attention(q, k.nan_to_num(), v.nan_to_num(), attn_mask=keys)
    assert torch.allclose(blockwise_attention(q, k, v, block_size, mask=keys), expected, atol=TOL)
    both = keys & causal_mask(T, S)
    expected = F.scaled_dot_product_attention(q, k.nan_to_num(), v.nan_to_num(), attn_mask=both)
    assert torch.allclose(blockwise_attention(q, k, v, block_size, mask=keys, causal=True), expected, atol=TOL)
    full = both.expand(B, h, T, S)                         # a mask given in full is sliced the same way
    assert torch.allclose(blockwise_attention(q, k, v, block_size, mask=full), expected, atol=TOL)
    row = keys[2, 0, 0]                                    # (S,): the same 5 keys for every query
    expected = F.scaled_dot_product_attention(q[:1], k[:1], v[:1], attn_mask=row.view(1, S))
    assert torch.allclose(blockwise_attention(q[:1], k[:1], v[:1], block_size, mask=row), expected, atol=TOL)
    everything = torch.tensor(True)                        # 0-d: broadcast to every score
    assert torch.allclose(blockwise_attention(q[:1], k[:1], v[:1], block_size, mask=everything),
                          F.scaled_dot_product_attention(q[:1], k[:1], v[:1]), atol=TOL)


def test_a_query_with_no_key_gets_zeros_as_in_the_courses_attention():
    q, k, v = qkv(B=2, h=1, T=4, S=6, seed=3)
    keys = length_mask(torch.tensor([0, 3]), 6).view(2, 1, 1, 6)   # row 0: no key at all
    got = blockwise_attention(q, k, v, 4, mask=keys)
    expected, _ = scaled_dot_product_attention(q, k, v, attn_mask=keys)
    assert torch.allclose(got, expected, atol=TOL) and bool((got[0] == 0).all())
    assert blockwise_attention(q, k[..., :0, :], v[..., :0, :], 3).abs().sum() == 0   # S = 0
    assert blockwise_attention(q[..., :0, :], k, v, 3).shape == (2, 1, 0, 4)            # T = 0


def test_blockwise_attention_gradients_and_float64_agree_with_pytorch():
    q, k, v = (t.double().requires_grad_() for t in qkv(T=6, S=9, seed=4))
    grads = []
    for f in (lambda: blockwise_attention(q, k, v, 4, causal=True), lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)):
        out = f()
        grads.append(torch.autograd.grad((out * torch.arange(out.numel()).view_as(out).sin()).sum(), (q, k, v)))
    for ours, theirs in zip(*grads):
        assert torch.allclose(ours, theirs, atol=1e-12)


def test_blockwise_attention_holds_one_tile_of_scores_not_the_whole_matrix():
    B, h, T, S, block = 1, 1, 64, 256, 16
    q, k, v = qkv(B=B, h=h, T=T, S=S, d_k=4, d_v=4, seed=5)
    with LargestTensor() as plain:
        scaled_dot_product_attention(q, k, v)
    with LargestTensor() as blocks:
        blockwise_attention(q, k, v, block)
    assert plain.largest >= T * S                          # the readable version builds (T, S)
    assert blocks.largest <= max(T * block, S * 4)         # one (T, block) tile; the inputs themselves


def test_blockwise_attention_names_bad_arguments():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="block_size"):
        blockwise_attention(q, k, v, 0)
    with pytest.raises(TypeError, match="bool"):
        blockwise_attention(q, k, v, 2, mask=torch.ones(5, 7))
    with pytest.raises(ValueError, match="broadcast"):
        blockwise_attention(q, k, v, 2, mask=torch.ones(5, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="features"):
        blockwise_attention(q, k[..., :3], v, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_blockwise_attention_runs_on_the_inputs_device(device):
    q, k, v = qkv(device=device)
    keys = length_mask(torch.tensor([7, 3]), 7).view(2, 1, 1, 7).to(device)
    out = blockwise_attention(q, k, v, 3, mask=keys, causal=True)
    assert out.device.type == torch.device(device).type
    expected = F.scaled_dot_product_attention(q.cpu(), k.cpu(), v.cpu(), attn_mask=keys.cpu() & causal_mask(5, 7))
    assert torch.allclose(out.cpu(), expected, atol=TOL)


# ----------------------------------------------------------------------------------------------
# sliding windows
# ----------------------------------------------------------------------------------------------
def brute_force_window(T, window, causal=True):
    mask = torch.zeros(T, T, dtype=torch.bool)
    for t in range(T):
        for j in range(T):
            mask[t, j] = (t - window < j <= t) if causal else abs(t - j) < window
    return mask


def test_the_band_has_the_documented_shape():
    m = sliding_window_mask(5, 2)
    assert m.dtype == torch.bool and m.shape == (5, 5)
    assert m.int().tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]]
    assert torch.equal(sliding_window_mask(4, 1), torch.eye(4, dtype=torch.bool))
    assert torch.equal(sliding_window_mask(4, 4), causal_mask(4)) and torch.equal(sliding_window_mask(4, 9), causal_mask(4))
    assert sliding_window_mask(0, 3).shape == (0, 0)
    assert (sliding_window_mask(9, 3).sum(-1) == torch.tensor([1, 2, 3, 3, 3, 3, 3, 3, 3])).all()


@pytest.mark.parametrize("T, window", [(1, 1), (6, 2), (8, 3), (7, 7), (10, 4), (5, 12)])
def test_the_band_equals_a_brute_force_loop_causal_or_not(T, window):
    assert torch.equal(sliding_window_mask(T, window), brute_force_window(T, window))
    assert torch.equal(sliding_window_mask(T, window, causal=False), brute_force_window(T, window, causal=False))


@pytest.mark.parametrize("w", [0, 1, 2, 4])
def test_the_band_is_chapter_5s_local_m_window(w):
    T = 9
    local_m = window_mask(torch.arange(T), T, w)             # [t − w, t + w], centred on p_t = t
    assert torch.equal(sliding_window_mask(T, w + 1, causal=False), local_m)
    assert torch.equal(sliding_window_mask(T, w + 1), local_m & causal_mask(T))


@pytest.mark.parametrize("window", [2, 3, 5])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_layers_of_windows_reach_layers_times_window_minus_one_back(window, layers):
    T = 24
    reach = stacked_reach(sliding_window_mask(T, window), layers)
    back = layers * (window - 1)
    t, j = torch.arange(T).unsqueeze(1), torch.arange(T)
    assert torch.equal(reach, (j <= t) & (j >= t - back))    # exactly L·(window − 1) back, never ahead
    composed = sliding_window_mask(T, window)                # the same as explicit boolean products
    for _ in range(layers - 1):
        composed = (composed.int() @ sliding_window_mask(T, window).int()) > 0
    assert torch.equal(reach, composed)
    with pytest.raises(ValueError, match="num_layers"):
        stacked_reach(sliding_window_mask(T, window), 0)


def brute_force_window_attention(q, k, v, window):
    """Each query t, one at a time: a softmax over the keys t − window + 1 … t only."""
    T = q.shape[-2]
    out = torch.empty(*q.shape[:-1], v.shape[-1])
    for t in range(T):
        lo = max(0, t - window + 1)
        scores = q[..., t : t + 1, :] @ k[..., lo : t + 1, :].transpose(-2, -1) / q.shape[-1] ** 0.5
        out[..., t, :] = (torch.softmax(scores, -1) @ v[..., lo : t + 1, :]).squeeze(-2)
    return out


@pytest.mark.parametrize("window", [1, 2, 3, 8, 20])
def test_the_band_through_the_courses_attention_and_pytorchs_equals_a_loop(window):
    T = 11
    q, k, v = qkv(T=T, S=T, seed=window)
    expected = brute_force_window_attention(q, k, v, window)
    mask = sliding_window_mask(T, window)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, attn_mask=mask)[0], expected, atol=TOL)
    assert torch.allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=mask), expected, atol=TOL)
    assert torch.allclose(sliding_window_attention(q, k, v, window), expected, atol=TOL)


def test_sliding_window_attention_never_builds_the_whole_score_matrix():
    T, window = 256, 8
    q, k, v = qkv(B=1, h=1, T=T, S=T, d_k=4, d_v=4, seed=6)
    with LargestTensor() as chunks:
        out = sliding_window_attention(q, k, v, window)
    assert chunks.largest <= T * 4 and out.shape == (1, 1, T, 4)    # nothing bigger than the inputs
    with pytest.raises(ValueError, match="as many keys as queries"):
        sliding_window_attention(q, k[..., :-1, :], v[..., :-1, :], window)
    assert sliding_window_attention(q[..., :0, :], k[..., :0, :], v[..., :0, :], 3).shape == (1, 1, 0, 4)


def test_sliding_window_mask_names_bad_arguments_and_takes_a_device():
    with pytest.raises(ValueError, match="window"):
        sliding_window_mask(4, 0)
    with pytest.raises(TypeError, match="window"):
        sliding_window_mask(4, 2.0)
    with pytest.raises(ValueError, match="T"):
        sliding_window_mask(-1, 2)
    assert sliding_window_mask(3, 2, device="cpu").device.type == "cpu"
    if torch.cuda.is_available():
        assert sliding_window_mask(3, 2, device="cuda").is_cuda


# ----------------------------------------------------------------------------------------------
# Chapter 8's explorer: the online softmax, one block of keys at a time (utils.widgets.online_softmax)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 3, 4, 8, 16, 32, 50])
def test_the_trace_ends_exactly_on_softmax_attention_for_every_block_size(block):
    from utils.widgets import online_softmax_trace

    trace = online_softmax_trace(n_keys=32, block=block, seed=1, d_v=3)
    scores, values = trace["scores"], trace["values"]
    n_blocks = -(-32 // block)
    assert trace["end"].tolist() == [min((b + 1) * block, 32) for b in range(n_blocks)]
    assert trace["m"].shape == trace["l"].shape == trace["factor"].shape == (n_blocks,)
    assert trace["output"].shape == (n_blocks, 3) and trace["exact"].shape == (3,)
    assert torch.allclose(trace["exact"], torch.softmax(scores, dim=0) @ values, atol=1e-12)
    assert torch.allclose(trace["output"][-1], torch.softmax(scores, dim=0) @ values, atol=1e-6)
    for b, n in enumerate(trace["end"].tolist()):   # after each block: attention over the keys read so far
        assert torch.allclose(trace["output"][b], torch.softmax(scores[:n], dim=0) @ values[:n], atol=1e-6)
        assert trace["m"][b] == scores[:n].max()
        assert torch.allclose(trace["l"][b], torch.exp(scores[:n] - scores[:n].max()).sum())


@pytest.mark.parametrize("seed", range(5))
def test_the_factor_rescales_the_old_sums_only_when_the_maximum_jumps(seed):
    from utils.widgets import online_softmax_trace

    trace = online_softmax_trace(n_keys=40, block=4, seed=seed)
    m, factor = trace["m"], trace["factor"]
    assert factor[0] == 0, "the first block has no old sums: exp(-inf - m) = 0"
    assert torch.all(m[1:] >= m[:-1]), "the running maximum never goes down"
    assert torch.all(factor <= 1)
    moved = m[1:] > m[:-1]
    assert torch.all(factor[1:][~moved] == 1), "exactly 1 where the block did not raise the maximum"
    assert torch.all(factor[1:][moved] < 1)
    assert torch.allclose(factor[1:], torch.exp(m[:-1] - m[1:]))
    assert (~moved).any() and (moved.any() or seed == 4), "both cases occur (seed 4's maximum is in its first block)"
    # ℓ after a block = the old ℓ times the factor, plus the new block's sum against the new maximum
    scores, ends = trace["scores"], trace["end"].tolist()
    for b in range(1, len(ends)):
        new = torch.exp(scores[ends[b - 1]:ends[b]] - m[b]).sum()
        assert torch.allclose(trace["l"][b], factor[b] * trace["l"][b - 1] + new)


def test_the_online_softmax_figure_has_titled_panels_and_names_bad_arguments():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.alt_text import describe_figure
    from utils.widgets import draw_online_softmax, online_softmax_trace

    for step in (1, 2, 4):
        fig = draw_online_softmax(block=8, step=step, n_keys=32)
        assert len(fig.axes) == 2
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert fig._suptitle is not None and f"block {step} of 4" in fig._suptitle.get_text()
        assert "Figure: block" in describe_figure(fig)
        bars = fig.axes[0].containers
        assert sum(len(c) for c in bars) == 32, "every key is a bar, read or not"
        plt.close(fig)
    trace = online_softmax_trace(n_keys=32, block=8)
    jumps = [b for b in range(1, 4) if trace["factor"][b] < 1]
    fig = draw_online_softmax(block=8, step=jumps[0] + 1, n_keys=32)
    assert f"{float(trace['factor'][jumps[0]]):.3g}" in fig._suptitle.get_text()   # the factor, in words
    plt.close(fig)
    with pytest.raises(ValueError, match="step must be between 1 and 4"):
        draw_online_softmax(block=8, step=5, n_keys=32)
    with pytest.raises(ValueError, match="step must be between 1 and 4"):
        draw_online_softmax(block=8, step=0, n_keys=32)
    with pytest.raises(ValueError, match="block must be at least 1"):
        online_softmax_trace(block=0)
    with pytest.raises(ValueError, match="n_keys must be at least 1"):
        online_softmax_trace(n_keys=0)
    with pytest.raises(TypeError, match="block must be an int"):
        online_softmax_trace(block=2.5)


def test_the_online_softmax_explorer_follows_the_block_size_and_is_drawn_ahead():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.static_explorer import LiveOrStatic
    from utils.widgets import online_softmax_explorer

    shown = online_softmax_explorer(n_keys=8)
    assert isinstance(shown, LiveOrStatic)
    block, step, _ = shown.widget.children[0].children
    assert list(block.options) == [1, 2, 4, 8]
    assert (block.value, step.value, step.max) == (1, 4, 8)   # the largest block in the book, half-way
    block.value = 1                          # 4 keys read stay 4 keys read: 4 blocks of 1 out of 8
    assert (step.value, step.max) == (4, 8)
    block.value = 8
    assert (step.value, step.max) == (1, 1)
    block.value = 4
    assert (step.value, step.max) == (2, 2)
    # the book: one key a block (block 4 does not fit four times in 8) × a quarter, half, three quarters, all the keys
    static = shown.static
    assert [label for label, _ in static.controls] == ["keys per block", "keys read"]
    assert [v for v, _ in static.controls[1][1]] == [2, 4, 6, 8]
    assert len(static.frames) == 1 * 4 and static.default == (0, 1)
    alts = [alt for _, alt in static.frames.values()]
    assert len(set(alts)) == len(alts) and "4 of 8 blocks read (4 of 8 keys)" in static.frames[static.default][1]
    assert len(online_softmax_explorer(n_keys=32).static.frames) == 3 * 4   # blocks of 1, 4 and 8 in the book
    with pytest.raises(ValueError, match="n_keys must be at least 4"):
        online_softmax_explorer(n_keys=3)
    plt.close("all")
