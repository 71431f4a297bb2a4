"""Chapter 8's online-softmax explorer: one query's scores, read one block of keys at a time.

The online softmax (FlashAttention's idea) keeps, per query, a running maximum ``m``, a running
normaliser ``ℓ`` and a running output ``o`` that is not yet divided by ``ℓ``. Each block of keys
brings its own partial result (:func:`utils.efficient_attention.softmax_partial`); merging it
(:func:`utils.efficient_attention.online_softmax_merge`) multiplies the old ``ℓ`` and ``o`` by
``exp(m_old − m_new)``: exactly 1 when the block did not raise the maximum, less than 1 when it
did. After the last block, ``o / ℓ`` is the attention output, exactly. The learner picks the block
size and how many blocks have been read, and watches the maximum jump, what each jump costs the
old sums, and the running output land on the answer.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from utils.efficient_attention import online_softmax_finish, online_softmax_merge, softmax_partial
from utils.static_explorer import LiveOrStatic, StaticExplorer
from utils.validate import require_int
from utils.widgets.live import live_view

__all__ = ["online_softmax_trace", "draw_online_softmax", "online_softmax_explorer"]

SCORE_SCALE = 2.0  # the scores' standard deviation: spread enough for the maximum to jump visibly
BLOCK_SIZES = (1, 2, 4, 8, 16)  # the live menu's block sizes (those up to n_keys)
FEATURE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def online_softmax_trace(n_keys: int = 32, block: int = 8, seed: int = 0, d_v: int = 2) -> dict[str, torch.Tensor]:
    """The online softmax of one query over ``n_keys`` seeded keys, ``block`` keys at a time (the explorer's data).

    The scores ``e (n_keys,)`` (standard deviation 2) and values ``v (n_keys, d_v)`` are drawn
    from ``seed``, in float64. The running ``(m, ℓ, o)`` starts empty (``m = -inf``, ``ℓ = 0``,
    ``o = 0``); each block's partial result (:func:`~utils.efficient_attention.softmax_partial`) is
    merged into it (:func:`~utils.efficient_attention.online_softmax_merge`), and the running
    output ``o / ℓ`` (:func:`~utils.efficient_attention.online_softmax_finish`) is recorded after
    every block. With ``n_blocks = ⌈n_keys / block⌉`` (the last block may be shorter), returns::

        scores (n_keys,)   values (n_keys, d_v)
        end    (n_blocks,)       keys read after each block: block, 2·block, …, n_keys
        m, l   (n_blocks,)       the running maximum and normaliser after each block
        output (n_blocks, d_v)   the running output o / ℓ after each block: attention over the keys read so far
        factor (n_blocks,)       exp(m_old − m_new), what the merge multiplied the old ℓ and o by at each
                                 block: 1 where the block did not raise the maximum, below 1 where it did,
                                 0 for the first block (there is nothing before it to keep)
        exact  (d_v,)            softmax(e) @ v over all the keys, the answer output[-1] must equal

    Raises:
        TypeError, ValueError: an argument that is not an int, or ``n_keys``, ``block``, ``d_v`` below 1, ``seed`` below 0.
    """
    n_keys = require_int("n_keys", n_keys, minimum=1)
    block = require_int("block", block, minimum=1)
    seed = require_int("seed", seed, minimum=0)
    d_v = require_int("d_v", d_v, minimum=1)
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n_keys, generator=g, dtype=torch.float64) * SCORE_SCALE  # (n_keys,)
    values = torch.randn(n_keys, d_v, generator=g, dtype=torch.float64)  # (n_keys, d_v)
    m = torch.full((1,), float("-inf"), dtype=torch.float64)  # one query, nothing read yet
    l, o = torch.zeros(1, dtype=torch.float64), torch.zeros(1, d_v, dtype=torch.float64)  # noqa: E741 - the paper's ℓ
    rows: dict[str, list[torch.Tensor]] = {"m": [], "l": [], "output": [], "factor": []}
    for start in range(0, n_keys, block):
        end = min(start + block, n_keys)
        m_old = m
        block_result = softmax_partial(scores[None, start:end], values[start:end])  # (1, n) scores: T = 1 query
        m, l, o = online_softmax_merge(m, l, o, *block_result)  # noqa: E741 - the paper's ℓ
        rows["factor"].append(torch.exp(m_old - m))  # the merge's factor for the old sums (exp(-inf) = 0 at first)
        rows["m"].append(m)
        rows["l"].append(l)
        rows["output"].append(online_softmax_finish(l, o))  # (1, d_v)
    stacked = {name: torch.cat(values_) for name, values_ in rows.items()}
    return {"scores": scores, "values": values,
            "end": torch.tensor([min(s + block, n_keys) for s in range(0, n_keys, block)]), **stacked,
            "exact": torch.softmax(scores, dim=0) @ values}


def _factor_text(factor: float) -> str:
    """The factor with enough digits that one below 1 never reads as 1."""
    return f"{factor:.3g}" if factor < 0.999 else f"{factor:.6f}"


def _what_the_block_did(trace: dict[str, torch.Tensor], step: int) -> str:
    """One clause: what block ``step`` (1-based) did to the maximum, and the factor it cost the old sums."""
    b = step - 1
    m_new = float(trace["m"][b])
    if b == 0:
        return f"the first block: nothing read before, nothing to rescale; m = {m_new:.2f}"
    factor = float(trace["factor"][b])
    if factor == 1:
        return f"the maximum stays at {m_new:.2f}: the old ℓ and o are kept (factor 1)"
    return (f"the maximum jumps {float(trace['m'][b - 1]):.2f} → {m_new:.2f}: "
            f"the old ℓ and o × exp(m_old − m_new) = {_factor_text(factor)}")


def _padded(low: float, high: float, top: float = 0.45) -> tuple[float, float]:
    """Limits around ``[low, high]``, with room at the top for the legend."""
    span = (high - low) or 1.0
    return low - 0.08 * span, high + top * span


def draw_online_softmax(block: int = 8, step: int = 2, n_keys: int = 32, seed: int = 0,
                        fig: Figure | None = None) -> Figure:
    """The online softmax of :func:`online_softmax_trace` after ``step`` blocks of ``block`` keys.

    Left: the ``n_keys`` scores as bars, those read in colour and the unread ones grey, the block
    just read framed, and the running maximum ``m`` as a step line over the keys read. Right: the
    running output ``o / ℓ`` after each block read so far, one curve per value feature, against the
    exact attention output over all the keys (dashed). The figure's title says what the last block
    did to the maximum and the factor ``exp(m_old − m_new)`` it applied to the old sums. The axes
    keep their limits from step to step, so frames can be compared.

    Raises:
        TypeError, ValueError: see :func:`online_softmax_trace`; ``step`` not between 1 and the
            number of blocks, ``⌈n_keys / block⌉``.
    """
    trace = online_softmax_trace(n_keys, block, seed)
    n_blocks = len(trace["end"])
    step = require_int("step", step)
    if not 1 <= step <= n_blocks:
        raise ValueError(f"step must be between 1 and {n_blocks} (blocks read: {n_keys} keys in blocks of "
                         f"{block} make {n_blocks}), got {step}")
    ends = trace["end"].tolist()
    start, end = (ends[step - 2] if step > 1 else 0), ends[step - 1]
    scores = trace["scores"].numpy()
    if fig is None:
        fig = plt.figure(figsize=(11, 3.9))
    fig.clear()
    ax_s, ax_o = fig.subplots(1, 2)

    keys = np.arange(n_keys)
    ax_s.bar(keys[:end], scores[:end], color="tab:blue", label="scores e_j read")
    if end < n_keys:
        ax_s.bar(keys[end:], scores[end:], color="lightgray", label="not read yet")
    ax_s.axvspan(start - 0.5, end - 0.5, fill=False, edgecolor="tab:orange", lw=2, label=f"block {step}, just read")
    if block > 1:  # thin lines between blocks (a collection: not counted as a curve in the alt text)
        ax_s.vlines([n - 0.5 for n in ends[:-1]], 0, 1, transform=ax_s.get_xaxis_transform(), color="gray", lw=0.5)
    edges = [-0.5] + [n - 0.5 for n in ends[:step]]  # each block's running maximum held over its keys
    running_max = trace["m"][:step].tolist()
    ax_s.step(edges, running_max + running_max[-1:], where="post", color="tab:red", lw=2, label="running maximum m")
    ax_s.set(xlim=(-1, n_keys), ylim=_padded(min(scores.min(), 0.0), max(scores.max(), 0.0)),
             xlabel=f"key j (blocks of {block})", ylabel="score e_j", title="One query's scores, read block by block")
    ax_s.legend(loc="upper center", fontsize=7, ncol=2)

    outputs, exact = trace["output"].numpy(), trace["exact"].numpy()
    for i in range(outputs.shape[1]):
        colour = FEATURE_COLOURS[i % len(FEATURE_COLOURS)]
        ax_o.plot(ends[:step], outputs[:step, i], "o-", color=colour, label=f"running o/ℓ, feature {i + 1}")
        ax_o.axhline(exact[i], ls="--", color=colour, lw=1, label=f"exact answer, feature {i + 1}")
    ax_o.set(xlim=(0, n_keys + 1), ylim=_padded(min(outputs.min(), exact.min()), max(outputs.max(), exact.max())),
             xlabel="keys read", ylabel="output o/ℓ",
             title=(f"all {n_keys} keys read: o/ℓ is the exact answer" if step == n_blocks
                    else f"{end} of {n_keys} keys read: not the answer yet"))
    ax_o.legend(loc="upper center", fontsize=7, ncol=2)
    fig.suptitle(f"block {step} of {n_blocks}: {_what_the_block_did(trace, step)}", fontsize=10)
    fig.tight_layout()
    return fig


def online_softmax_explorer(n_keys: int = 32):
    """The block size, how many blocks have been read, and a seed for the scores, redrawing
    :func:`draw_online_softmax` over ``n_keys`` keys (at least 4).

    When the block size changes, the blocks-read slider follows: its maximum becomes
    ``⌈n_keys / block⌉`` and it keeps (rounding up to a whole block) the number of keys read.
    Returns a :class:`utils.static_explorer.LiveOrStatic`; the book shows the block sizes 1, 2, 4
    and 8 that fit four times into ``n_keys``, each after a quarter, half, three quarters and all
    of the keys (16 frames for 32 keys), starting from the largest block size, half-way.
    """
    import ipywidgets as widgets

    n_keys = require_int("n_keys", n_keys, minimum=4)
    # the book: one key a block, and the block sizes from 4 up that fit four times (a quarter of the keys
    # is then a whole step); 12 frames for 32 keys, each drawn ahead (about 0.35 s a frame)
    in_book = [b for b in (1, 4, 8) if b <= n_keys // 4] or [1]
    first = in_book[-1]

    def n_blocks(block: int) -> int:
        return math.ceil(n_keys / block)

    block_menu = widgets.Dropdown(options=[b for b in BLOCK_SIZES if b <= n_keys], value=first,
                                  description="keys per block")
    step_slider = widgets.IntSlider(value=max(1, n_blocks(first) // 2), min=1, max=n_blocks(first),
                                    description="blocks read")
    seed_slider = widgets.IntSlider(value=0, min=0, max=20, description="seed")

    def on_block(change) -> None:  # registered before the live view's, so it runs before the redraw
        keys_read = min(step_slider.value * change["old"], n_keys)
        new_max = n_blocks(change["new"])
        step_slider.max = new_max
        step_slider.value = min(max(math.ceil(keys_read / change["new"]), 1), new_max)

    block_menu.observe(on_block, names="value")
    live = live_view(lambda block, step, seed: draw_online_softmax(block, min(step, n_blocks(block)), n_keys, seed),
                     {"block": block_menu, "step": step_slider, "seed": seed_slider})

    quarters = [math.ceil(n_keys * q / 4) for q in (1, 2, 3, 4)]

    def describe(block: int, keys: int) -> str:
        trace = online_softmax_trace(n_keys, block)
        step = math.ceil(keys / block)
        out, exact = trace["output"][step - 1].tolist(), trace["exact"].tolist()
        return (f"Blocks of {block} keys, {step} of {n_blocks(block)} blocks read ({int(trace['end'][step - 1])} of "
                f"{n_keys} keys): in block {step}, {_what_the_block_did(trace, step)}. The running output o/ℓ is "
                f"({out[0]:.3f}, {out[1]:.3f}); the exact answer is ({exact[0]:.3f}, {exact[1]:.3f}).")

    static = StaticExplorer(
        "Online softmax: one query's keys read block by block",
        [("keys per block", [(b, str(b)) for b in in_book]), ("keys read", [(k, str(k)) for k in quarters])],
        draw=lambda block, keys: draw_online_softmax(block, math.ceil(keys / block), n_keys),
        describe=describe, default=(len(in_book) - 1, 1))
    return LiveOrStatic(live, static)
