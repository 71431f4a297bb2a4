"""Scouting for chapter 8, section 3: grouped-query attention in chapter 7's Transformer, on chapter 1's
reversal task (lengths 4 to 40), with 4 query heads and 1, 2 or 4 key/value heads.

How GQA is plugged in: the decoder's self-attention and cross-attention modules (the two whose keys
and values a decoding cache holds) are replaced by ``GroupedQueryAttention(64, 4, g)``. Training
(the teacher-forced pass) works as it is, since ``GroupedQueryAttention`` keeps ``MultiHeadAttention``'s
``forward``. The cached ``TransformerDecoder.step`` does not (its cache is built and checked with
``num_heads`` heads), so evaluation decodes greedily by recomputing the prefix at every step
(chapter 7's "without the cache"), which gives the same tokens.

    PYTHONPATH=. .venv/bin/python experiments/gqa_reversal.py --kv 1 2 4 --seeds 0
"""

from __future__ import annotations

import argparse
import time

import torch

from experiments.common import record, warmup_cosine
from utils.data import BucketBatches
from utils.device import model_seed
from utils.grouped_query import GroupedQueryAttention, kv_cache_bytes
from utils.length_experiment import length_experiment_config
from utils.training import evaluate_seq2seq, fit, seq2seq_step
from utils.transformer_decoder import build_transformer_model


class NoCacheGreedy(torch.nn.Module):
    """``greedy_decode`` for a Transformer ``Seq2Seq`` by recomputing the whole prefix at every step."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @torch.no_grad()
    def greedy_decode(self, src, src_lengths, max_len):
        m = self.model
        enc_out, src_mask, _ = m.encode(src, src_lengths)
        B = src.shape[0]
        tokens = torch.full((B, 1), m.sos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        out = []
        for _ in range(max_len):
            logits = m.decoder(tokens, enc_out, src_mask, need_weights="none")[0][:, -1]   # (B, V)
            prev = logits.argmax(-1)
            out.append(prev.masked_fill(done, m.pad_id))
            done = done | (prev == m.eos_id)
            tokens = torch.cat([tokens, prev.unsqueeze(1)], dim=1)
            if bool(done.all()):
                break
        return torch.stack(out, 1), None


def build(vocab, num_kv_heads: int, seed: int, d_model=64, num_heads=4, d_ff=256, num_layers=1):
    model = build_transformer_model(len(vocab), len(vocab), d_model=d_model, num_heads=num_heads, d_ff=d_ff,
                                    num_layers=num_layers, max_len=64, count_from_end=True, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed(seed) + 1000)
        for layer in model.decoder.layers:
            layer.self_attn = GroupedQueryAttention(d_model, num_heads, num_kv_heads)
            layer.multihead_attn = GroupedQueryAttention(d_model, num_heads, num_kv_heads)
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kv", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = length_experiment_config()
    train, test, vocab = cfg.data()
    for seed in args.seeds:
        for g in args.kv:
            model = build(vocab, g, seed)
            params = sum(p.numel() for p in model.parameters())
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98))
            scheduler = warmup_cosine(optimizer, args.steps, 50)
            start = time.perf_counter()
            fit(model, BucketBatches(train, vocab, vocab, args.batch, seed=cfg.train_seed), seq2seq_step(), optimizer,
                args.steps, scheduler=scheduler, desc=f"g={g}")
            train_s = time.perf_counter() - start
            start = time.perf_counter()
            report = evaluate_seq2seq(NoCacheGreedy(model), test, vocab, vocab)
            eval_s = time.perf_counter() - start
            em = report.exact_match_by_length
            cache = kv_cache_bytes(num_layers=1, num_kv_heads=g, d_head=16, seq_len=1, batch=1)
            record("gqa_reversal", {"kv_heads": g, "seed": seed, "steps": args.steps, "batch": args.batch,
                                    "params": params, "cache_bytes_per_token_layer": cache,
                                    "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
                                    "worst": min(em.values()), "mean": round(sum(em.values()) / len(em), 4),
                                    "worst_len": min(em, key=em.get)})


if __name__ == "__main__":
    main()
