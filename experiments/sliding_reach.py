"""Scouting for chapter 8, section 4: the reach of stacked sliding-window layers.

Task "first" (``--lags 0``, the default): a stream of T random symbols; at every position t the model
must output the FIRST symbol, x_0. With L sliding-window layers of ``window`` positions, position t
can see x_0 only if ``t <= L · (window − 1)``: accuracy against t has a cliff at the reach, and one
model per L gives the whole curve.

Task "copy from k back" (``--lags k1 k2 …``, all k >= 1): a stream of T random symbols (10 of them); at every position t the model
must output, for each lag k in LAGS, the symbol x_{t−k} (one linear read-out per lag on the last
layer, all trained together). A causal model of L blocks, each attending under
``sliding_window_mask(T, window)``, can only see ``L · (window − 1)`` positions back
(``stacked_reach``), so lag k is learnable only if ``k <= L · (window − 1)``: one model per L gives
a whole curve of accuracy against the lag, with a cliff at the reach.

    PYTHONPATH=. .venv/bin/python experiments/sliding_reach.py --layers 1 2 3 --seeds 0
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from experiments.common import record, warmup_cosine
from utils.device import model_seed
from utils.efficient_attention import sliding_window_mask
from utils.positional import sinusoidal_positional_encoding
from utils.transformer_encoder import TransformerEncoderBlock

N_SYMBOLS = 10


class WindowedStack(nn.Module):
    """Embedding + sinusoidal positions + L pre-norm blocks under one sliding-window mask + one head per lag."""

    def __init__(self, num_layers: int, window: int, lags: list[int], T: int, d_model=64, num_heads=4, d_ff=128):
        super().__init__()
        self.embed = nn.Embedding(2 * N_SYMBOLS, d_model)                               # x_0 may come from a second alphabet
        self.register_buffer("pe", sinusoidal_positional_encoding(T, d_model))
        self.register_buffer("mask", sliding_window_mask(T, window))                     # (T, T), True = may attend
        self.blocks = nn.ModuleList(TransformerEncoderBlock(d_model, num_heads, d_ff, norm_first=True)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.read = nn.Linear(d_model, N_SYMBOLS * len(lags))
        self.n_lags = len(lags)

    def forward(self, x):                                                                # (B, T) -> (B, T, lags, V)
        h = self.embed(x) * self.embed.embedding_dim ** 0.5 + self.pe[: x.shape[1]]
        for block in self.blocks:
            h, _ = block(h, attn_mask=self.mask)
        return self.read(self.norm(h)).unflatten(-1, (self.n_lags, N_SYMBOLS))


def batch(g: torch.Generator, B: int, T: int, lags: list[int], marked: bool = False):
    """Random streams ``x (B, T)`` and targets ``(B, T, lags)``: x_{t−k}, or −100 (ignored) where t < k;
    lag 0 stands for the "first" task, x_0 at every position. ``marked``: x_0 is written with a second
    alphabet (ids N_SYMBOLS…2·N_SYMBOLS−1, the answer still 0…N_SYMBOLS−1), so that its content says where it is."""
    x = torch.randint(0, N_SYMBOLS, (B, T), generator=g)
    y = torch.full((B, T, len(lags)), -100, dtype=torch.long)
    for i, k in enumerate(lags):
        if k == 0:
            y[:, :, i] = x[:, :1]
        else:
            y[:, k:, i] = x[:, :T - k]
    if marked:
        x = x.clone()
        x[:, 0] += N_SYMBOLS
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--lags", type=int, nargs="+", default=[0])
    parser.add_argument("--T", type=int, default=48)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--d_model", type=int, default=64)
    parser.add_argument("--marked", action="store_true", help="write x_0 with a second alphabet")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test_x, test_y = batch(torch.Generator().manual_seed(12345), 500, args.T, args.lags, args.marked)
    for seed in args.seeds:
        for L in args.layers:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(model_seed(seed))
                model = WindowedStack(L, args.window, args.lags, args.T, d_model=args.d_model)
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98))
            scheduler = warmup_cosine(optimizer, args.steps, 50)
            g = torch.Generator().manual_seed(1000 + seed)
            start = time.perf_counter()
            for _ in range(args.steps):
                x, y = batch(g, args.batch, args.T, args.lags, args.marked)
                loss = F.cross_entropy(model(x).flatten(0, 2), y.flatten(), ignore_index=-100)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
            train_s = time.perf_counter() - start
            with torch.no_grad():
                pred = model(test_x).argmax(-1)                                        # (B, T, lags)
            acc = {k: (pred[:, k:, i] == test_y[:, k:, i]).float().mean().item() for i, k in enumerate(args.lags)}
            if args.lags == [0]:                                                       # the "first" task: by position
                by_t = (pred[:, :, 0] == test_y[:, :, 0]).float().mean(0)            # (T,)
                acc = {f"t{t}": round(by_t[t].item(), 2) for t in range(args.T)}
            record("sliding_reach", {"layers": L, "window": args.window, "reach": L * (args.window - 1), "seed": seed,
                                     "steps": args.steps, "batch": args.batch, "T": args.T, "d_model": args.d_model,
                                     "lr": args.lr, "marked": args.marked, "train_s": round(train_s, 1), "final_loss": round(loss.item(), 3),
                                     "acc_by_lag": {k: round(a, 3) for k, a in acc.items()}})


if __name__ == "__main__":
    main()
