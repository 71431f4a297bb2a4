"""Scouting for chapter 8, section 5: linear attention against softmax attention on chapter 1's reversal
(lengths 4 to 40), in chapter 7's Transformer (d_model 64, 4 heads, one block each side, positions
counted from both ends, 1000 steps of 16).

``LinearMultiHeadAttention`` is the course's ``MultiHeadAttention`` with the softmax's ``exp(q·k/√d)``
replaced by ``φ(q)·φ(k)``, ``φ = elu + 1`` (Katharopoulos et al., 2020), computed here in its
*quadratic* form (the (T, S) matrix of similarities, masked, each row divided by its sum): the same
numbers as ``utils.linear_attention.linear_attention`` (checked below), and it takes every mask the
course's modules pass, so the cached decoding of ``TransformerDecoder.step`` works unchanged. For
cross-attention, the decoder then reads the source only through ``Σ_j φ(k_j) v_jᵀ`` and ``Σ_j φ(k_j)``:
``d·d + d`` numbers per head, whatever the source's length.

    PYTHONPATH=. .venv/bin/python experiments/linear_reversal.py --where all cross none --seeds 0
"""

from __future__ import annotations

import argparse
import time

import torch

from experiments.common import record, warmup_cosine
from utils.data import BucketBatches
from utils.device import model_seed
from utils.length_experiment import length_experiment_config
from utils.linear_attention import elu_feature_map, linear_attention
from utils.masks import causal_mask
from utils.training import evaluate_seq2seq, fit, seq2seq_step
from utils.transformer import MultiHeadAttention, _merge_heads, _split_heads
from utils.transformer_decoder import build_transformer_model


class LinearMultiHeadAttention(MultiHeadAttention):
    """Multi-head attention whose weights are ``φ(q)·φ(k) / Σ_j φ(q)·φ(k_j)`` (masked keys left out)."""

    def _attend(self, query, k, v, mask, need_weights, average_attn_weights, is_causal):
        T_q, T_k = query.shape[1], k.shape[2]
        q = _split_heads(self.q_proj(query), self.num_heads)              # (B, T_q, E) -> (B, h, T_q, d)
        if is_causal:
            causal = causal_mask(T_q, T_k, query.device)
            mask = causal if mask is None else mask & causal
        sim = elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)   # (B, h, T_q, T_k), all > 0
        if mask is not None:
            sim = sim.masked_fill(~mask, 0.0)
        weights = sim / sim.sum(-1, keepdim=True).clamp_min(1e-12)
        output = self.out_proj(_merge_heads(weights @ v))                 # (B, h, T_q, d) -> (B, T_q, E)
        if need_weights and average_attn_weights:
            weights = weights.mean(1)
        return output, (weights if need_weights else None)


def swap(model, where: str, seed: int, d_model=64, num_heads=4):
    """Replace the attention modules (``all``, only the decoder's ``cross``-attention, or ``none``)."""
    if where == "none":
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model_seed(seed) + 2000)
        for layer in model.decoder.layers:
            layer.multihead_attn = LinearMultiHeadAttention(d_model, num_heads)
            if where == "all":
                layer.self_attn = LinearMultiHeadAttention(d_model, num_heads)
        if where == "all":
            for layer in model.encoder.encoder.layers:
                layer.self_attn = LinearMultiHeadAttention(d_model, num_heads)
    return model


def check_equal_to_the_library() -> None:
    """The quadratic form here gives ``linear_attention``'s numbers (causal and not)."""
    g = torch.Generator().manual_seed(0)
    mha = LinearMultiHeadAttention(16, 2).eval()
    x = torch.randn(3, 7, 16, generator=g)
    with torch.no_grad():
        for causal in (False, True):
            got, _ = mha(x, need_weights=False, is_causal=causal)
            q, k, v = (_split_heads(p(x), 2) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
            want = mha.out_proj(_merge_heads(linear_attention(q, k, v, causal=causal)))
            assert torch.allclose(got, want, atol=1e-5), causal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--where", nargs="+", default=["all", "none"], choices=["all", "cross", "none"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    check_equal_to_the_library()
    cfg = length_experiment_config()
    train, test, vocab = cfg.data()
    for seed in args.seeds:
        for where in args.where:
            model = build_transformer_model(len(vocab), len(vocab), d_model=64, num_heads=4, d_ff=256, num_layers=1,
                                            max_len=64, count_from_end=True, seed=seed)
            model = swap(model, where, seed)
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98))
            scheduler = warmup_cosine(optimizer, args.steps, 50)
            start = time.perf_counter()
            fit(model, BucketBatches(train, vocab, vocab, args.batch, seed=cfg.train_seed), seq2seq_step(), optimizer,
                args.steps, scheduler=scheduler, desc=f"linear: {where}")
            train_s = time.perf_counter() - start
            start = time.perf_counter()
            em = evaluate_seq2seq(model, test, vocab, vocab).exact_match_by_length
            eval_s = time.perf_counter() - start
            record("linear_reversal", {"linear": where, "seed": seed, "steps": args.steps, "batch": args.batch,
                                       "lr": args.lr, "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
                                       "worst": min(em.values()), "mean": round(sum(em.values()) / len(em), 4),
                                       "em_by_length": {n: em[n] for n in sorted(em)}})


if __name__ == "__main__":
    main()
