"""Chapter 8, section 4 with the course package: the scouting run of ``sliding_reach.py`` (marked "first
symbol", T = 24, window 5) redone with ``utils.sliding_window``, ``utils.data.first_symbol_streams`` and
``utils.training.fit``, to check that the package reproduces the cliff at the reach L·(w − 1).

    PYTHONPATH=. .venv/bin/python experiments/sliding_reach_fit.py --layers 1 2 3 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import time

import torch

from experiments.common import record
from utils.data import first_symbol_streams
from utils.sliding_window import SlidingWindowEncoder, accuracy_by_position, stream_step
from utils.training import fit, warmup_cosine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--T", type=int, default=24)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test_x, test_y = first_symbol_streams(500, args.T, generator=12345)
    for seed in args.seeds:
        for L in args.layers:
            model = SlidingWindowEncoder(20, 10, L, args.window, args.T, seed=seed).to(args.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, betas=(0.9, 0.98))
            g = torch.Generator().manual_seed(1000 + seed)
            start = time.perf_counter()
            history = fit(model, lambda step, g=g: first_symbol_streams(32, args.T, generator=g), stream_step, optimizer,
                          args.steps, device=args.device, scheduler=warmup_cosine(optimizer, args.steps, 50))
            train_s = time.perf_counter() - start
            acc = accuracy_by_position(model, test_x.to(args.device), test_y.to(args.device))  # (T,)
            r = model.reach
            record("sliding_reach_fit", {"layers": L, "window": args.window, "reach": r, "seed": seed, "steps": args.steps,
                                         "device": args.device, "train_s": round(train_s, 1),
                                         "final_loss": round(history.loss[-1], 3),
                                         "min_within": round(acc[: r + 1].min().item(), 3),
                                         "max_beyond": round(acc[r + 1:].max().item(), 3) if r + 1 < args.T else None,
                                         "acc_by_t": [round(a, 2) for a in acc.tolist()]})


if __name__ == "__main__":
    main()
