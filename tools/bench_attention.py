"""Time the course's MultiHeadAttention against torch.nn.MultiheadAttention on the CPU.

Both modules hold the same weights (copied with ``MultiHeadAttention.from_torch``) and run
self-attention on the same inputs, in eval mode without gradients. By default neither returns
the weights, so ours takes its fast path (``F.scaled_dot_product_attention``) and PyTorch its own
fused one; ``--need-weights`` times the readable paths that return the weights instead.

    python tools/bench_attention.py                 # a markdown table: size, ours, torch, ratio
    python tools/bench_attention.py --need-weights
    python tools/bench_attention.py --repeats 9

ratio = ours / torch: below 1 means ours is faster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from utils.transformer import MultiHeadAttention

# (batch B, length T, embed_dim E, heads H)
SIZES = [(32, 32, 64, 4), (16, 128, 128, 4), (8, 256, 256, 8), (4, 512, 256, 8), (2, 1024, 512, 8)]


def median_ms(fn, repeats: int, min_time: float = 0.05) -> float:
    """Median over ``repeats`` runs of the time per call, each run long enough to measure."""
    fn()  # warm up
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_time:
        fn()
        calls += 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return 1000 * statistics.median(times)


def bench(sizes, repeats: int, need_weights: bool) -> list[tuple[str, float, float]]:
    rows = []
    for B, T, E, H in sizes:
        torch.manual_seed(0)
        theirs = nn.MultiheadAttention(E, H, batch_first=True).eval()
        ours = MultiHeadAttention.from_torch(theirs).eval()
        x = torch.randn(B, T, E)
        with torch.no_grad():
            a, _ = ours(x, x, x, need_weights=need_weights)
            b, _ = theirs(x, x, x, need_weights=need_weights)
            if not torch.allclose(a, b, atol=1e-4):
                raise SystemExit(f"outputs differ at size {(B, T, E, H)}: the comparison would be meaningless")
            t_ours = median_ms(lambda m=ours, x=x: m(x, x, x, need_weights=need_weights), repeats)
            t_theirs = median_ms(lambda m=theirs, x=x: m(x, x, x, need_weights=need_weights), repeats)
        rows.append((f"B={B} T={T} E={E} h={H}", t_ours, t_theirs))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per size (median reported)")
    parser.add_argument("--need-weights", action="store_true", help="time the paths that return the weights")
    args = parser.parse_args(argv)
    rows = bench(SIZES, args.repeats, args.need_weights)
    path = "readable paths, weights returned" if args.need_weights else "fast paths, no weights"
    print(f"MultiHeadAttention vs nn.MultiheadAttention, CPU, {torch.get_num_threads()} threads, "
          f"self-attention forward, {path}")
    print()
    print("| size | ours (ms) | torch (ms) | ratio |")
    print("| --- | --- | --- | --- |")
    for size, t_ours, t_theirs in rows:
        print(f"| {size} | {t_ours:.3f} | {t_theirs:.3f} | {t_ours / t_theirs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
