"""Bad input to the public API of ``utils`` gets a named error a learner can act on (issue 16).

``BAD`` is a table of ``(id, call, exception type, message fragment)``: every call must raise that
type with that fragment in its message. ``EDGE`` is a table of legal edge cases that must give a
sensible (finite, well-shaped) result. ``test_counts`` classifies every call of both tables as
named / sensible / obscure / silent and prints the counts for the issue's note.
"""

from __future__ import annotations

import math

import pytest
import torch

from utils import attention as A
from utils import bahdanau as BA
from utils import diagnostics as D
from utils import glimpse as G
from utils import local_attention as LA
from utils import luong as L
from utils import masks as M
from utils import positional as P
from utils import seq2seq as S2
from utils import seq2seq_training as ST
from utils import training as TR
from utils import transformer as T
from utils import transformer_encoder as TE
from utils import validate as VA
from utils.data import (
    BucketBatches,
    Vocab,
    canvas_batches,
    collate,
    collate_text,
    iterate_batches,
    iterate_text_batches,
    make_date_task,
    make_digit_canvases,
    make_sentiment_task,
    make_sequence_task,
)
from utils.device import available_devices, pick_device, resolve_device

torch.manual_seed(0)
f32, f64, long = torch.float32, torch.float64, torch.long


def r(*shape, dtype=f32):
    return torch.randn(*shape, dtype=dtype)


Q, K, V = r(2, 3, 4), r(2, 5, 4), r(2, 5, 6)
MHA = T.MultiHeadAttention(8, 2)
X8 = r(2, 3, 8)
GEN = A.GeneralScore(4, 6)
ADD = A.AdditiveScore(4, 6, 7)
ENC = S2.Encoder(10, 4, 5)
SRC, LEN = torch.randint(4, 10, (2, 3)), torch.tensor([3, 2])
DEC = S2.PlainDecoder(12, 4, 5, 5)
MODEL = S2.Seq2Seq(ENC, DEC)
TGT = torch.randint(4, 12, (2, 4))
BAH = BA.build_bahdanau_model(10, 12, 4, 5)
BATT = BA.AdditiveAttention(5, 10, 6)
LATT = L.LuongAttention(6, 6, "general", "local-p")
LUONG = L.build_luong_model(10, 12, 4, 3, window="local-m")
VOCAB = Vocab(list("abc"))
PAIRS, _ = make_sequence_task("copy", 6, 2, 4, 3)
SPE = P.SinusoidalPositionalEncoding(8, max_len=4)
LPE = P.LearnedPositionalEncoding(8, max_len=4)
BLOCK = TE.TransformerEncoderBlock(8, 2, 16)
STACK = TE.TransformerEncoder(2, 8, 2, 16)
SPANS = [{"year": (0, 2)}] * 2


def fit_with(**kwargs):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step_fn = kwargs.pop("step_fn", lambda m, b: (m(b).pow(2).mean(), {}))
    args = dict(model=model, batches=[torch.ones(3, 2)], step_fn=step_fn, optimizer=opt, steps=3)
    args.update(kwargs)
    return TR.fit(**args)


def nan_after(step):
    calls = {"n": 0}

    def step_fn(m, b):
        calls["n"] += 1
        loss = m(b).pow(2).mean()
        return (loss * float("nan") if calls["n"] >= step else loss), {}

    return step_fn


def with_nan(t, index=(0,)):
    t = t.clone()
    t[index] = float("nan")
    return t


INT_MASK = torch.ones(3, 5, dtype=long).tril()
FLOAT01 = torch.ones(2, 5)
CPU_ONLY = not torch.cuda.is_available()
NAN, INF = float("nan"), float("inf")

# (id, call, exception type, fragment of the message)
BAD = [
    # ---------------------------------------------------------------- attention: scores
    ("dot_score list query", lambda: A.dot_score([[1.0]], K), TypeError, "query must be a torch.Tensor, got list"),
    ("dot_score None key", lambda: A.dot_score(Q, None), TypeError, "key must be a torch.Tensor, got NoneType"),
    ("dot_score 1-D", lambda: A.dot_score(r(4), r(4)), ValueError, "query must have at least 2 dimensions"),
    ("dot_score features", lambda: A.dot_score(Q, r(2, 5, 3)), ValueError, "key has 3 features but query has 4"),
    ("dot_score batch", lambda: A.dot_score(Q, r(3, 5, 4)), ValueError, "batch dimensions do not broadcast"),
    ("dot_score long", lambda: A.dot_score(Q.long(), K.long()), TypeError, "query must be a floating-point tensor"),
    ("dot_score dtype mix", lambda: A.dot_score(Q, K.double()), TypeError, "key has dtype torch.float64 but query has torch.float32"),
    ("scaled_dot_score int", lambda: A.scaled_dot_score(Q.int(), K), TypeError, "floating-point"),
    ("general query list", lambda: GEN([1.0], r(1, 3, 6)), TypeError, "query must be a torch.Tensor"),
    ("general key size", lambda: GEN(r(1, 2, 4), r(1, 3, 5)), ValueError, "key has 5 features but this layer expects 6"),
    ("general query size", lambda: GEN(r(1, 2, 3), r(1, 3, 6)), ValueError, "query has 3 features but this layer expects 4"),
    ("general long", lambda: GEN(r(1, 2, 4).long(), r(1, 3, 6).long()), TypeError, "floating-point"),
    ("general float64 vs layer", lambda: GEN(r(1, 2, 4, dtype=f64), r(1, 3, 6, dtype=f64)), TypeError, "the layer's weights are torch.float32"),
    ("general batch", lambda: GEN(r(2, 2, 4), r(3, 3, 6)), ValueError, "batch dimensions do not broadcast"),
    ("additive no key", lambda: ADD(r(1, 2, 4)), ValueError, "pass key or projected_key"),
    ("additive query size", lambda: ADD(r(1, 2, 3), r(1, 3, 6)), ValueError, "query has 3 features but this layer expects 4"),
    ("additive key size", lambda: ADD(r(1, 2, 4), r(1, 3, 5)), ValueError, "key has 5 features but this layer expects 6"),
    ("additive projected size", lambda: ADD(r(1, 2, 4), projected_key=r(1, 3, 10)), ValueError, "projected_key has 10 features but this layer expects 7"),
    ("additive projected batch", lambda: ADD(r(2, 2, 4), projected_key=r(3, 3, 7)), ValueError, "batch dimensions do not broadcast"),
    ("additive projected 1-D", lambda: ADD(r(1, 2, 4), projected_key=r(7)), ValueError, "projected_key must have at least 2 dimensions"),
    ("additive projected dtype", lambda: ADD(r(1, 2, 4), projected_key=r(1, 3, 7, dtype=f64)), TypeError, "projected_key has dtype torch.float64"),
    ("additive long", lambda: ADD(r(1, 2, 4).long(), r(1, 3, 6).long()), TypeError, "floating-point"),
    ("additive float64 vs layer", lambda: ADD(r(1, 2, 4, dtype=f64), r(1, 3, 6, dtype=f64)), TypeError, "the layer's weights"),
    ("project_keys size", lambda: ADD.project_keys(r(1, 3, 5)), ValueError, "key has 5 features"),
    ("project_keys list", lambda: ADD.project_keys([1.0]), TypeError, "key must be a torch.Tensor"),
    ("project_keys int", lambda: ADD.project_keys(torch.ones(1, 3, 6, dtype=long)), TypeError, "floating-point"),
    ("check_query_key value positions", lambda: VA.check_query_key(Q, K, r(2, 4, 6)), ValueError, "value has 4 positions but key has 5"),
    ("check_query_key value batch", lambda: VA.check_query_key(Q, K, r(3, 5, 6)), ValueError, "key and value batch dimensions"),
    ("dot_score 0 features", lambda: A.dot_score(r(2, 3, 0), r(2, 5, 0)), ValueError, "query has 0 features (query shape (2, 3, 0))"),
    ("scaled_dot_score 0 features", lambda: A.scaled_dot_score(r(2, 3, 0), r(2, 5, 0)), ValueError, "a score over no features is 0 for every key"),
    ("check_query_key key 0 features", lambda: VA.check_query_key(Q, r(2, 5, 0), same_features=False), ValueError, "key has 0 features"),
    ("general size 0", lambda: A.GeneralScore(0, 6), ValueError, "query_size must be at least 1, got 0"),
    ("general size float", lambda: A.GeneralScore(4, 6.0), TypeError, "key_size must be an int"),
    ("additive hidden 0", lambda: A.AdditiveScore(4, 6, 0), ValueError, "hidden_size must be at least 1, got 0"),
    # ---------------------------------------------------------------- attention: softmax, pooling
    ("masked_softmax list", lambda: A.masked_softmax([1.0, 2.0]), TypeError, "scores must be a torch.Tensor"),
    ("masked_softmax long scores", lambda: A.masked_softmax(torch.ones(2, 3, dtype=long)), TypeError, "scores must be a floating-point tensor"),
    ("masked_softmax float mask", lambda: A.masked_softmax(r(2, 3), torch.ones(2, 3)), TypeError, "mask must be a bool tensor"),
    ("masked_softmax int mask", lambda: A.masked_softmax(r(2, 3), torch.ones(2, 3, dtype=long)), TypeError, "use mask.bool()"),
    ("masked_softmax mask list", lambda: A.masked_softmax(r(2, 3), [[True] * 3] * 2), TypeError, "mask must be a torch.Tensor or None, got list"),
    ("masked_softmax mask shape", lambda: A.masked_softmax(r(2, 3), torch.ones(2, 4, dtype=torch.bool)), ValueError, "mask of shape (2, 4) does not broadcast"),
    ("masked_softmax NaN", lambda: A.masked_softmax(with_nan(r(2, 3)), None), ValueError, "scores contain NaN or +inf"),
    ("masked_softmax +inf", lambda: A.masked_softmax(torch.tensor([[0.0, float("inf")]])), ValueError, "NaN or +inf"),
    ("masked_softmax NaN allowed", lambda: A.masked_softmax(with_nan(r(2, 3)), torch.ones(2, 3, dtype=torch.bool)), ValueError, "positions that may be attended"),
    ("masked_softmax fp16 overflow", lambda: A.masked_softmax(torch.tensor([[1.0, 70000.0]]).half()), ValueError, "overflow"),
    ("attention_pool keys", lambda: A.attention_pool(r(1, 2, 3), r(1, 4, 5)), ValueError, "weights cover 3 keys but value has 4"),
    ("attention_pool batch", lambda: A.attention_pool(r(2, 2, 3), r(3, 3, 5)), ValueError, "weights and value batch dimensions do not broadcast"),
    ("attention_pool list", lambda: A.attention_pool([[1.0]], r(1, 1, 2)), TypeError, "weights must be a torch.Tensor"),
    ("attention_pool 1-D", lambda: A.attention_pool(r(3), r(3, 2)), ValueError, "weights must have at least 2 dimensions"),
    ("attention_pool dtype", lambda: A.attention_pool(r(1, 2, 3), r(1, 3, 5, dtype=f64)), TypeError, "value has dtype torch.float64"),
    ("attention_pool long", lambda: A.attention_pool(torch.ones(1, 2, 3, dtype=long), torch.ones(1, 3, 5, dtype=long)), TypeError, "floating-point"),
    ("attend mask int", lambda: A.attend(r(1, 2, 3), r(1, 3, 4), torch.ones(1, 2, 3, dtype=long)), TypeError, "mask.bool()"),
    ("attend NaN", lambda: A.attend(with_nan(r(1, 2, 3)), r(1, 3, 4)), ValueError, "NaN"),
    # ---------------------------------------------------------------- attention: SDPA
    ("sdpa int mask", lambda: A.scaled_dot_product_attention(r(1, 3, 4), r(1, 5, 4), r(1, 5, 4), attn_mask=INT_MASK), TypeError, "attn_mask has dtype torch.int64; use a bool mask"),
    ("sdpa float 0/1 mask", lambda: A.scaled_dot_product_attention(r(1, 3, 4), r(1, 5, 4), r(1, 5, 4), attn_mask=INT_MASK.float()), ValueError, "float mask of 0s and 1s"),
    ("sdpa mask shape", lambda: A.scaled_dot_product_attention(Q, K, V, attn_mask=torch.ones(4, 5, dtype=torch.bool)), ValueError, "attn_mask of shape (4, 5) does not broadcast"),
    ("sdpa mask list", lambda: A.scaled_dot_product_attention(Q, K, V, attn_mask=[[True]]), TypeError, "attn_mask must be a torch.Tensor or None"),
    ("sdpa dropout 1.5", lambda: A.scaled_dot_product_attention(Q, K, V, dropout_p=1.5), ValueError, "dropout_p must be a finite number in [0, 1)"),
    ("sdpa dropout -0.1", lambda: A.scaled_dot_product_attention(Q, K, V, dropout_p=-0.1), ValueError, "dropout_p"),
    ("sdpa dropout str", lambda: A.scaled_dot_product_attention(Q, K, V, dropout_p="0.1"), TypeError, "dropout_p must be a number"),
    ("sdpa dropout nan", lambda: A.scaled_dot_product_attention(Q, K, V, dropout_p=float("nan")), ValueError, "dropout_p"),
    ("sdpa long inputs", lambda: A.scaled_dot_product_attention(Q.long(), K.long(), V.long()), TypeError, "floating-point"),
    ("sdpa dtype mix", lambda: A.scaled_dot_product_attention(Q, K, V.double()), TypeError, "value has dtype torch.float64"),
    ("sdpa NaN query", lambda: A.scaled_dot_product_attention(with_nan(Q), K, V), ValueError, "scores (query @ keyᵀ"),
    ("sdpa inf key", lambda: A.scaled_dot_product_attention(Q, K.index_fill(1, torch.tensor([0]), float("inf")), V), ValueError, "NaN or +inf"),
    ("sdpa features", lambda: A.scaled_dot_product_attention(Q, r(2, 5, 3), V), ValueError, "key has 3 features"),
    ("sdpa value positions", lambda: A.scaled_dot_product_attention(Q, K, r(2, 4, 6)), ValueError, "value has 4 positions"),
    ("sdpa fp16 overflow", lambda: A.scaled_dot_product_attention(torch.full((1, 2, 4), 300.0).half(), torch.full((1, 2, 4), 300.0).half(), r(1, 2, 4).half()), ValueError, "overflow"),
    ("sdpa 0 features", lambda: A.scaled_dot_product_attention(r(2, 3, 0), r(2, 5, 0), V), ValueError, "query has 0 features"),
    # ---------------------------------------------------------------- transformer
    ("causal_mask float", lambda: M.causal_mask(2.5), TypeError, "T_q must be an int"),
    ("causal_mask negative", lambda: M.causal_mask(-1), ValueError, "T_q must be at least 0"),
    ("causal_mask device gpu", lambda: M.causal_mask(3, device="gpu"), ValueError, "not a device name; this machine has"),
    ("length_mask 2-D", lambda: M.length_mask(torch.ones(2, 2, dtype=long)), ValueError, "lengths must be 1-D"),
    ("length_mask None", lambda: M.length_mask(None), TypeError, "lengths must be a torch.Tensor"),
    ("_split_heads divisible", lambda: T._split_heads(r(2, 3, 7), 2), ValueError, "divisible by num_heads=2"),
    ("_split_heads heads 0", lambda: T._split_heads(r(2, 3, 8), 0), ValueError, "num_heads must be at least 1"),
    ("_split_heads list", lambda: T._split_heads([1.0], 2), TypeError, "x must be a torch.Tensor"),
    ("_merge_heads 3-D", lambda: T._merge_heads(r(2, 3, 4)), ValueError, "(B, H, T, d)"),
    ("MHA dropout 1.5", lambda: T.MultiHeadAttention(8, 2, dropout=1.5), ValueError, "dropout must be a finite number in [0, 1)"),
    ("MHA heads 0", lambda: T.MultiHeadAttention(8, 0), ValueError, "num_heads must be at least 1"),
    ("MHA divisible", lambda: T.MultiHeadAttention(8, 3), ValueError, "divisible"),
    ("MHA embed float", lambda: T.MultiHeadAttention(8.0, 2), TypeError, "embed_dim must be an int"),
    ("MHA kdim 0", lambda: T.MultiHeadAttention(8, 2, kdim=-3), ValueError, "kdim must be at least 1"),
    ("MHA batch_first", lambda: T.MultiHeadAttention(8, 2, batch_first=False), ValueError, "batch_first"),
    ("MHA query list", lambda: MHA([[1.0]]), TypeError, "query must be a torch.Tensor, got list"),
    ("MHA query 2-D", lambda: MHA(r(3, 8)), ValueError, "query must be (B, T, 8), got shape (3, 8)"),
    ("MHA query size", lambda: MHA(r(2, 3, 6)), ValueError, "query must be (B, T, 8)"),
    ("MHA long input", lambda: MHA(torch.ones(2, 3, 8, dtype=long)), TypeError, "query must be a floating-point tensor"),
    ("MHA float64 input", lambda: MHA(r(2, 3, 8, dtype=f64)), TypeError, "the module's weights are torch.float32"),
    ("MHA key dtype", lambda: MHA(X8, r(2, 4, 8, dtype=f64)), TypeError, "key has dtype torch.float64"),
    ("MHA share B", lambda: MHA(X8, r(3, 4, 8)), ValueError, "share B"),
    ("MHA int attn_mask", lambda: MHA(X8, attn_mask=torch.ones(3, 3, dtype=long).tril()), TypeError, "attn_mask has dtype torch.int64; use a bool mask (True = may attend)"),
    ("MHA int attn_mask fast", lambda: MHA(X8, attn_mask=torch.ones(3, 3, dtype=long).tril(), need_weights=False), TypeError, "attn_mask.bool()"),
    ("MHA int key_padding", lambda: MHA(X8, key_padding_mask=torch.ones(2, 3, dtype=long)), TypeError, "key_padding_mask has dtype torch.int64"),
    ("MHA float 1/0 key_padding", lambda: MHA(X8, key_padding_mask=torch.tensor([[1.0, 1, 0], [1, 0, 0]])), ValueError, "key_padding_mask is a float mask of 0s and 1s"),
    ("MHA float 1/0 attn_mask", lambda: MHA(X8, attn_mask=torch.ones(3, 3).tril()), ValueError, "attn_mask is a float mask of 0s and 1s"),
    ("MHA key_padding shape", lambda: MHA(X8, key_padding_mask=torch.ones(2, 4, dtype=torch.bool)), ValueError, "key_padding_mask must be (B, T_k) = (2, 3)"),
    ("MHA attn_mask shape", lambda: MHA(X8, attn_mask=torch.ones(4, 4, dtype=torch.bool)), ValueError, "attn_mask has shape (4, 4)"),
    ("MHA attn_mask list", lambda: MHA(X8, attn_mask=[[True]]), TypeError, "attn_mask must be a torch.Tensor or None"),
    ("MHA NaN readable", lambda: MHA(with_nan(X8)), ValueError, "NaN or +inf"),
    ("block x 2-D", lambda: BLOCK(r(3, 8)), ValueError, "x must be (B, T, 8)"),
    ("block x list", lambda: BLOCK([1.0]), TypeError, "x must be a torch.Tensor"),
    ("block int mask", lambda: BLOCK(X8, key_padding_mask=torch.ones(2, 3, dtype=long)), TypeError, "key_padding_mask has dtype"),
    ("encoder stack size", lambda: STACK(r(2, 3, 6)), ValueError, "x must be (B, T, 8)"),
    # ---------------------------------------------------------------- positional
    ("sinusoid base 0", lambda: P.sinusoidal_positional_encoding(4, 8, base=0), ValueError, "base must be a finite number in (1, inf)"),
    ("sinusoid base nan", lambda: P.sinusoidal_positional_encoding(4, 8, base=float("nan")), ValueError, "base"),
    ("sinusoid dtype long", lambda: P.sinusoidal_positional_encoding(4, 8, dtype=long), TypeError, "dtype must be a floating-point torch.dtype"),
    ("sinusoid max_len 0", lambda: P.sinusoidal_positional_encoding(0, 8), ValueError, "max_len must be at least 1"),
    ("sinusoid d_model float", lambda: P.sinusoidal_positional_encoding(4, 8.0), TypeError, "d_model must be an int"),
    ("sinusoid device gpu", lambda: P.sinusoidal_positional_encoding(4, 8, device="gpu"), ValueError, "this machine has ['cpu'"),
    ("sinusoid module base", lambda: P.SinusoidalPositionalEncoding(8, base=-1), ValueError, "base"),
    ("sinusoid too long", lambda: SPE(r(1, 5, 8)), ValueError, "max_len=4"),
    ("sinusoid wrong d", lambda: SPE(r(1, 3, 6)), ValueError, "x must be (B, T, 8)"),
    ("sinusoid long x", lambda: SPE(torch.ones(1, 3, 8, dtype=long)), TypeError, "x must be a floating-point tensor"),
    ("sinusoid list x", lambda: SPE([1.0]), TypeError, "x must be a torch.Tensor"),
    ("learned too long", lambda: LPE(r(1, 5, 8)), ValueError, "max_len=4"),
    ("learned d_model 0", lambda: P.LearnedPositionalEncoding(0), ValueError, "d_model must be at least 1"),
    ("learned long x", lambda: LPE(torch.ones(1, 3, 8, dtype=long)), TypeError, "floating-point"),
    ("learned float16 x", lambda: LPE(r(1, 3, 8).half()), TypeError, "x has dtype torch.float16 but the table's weights are torch.float32"),
    ("learned bfloat16 x", lambda: LPE(r(1, 3, 8).bfloat16()), TypeError, "x has dtype torch.bfloat16"),
    ("learned float64 x", lambda: LPE(r(1, 3, 8, dtype=f64)), TypeError, "module.to(torch.float64)"),
    # ---------------------------------------------------------------- seq2seq
    ("length_mask too long", lambda: M.length_mask(torch.tensor([5, 2]), 3), ValueError, "lengths must lie in [0, 3], got min 2 and max 5"),
    ("length_mask negative", lambda: M.length_mask(torch.tensor([-2, 2])), ValueError, "lengths must lie at least 0"),
    ("length_mask float", lambda: M.length_mask(torch.tensor([2.0])), TypeError, "lengths must hold integers"),
    ("length_mask list", lambda: M.length_mask([2, 3]), TypeError, "lengths must be a torch.Tensor"),
    ("length_mask max_len float", lambda: M.length_mask(torch.tensor([2]), 3.0), TypeError, "max_len must be an int"),
    ("encoder id too big", lambda: ENC(torch.tensor([[1, 10, 2]]), torch.tensor([3])), ValueError, "src holds ids from 1 to 10, but the vocabulary has 10 tokens"),
    ("encoder negative id", lambda: ENC(torch.tensor([[1, -1, 2]]), torch.tensor([3])), ValueError, "src holds ids from -1"),
    ("encoder float src", lambda: ENC(SRC.float(), LEN), TypeError, "src must hold integer token ids"),
    ("encoder src list", lambda: ENC([[1, 2]], LEN), TypeError, "src must be a torch.Tensor"),
    ("encoder src 1-D", lambda: ENC(SRC[0], LEN), ValueError, "src must be (B, S) token ids"),
    ("encoder float lengths", lambda: ENC(SRC, LEN.float()), TypeError, "src_lengths must hold integers"),
    ("encoder lengths list", lambda: ENC(SRC, [3, 2]), TypeError, "src_lengths must be a torch.Tensor"),
    ("encoder lengths batch", lambda: ENC(SRC, torch.tensor([3])), ValueError, "src_lengths has shape (1,) but src has batch size 2"),
    ("encoder lengths 0", lambda: ENC(SRC, torch.tensor([3, 0])), ValueError, "src_lengths must lie in [1, 3]"),
    ("encoder lengths > S", lambda: ENC(SRC, torch.tensor([4, 2])), ValueError, "src_lengths must lie in [1, 3]"),
    ("encoder S = 0", lambda: ENC(torch.zeros(2, 0, dtype=long), torch.tensor([1, 1])), ValueError, "src has no positions"),
    ("encoder cell", lambda: S2.Encoder(10, 4, 5, cell="transformer"), ValueError, "cell must be one of"),
    ("encoder vocab 0", lambda: S2.Encoder(0, 4, 5), ValueError, "vocab_size must be at least 1"),
    ("seq2seq tgt id", lambda: MODEL(SRC, LEN, torch.full((2, 3), 12)), ValueError, "tgt_in holds ids from 12 to 12, but the vocabulary has 12"),
    ("seq2seq tgt float", lambda: MODEL(SRC, LEN, TGT.float()), TypeError, "tgt_in must hold integer token ids"),
    ("seq2seq tgt batch", lambda: MODEL(SRC, LEN, TGT[:1]), ValueError, "tgt_in must be (B, T) with B = 2"),
    ("seq2seq tgt list", lambda: MODEL(SRC, LEN, [[1, 2]]), TypeError, "tgt_in must be a torch.Tensor"),
    ("seq2seq src id", lambda: MODEL(torch.full((2, 3), 99), LEN, TGT), ValueError, "src holds ids from 99"),
    ("seq2seq teacher_forcing", lambda: MODEL(SRC, LEN, TGT, teacher_forcing=1.5), ValueError, "teacher_forcing"),
    ("greedy max_len 0", lambda: MODEL.greedy_decode(SRC, LEN, 0), ValueError, "max_len must be at least 1"),
    ("greedy max_len float", lambda: MODEL.greedy_decode(SRC, LEN, 2.5), TypeError, "max_len must be an int"),
    ("gradient norms padded", lambda: D.source_gradient_norms(MODEL, SRC, LEN, TGT, TGT), ValueError, "unpadded"),
    ("gradient norms float lengths", lambda: D.source_gradient_norms(MODEL, SRC, LEN.float(), TGT, TGT), TypeError, "src_lengths must hold integers"),
    # ---------------------------------------------------------------- bahdanau
    ("bahdanau tgt id", lambda: BAH(SRC, LEN, torch.full((2, 3), 12)), ValueError, "tgt_in holds ids from 12"),
    ("bahdanau src id", lambda: BAH(torch.full((2, 3), 10), LEN, TGT), ValueError, "src holds ids from 10 to 10"),
    ("bahdanau step token", lambda: BAH.decoder.step(torch.tensor([12, 1]), None, None, None), ValueError, "prev_token holds ids from 1 to 12"),
    ("bahdanau step float token", lambda: BAH.decoder.step(torch.tensor([1.0, 1.0]), None, None, None), TypeError, "prev_token must hold integer token ids"),
    ("additive attn query 4-D", lambda: BATT(r(2, 1, 1, 5), r(2, 3, 10)), ValueError, "query must be (B, H) or (B, T, H)"),
    ("additive attn enc batch", lambda: BATT(r(2, 5), r(3, 3, 10)), ValueError, "enc_out must be (B, S, D) with B = 2"),
    ("additive attn int mask", lambda: BATT(r(2, 5), r(2, 3, 10), torch.ones(2, 3, dtype=long)), TypeError, "src_mask must be a bool tensor (True = a real token)"),
    ("additive attn mask shape", lambda: BATT(r(2, 5), r(2, 3, 10), torch.ones(2, 4, dtype=torch.bool)), ValueError, "src_mask must be (B, S) = (2, 3)"),
    ("additive attn key size", lambda: BATT(r(2, 5), r(2, 3, 9)), ValueError, "key has 9 features"),
    ("additive attn projected", lambda: BATT(r(2, 5), r(2, 3, 10), projected_keys=r(2, 3, 7)), ValueError, "projected_key has 7 features but this layer expects 6"),
    ("additive attn long enc", lambda: BATT(r(2, 5), torch.ones(2, 3, 10, dtype=long)), TypeError, "enc_out must be a floating-point tensor"),
    ("additive attn list", lambda: BATT([1.0], r(2, 3, 10)), TypeError, "query must be a torch.Tensor"),
    ("bahdanau init S=0", lambda: BAH.decoder.init_state(r(2, 0, 10)), ValueError, "enc_out has no source positions"),
    ("bahdanau init size", lambda: BAH.decoder.init_state(r(2, 3, 9)), ValueError, "enc_out must be (B, S, 10)"),
    ("alignment NaN", lambda: BA.alignment_accuracy(with_nan(r(2, 3, 4)), SPANS, {"year": (0, 2)}), ValueError, "weights contains NaN"),
    ("alignment long", lambda: BA.alignment_accuracy(torch.ones(2, 3, 4, dtype=long), SPANS, {"year": (0, 2)}), TypeError, "floating-point"),
    ("alignment batch", lambda: BA.alignment_accuracy(r(3, 3, 4), SPANS, {"year": (0, 2)}), ValueError, "B = len(source_spans) = 2"),
    ("alignment empty span", lambda: BA.alignment_accuracy(r(2, 3, 4), SPANS, {"year": (1, 1)}), ValueError, "nothing to score"),
    ("alignment empty targets", lambda: BA.alignment_accuracy(r(2, 3, 4), SPANS, {}), ValueError, "target_spans is empty"),
    # ---------------------------------------------------------------- luong
    ("luong w -1", lambda: L.LuongAttention(6, 6, window="local-m", w=-1), ValueError, "w must be a finite number in [0, inf)"),
    ("luong w str", lambda: L.LuongAttention(6, 6, window="local-m", w="2"), TypeError, "w must be a number"),
    ("luong score", lambda: L.LuongAttention(6, 6, score="cosine"), ValueError, "score must be one of"),
    ("luong window", lambda: L.LuongAttention(6, 6, window="local"), ValueError, "window must be one of"),
    ("luong max_src_len 0", lambda: L.LuongAttention(6, 6, score="location", max_src_len=-4), ValueError, "max_src_len must be at least 1"),
    ("luong query size", lambda: LATT(r(2, 5), r(2, 4, 6)), ValueError, "query must be (B, 6) or (B, T, 6)"),
    ("luong enc batch", lambda: LATT(r(2, 6), r(3, 4, 6)), ValueError, "enc_out must be (B, S, 6) with B = 2"),
    ("luong int mask", lambda: LATT(r(2, 6), r(2, 4, 6), torch.ones(2, 4, dtype=long)), TypeError, "src_mask must be a bool tensor"),
    ("luong dtype", lambda: LATT(r(2, 6), r(2, 4, 6, dtype=f64)), TypeError, "enc_out has dtype torch.float64"),
    ("luong float step", lambda: L.LuongAttention(6, 6, window="local-m")(r(2, 6), r(2, 4, 6), step=torch.zeros(2)), TypeError, "step must hold integer"),
    ("luong list query", lambda: LATT([1.0], r(2, 4, 6)), TypeError, "query must be a torch.Tensor"),
    ("window_mask w", lambda: LA.window_mask(torch.zeros(2), 5, -1), ValueError, "w must be a finite number in [0, inf)"),
    ("window_mask list", lambda: LA.window_mask([1.0], 5, 1), TypeError, "position must be a torch.Tensor"),
    ("window_mask S", lambda: LA.window_mask(torch.zeros(2), -5, 1), ValueError, "S must be at least 0"),
    ("gaussian sigma 0", lambda: LA.gaussian_factor(torch.zeros(2), 5, 0.0), ValueError, "sigma must be a finite number in (0, inf)"),
    ("local_weights position", lambda: LA.local_weights(r(2, 3, 5), torch.zeros(3, 3), 1), ValueError, "position must have shape (2, 3)"),
    ("local_weights mask shape", lambda: LA.local_weights(r(2, 3, 5), torch.zeros(2, 3), 1, torch.ones(3, 5, dtype=torch.bool)), ValueError, "src_mask must be (B, S) = (2, 5)"),
    ("local_weights int mask", lambda: LA.local_weights(r(2, 3, 5), torch.zeros(2, 3), 1, torch.ones(2, 5, dtype=long)), TypeError, "src_mask must be a bool tensor"),
    ("local_weights long scores", lambda: LA.local_weights(torch.ones(2, 3, 5, dtype=long), torch.zeros(2, 3), 1), TypeError, "scores must be a floating-point"),
    ("local_weights gaussian w 0", lambda: LA.local_weights(r(2, 3, 5), torch.zeros(2, 3), 0), ValueError, "needs w > 0"),
    ("luong local-p w 0", lambda: L.LuongAttention(6, 6, window="local-p", w=0), ValueError, "Gaussian window needs w > 0"),
    ("local_weights NaN", lambda: LA.local_weights(with_nan(r(2, 3, 5), (0, 0, 0)), torch.zeros(2, 3), 1), ValueError, "NaN or +inf"),
    ("predict_position batch", lambda: LA.predict_position(r(2, 6), r(6, 3), r(3), torch.tensor([4, 4, 4])), ValueError, "src_lengths has shape (3,) but the batch has size 2"),
    ("predict_position W_p", lambda: LA.predict_position(r(2, 6), r(5, 3), r(3), torch.tensor([4, 4])), ValueError, "do not fit"),
    ("predict_position float lengths", lambda: LA.predict_position(r(2, 6), r(6, 3), r(3), torch.tensor([4.0, 4.0])), TypeError, "src_lengths must hold integers"),
    ("predict_position dtype", lambda: LA.predict_position(r(2, 6), r(6, 3, dtype=f64), r(3), torch.tensor([4, 4])), TypeError, "W_p has dtype torch.float64"),
    ("windowed w negative", lambda: LA.windowed_dot_attention(r(2, 4), r(2, 5, 4), torch.tensor([1, 2]), -1), ValueError, "w must be at least 0"),
    ("windowed center batch", lambda: LA.windowed_dot_attention(r(2, 4), r(2, 5, 4), torch.tensor([1, 2, 3]), 1), ValueError, "must share B and d"),
    ("windowed S = 0", lambda: LA.windowed_dot_attention(r(2, 4), r(2, 0, 4), torch.tensor([1, 2]), 1), ValueError, "S = 0"),
    ("window_mask NaN position", lambda: LA.window_mask(torch.tensor([NAN, 1.0]), 5, 1), ValueError, "position contains NaN (shape (2,))"),
    ("window_mask inf position", lambda: LA.window_mask(torch.tensor([INF]), 5, 1), ValueError, "position contains inf"),
    ("gaussian NaN position", lambda: LA.gaussian_factor(torch.tensor([NAN]), 5, 1.0), ValueError, "a window centre p_t must be a finite position"),
    ("local_weights NaN position", lambda: LA.local_weights(r(2, 3, 5), with_nan(torch.zeros(2, 3)), 1), ValueError, "position contains NaN"),
    ("local_weights NaN position no gaussian", lambda: LA.local_weights(r(2, 3, 5), with_nan(torch.zeros(2, 3)), 1, gaussian=False), ValueError, "position contains NaN"),
    ("windowed NaN center", lambda: LA.windowed_dot_attention(r(2, 4), r(2, 5, 4), torch.tensor([NAN, 1.0]), 1), ValueError, "center contains NaN"),
    ("luong local-p NaN state", lambda: LATT(with_nan(r(2, 6)), r(2, 4, 6)), ValueError, "position contains NaN"),
    ("luong decoder tgt id", lambda: LUONG(SRC, LEN, torch.full((2, 3), 40)), ValueError, "tgt_in holds ids from 40"),
    ("luong decoder step token", lambda: LUONG.decoder.step(torch.tensor([-1, 1]), None, None, None), ValueError, "prev_token holds ids from -1"),
    # ---------------------------------------------------------------- training
    ("fit steps 0", lambda: fit_with(steps=0), ValueError, "steps must be at least 1"),
    ("fit steps float", lambda: fit_with(steps=2.0), TypeError, "steps must be an int"),
    ("fit eval_every 0", lambda: fit_with(eval_fn=lambda m: {}, eval_every=0), ValueError, "eval_every must be at least 1"),
    ("fit device gpu", lambda: fit_with(device="gpu"), ValueError, "device='gpu' is not a device name; this machine has ['cpu'"),
    pytest.param("fit device cuda", lambda: fit_with(device="cuda"), ValueError, "is not available on this machine, which has ['cpu'",
                 marks=pytest.mark.skipif(not CPU_ONLY, reason="this machine has CUDA")),
    ("fit device int", lambda: fit_with(device=3.5), TypeError, "device must be a str or torch.device"),
    ("fit target no eval", lambda: fit_with(target=("acc", 0.9)), ValueError, "a target needs an eval_fn"),
    ("fit target shape", lambda: fit_with(eval_fn=lambda m: {}, target="acc"), ValueError, "target must be a (metric name, value) pair"),
    ("fit clip 0", lambda: fit_with(clip_grad_norm=0.0), ValueError, "clip_grad_norm must be a finite number in (0, inf)"),
    ("fit empty batches", lambda: fit_with(batches=[]), ValueError, "batches is empty"),
    ("fit batches int", lambda: fit_with(batches=5), TypeError, "batches must be an iterable"),
    ("fit NaN loss step 1", lambda: fit_with(step_fn=nan_after(1)), FloatingPointError, "the loss became nan at step 1"),
    ("fit NaN loss step 3", lambda: fit_with(step_fn=nan_after(3)), FloatingPointError, "at step 3 (the last finite loss was"),
    ("fit inf loss", lambda: fit_with(step_fn=lambda m, b: (m(b).pow(2).mean() + float("inf"), {})), FloatingPointError, "the loss became inf"),
    ("fit loss not tensor", lambda: fit_with(step_fn=lambda m, b: (1.0, {})), TypeError, "the loss step_fn returned must be a torch.Tensor"),
    ("fit loss not scalar", lambda: fit_with(step_fn=lambda m, b: (m(b), {})), ValueError, "step_fn must return a scalar loss"),
    ("to_device gpu", lambda: TR.to_device(torch.ones(2), "gpu"), ValueError, "not a device name"),
    ("sequence_loss all pad", lambda: ST.sequence_loss(r(2, 3, 5), torch.zeros(2, 3, dtype=long)), ValueError, "targets hold no real token"),
    ("sequence_loss id", lambda: ST.sequence_loss(r(2, 3, 5), torch.full((2, 3), 5)), ValueError, "targets holds ids from 5 to 5, but the vocabulary has 5 tokens"),
    ("sequence_loss float targets", lambda: ST.sequence_loss(r(2, 3, 5), torch.ones(2, 3)), TypeError, "targets must hold integer token ids"),
    ("sequence_loss long logits", lambda: ST.sequence_loss(torch.ones(2, 3, 5, dtype=long), torch.ones(2, 3, dtype=long)), TypeError, "logits must be a floating-point"),
    ("sequence_loss shapes", lambda: ST.sequence_loss(r(2, 3, 5), torch.ones(2, 4, dtype=long)), ValueError, "logits must be (B, T, V) and targets (B, T)"),
    ("sequence_loss list", lambda: ST.sequence_loss([1.0], torch.ones(2, 4, dtype=long)), TypeError, "logits must be a torch.Tensor"),
    ("sequence_loss +inf logit", lambda: ST.sequence_loss(torch.tensor([[[0.0, INF, 1.0]]]), torch.tensor([[2]])), ValueError, "logits hold +inf at 1 of the 1 real target positions"),
    ("sequence_loss NaN logit", lambda: ST.sequence_loss(with_nan(r(2, 3, 5), (1, 2, 0)), torch.ones(2, 3, dtype=long)), ValueError, "logits hold NaN at 1 of the 6 real"),
    ("sequence_loss row of -inf", lambda: ST.sequence_loss(torch.full((1, 2, 3), -INF), torch.tensor([[1, 2]])), ValueError, "only -inf at 2"),
    ("reinforce NaN reward", lambda: G.reinforce_loss(-torch.rand(2, 3), with_nan(r(2, 3))), ValueError, "reward contains NaN"),
    ("reinforce inf baseline", lambda: G.reinforce_loss(-torch.rand(2, 3), r(2, 3), INF), ValueError, "baseline contains inf"),
    ("reinforce list", lambda: G.reinforce_loss([0.0], r(1)), TypeError, "log_prob must be a torch.Tensor"),
    ("position_error_rates", lambda: ST.position_error_rates(torch.ones(2, 3), torch.ones(2, 4)), ValueError, "predictions and targets must both be (B, T)"),
    ("position_error_rates list", lambda: ST.position_error_rates([1], torch.ones(2, 4)), TypeError, "predictions must be a torch.Tensor"),
    ("evaluate empty", lambda: ST.evaluate_seq2seq(MODEL, [], VOCAB, VOCAB), ValueError, "pairs is empty"),
    ("evaluate batch_size 0", lambda: ST.evaluate_seq2seq(MODEL, PAIRS, VOCAB, VOCAB, batch_size=0), ValueError, "batch_size must be at least 1"),
    ("evaluate device", lambda: ST.evaluate_seq2seq(MODEL, PAIRS, VOCAB, VOCAB, device="gpu"), ValueError, "not a device name"),
    # ---------------------------------------------------------------- data
    ("iterate_batches -2", lambda: iterate_batches(PAIRS, VOCAB, VOCAB, batch_size=-2), ValueError, "batch_size must be at least 1, got -2"),
    ("iterate_batches 0", lambda: iterate_batches(PAIRS, VOCAB, VOCAB, batch_size=0), ValueError, "batch_size must be at least 1, got 0"),
    ("iterate_batches float", lambda: iterate_batches(PAIRS, VOCAB, VOCAB, batch_size=2.0), TypeError, "batch_size must be an int"),
    ("iterate_batches empty", lambda: iterate_batches([], VOCAB, VOCAB, batch_size=2), ValueError, "pairs is empty"),
    ("bucket batches 0", lambda: BucketBatches(PAIRS, VOCAB, VOCAB, 0), ValueError, "batch_size must be at least 1"),
    ("bucket batches empty", lambda: BucketBatches([], VOCAB, VOCAB, 2), ValueError, "pairs is empty"),
    ("collate empty", lambda: collate([], VOCAB, VOCAB), ValueError, "pairs is empty"),
    ("collate empty source", lambda: collate([([], ["a"])], VOCAB, VOCAB), ValueError, "at least one token"),
    ("make_sequence_task n -5", lambda: make_sequence_task("copy", n=-5, min_len=2, max_len=4), ValueError, "n must be at least 0, got -5"),
    ("make_sequence_task n float", lambda: make_sequence_task("copy", n=5.0, min_len=2, max_len=4), TypeError, "n must be an int"),
    ("make_sequence_task kind", lambda: make_sequence_task("shuffle", 5, 2, 4), ValueError, "kind must be one of"),
    ("make_sequence_task min_len", lambda: make_sequence_task("copy", 5, 0, 4), ValueError, "min_len"),
    ("make_sequence_task min > max", lambda: make_sequence_task("copy", 5, 5, 4), ValueError, "min_len <= max_len"),
    ("make_sequence_task symbols", lambda: make_sequence_task("copy", 5, 2, 4, n_symbols=30), ValueError, "n_symbols"),
    ("make_sequence_task lengths", lambda: make_sequence_task("copy", 5, 2, 4, lengths="normal"), ValueError, "lengths must be"),
    ("make_sentiment_task n", lambda: make_sentiment_task(-1), ValueError, "n must be at least 0"),
    ("make_sentiment_task min_len", lambda: make_sentiment_task(5, min_len=4), ValueError, "min_len"),
    ("make_sentiment_task negation", lambda: make_sentiment_task(5, negation_prob=2.0), ValueError, "negation_prob"),
    ("iterate_text_batches 0", lambda: iterate_text_batches(make_sentiment_task(4)[0], VOCAB, 0), ValueError, "batch_size must be at least 1"),
    ("iterate_text_batches empty", lambda: iterate_text_batches([], VOCAB, 2), ValueError, "examples is empty"),
    ("collate_text empty", lambda: collate_text([], VOCAB), ValueError, "examples is empty"),
    ("make_date_task n", lambda: make_date_task(-3), ValueError, "n must be at least 0"),
    ("make_date_task n float", lambda: make_date_task(3.5), TypeError, "n must be an int"),
    ("make_date_task formats", lambda: make_date_task(3, formats=()), ValueError, "formats is empty"),
    ("canvas_batches 0", lambda: canvas_batches(make_digit_canvases(2), 0), ValueError, "batch_size must be at least 1, got 0"),
    ("canvas_batches -3", lambda: canvas_batches(make_digit_canvases(2), -3), ValueError, "batch_size must be at least 1, got -3"),
    ("canvas_batches float", lambda: canvas_batches(make_digit_canvases(2), 2.0), TypeError, "batch_size must be an int"),
    ("canvas_batches no data", lambda: canvas_batches(make_digit_canvases(0), 4), ValueError, "data holds no canvas"),
    # ---------------------------------------------------------------- device
    ("pick_device gpu", lambda: pick_device("gpu", verbose=False), ValueError, "prefer must be one of"),
    pytest.param("pick_device cuda", lambda: pick_device("cuda", verbose=False), ValueError, "no cuda device (it has ['cpu'",
                 marks=pytest.mark.skipif(not CPU_ONLY, reason="this machine has CUDA")),
    ("pick_device int", lambda: pick_device(0, verbose=False), TypeError, "prefer must be a str"),
    ("resolve_device gpu", lambda: resolve_device("gpu"), ValueError, "this machine has ['cpu'"),
    ("resolve_device cuda:7", lambda: resolve_device("cuda:7"), ValueError, "is not available on this machine"),
    ("resolve_device list", lambda: resolve_device(["cpu"]), TypeError, "device must be a str or torch.device"),
    # ---------------------------------------------------------------- the models' shared checks (utils.validate)
    ("source batch too long", lambda: VA.require_source_batch(torch.ones(1, 5, dtype=long), torch.tensor([5]), 10, max_positions=4), ValueError, "src has 5 positions but the encoder's max_len is 4"),
    ("source batch lengths batch", lambda: VA.require_source_batch(SRC, torch.tensor([3]), 10, min_length=0), ValueError, "src_lengths has shape (1,) but src has batch size 2"),
    ("source batch lengths 0", lambda: VA.require_source_batch(SRC, torch.tensor([3, 0]), 10), ValueError, "src_lengths must lie in [1, 3]"),
    ("src_mask shape", lambda: VA.require_src_mask(torch.ones(2, 4, dtype=torch.bool), 2, 3), ValueError, "src_mask must be (B, S) = (2, 3), got shape (2, 4)"),
    ("src_mask float", lambda: VA.require_src_mask(torch.ones(2, 3), 2, 3), TypeError, "src_mask must be a bool tensor (True = a real token)"),
    ("query 4-D", lambda: VA.require_query_and_annotations(r(2, 1, 1, 5), r(2, 3, 10)), ValueError, "query must be (B, H) or (B, T, H)"),
    ("annotations size", lambda: VA.require_query_and_annotations(r(2, 5), r(2, 3, 9), 5, 10), ValueError, "enc_out must be (B, S, 10) with B = 2, got shape (2, 3, 9)"),
    ("sequence 2-D", lambda: VA.require_sequence("x", r(3, 8), 8), ValueError, "x must be (B, T, 8), got shape (3, 8)"),
    ("choice", lambda: VA.require_choice("cell", "lstm2", ["gru", "lstm"]), ValueError, "cell must be one of ['gru', 'lstm'], got 'lstm2'"),
]


def _unpack(case):
    if hasattr(case, "values"):  # pytest.param
        return case.values, case.marks
    return case, ()


def _ids():
    return [_unpack(c)[0][0] for c in BAD]


@pytest.mark.parametrize("name, call, exc, fragment", BAD, ids=_ids())
def test_bad_input_raises_named_error(name, call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value), f"{name}: {info.value}"


# ---------------------------------------------------------------------------------------------
# Legal edge cases: a sensible result, no error, nothing non-finite
# ---------------------------------------------------------------------------------------------
def _finite(*ts):
    return all(t is None or bool(torch.isfinite(t).all()) for t in ts)


def _mha_fully_masked_backward(need_weights):
    torch.manual_seed(0)
    mha = T.MultiHeadAttention(8, 2)
    x = r(2, 3, 8, dtype=f32).requires_grad_()
    keep = torch.tensor([[True, True, True], [False, False, False]])
    out, _ = mha(x, key_padding_mask=keep, attn_mask=torch.randn(3, 3), need_weights=need_weights)
    out.sum().backward()
    grads = [p.grad for p in mha.parameters()] + [x.grad]
    return _finite(out, *grads) and torch.allclose(out[1], mha.out_proj.bias.expand(3, 8))


def _masked_value_not_read(fn, value=V):
    """``fn(value)`` gives the same (finite) output whether key 4's value is 0, NaN or inf."""
    outputs = [fn(value.index_fill(1, torch.tensor([4]), x)) for x in (0.0, NAN, INF)]
    return all(torch.equal(o, outputs[0]) for o in outputs[1:]) and _finite(outputs[0])


KEEP4 = torch.tensor([True, True, True, True, False])  # key 4 masked for every query
K8 = r(2, 5, 8)
W4 = A.masked_softmax(r(2, 3, 5), KEEP4)  # weights with key 4 masked


EDGE = [
    ("sdpa T_q = 0", lambda: A.scaled_dot_product_attention(r(2, 0, 4), K, V)[0].shape == (2, 0, 6)),
    ("sdpa T_k = 0", lambda: torch.equal(A.scaled_dot_product_attention(Q, r(2, 0, 4), r(2, 0, 6))[0], torch.zeros(2, 3, 6))),
    ("sdpa B = 0", lambda: A.scaled_dot_product_attention(r(0, 3, 4), r(0, 5, 4), r(0, 5, 6))[0].shape == (0, 3, 6)),
    ("sdpa float64", lambda: A.scaled_dot_product_attention(Q.double(), K.double(), V.double())[0].dtype == f64),
    ("sdpa float16", lambda: _finite(A.scaled_dot_product_attention(Q.half(), K.half(), V.half())[0])),
    ("sdpa bfloat16", lambda: _finite(A.scaled_dot_product_attention(Q.bfloat16(), K.bfloat16(), V.bfloat16())[0])),
    ("sdpa fully masked bool", lambda: torch.all(A.scaled_dot_product_attention(Q, K, V, attn_mask=torch.zeros(3, 5, dtype=torch.bool))[1] == 0)),
    ("sdpa fully masked float", lambda: torch.all(A.scaled_dot_product_attention(Q, K, V, attn_mask=torch.full((3, 5), float("-inf")))[0] == 0)),
    ("masked_softmax all -inf no mask", lambda: torch.equal(A.masked_softmax(torch.full((2, 3), float("-inf"))), torch.zeros(2, 3))),
    ("masked_softmax NaN at masked position", lambda: _finite(A.masked_softmax(with_nan(r(2, 3), (0, 0)), torch.tensor([[False, True, True]] * 2)))),
    ("masked_softmax empty dim", lambda: A.masked_softmax(r(2, 0)).shape == (2, 0)),
    ("masked_softmax float16", lambda: A.masked_softmax(r(2, 3).half()).dtype == torch.float16),
    ("dot_score float64", lambda: A.dot_score(Q.double(), K.double()).dtype == f64),
    ("attention_pool zero keys", lambda: torch.equal(A.attention_pool(r(2, 3, 0), r(2, 0, 4)), torch.zeros(2, 3, 4))),
    ("attention_pool NaN value at zero weight", lambda: _masked_value_not_read(lambda v: A.attention_pool(W4, v))),
    ("attention_pool fully masked NaN value", lambda: torch.equal(A.attention_pool(torch.zeros(2, 3, 5), with_nan(V)), torch.zeros(2, 3, 6))),
    ("attend NaN value at masked key", lambda: _masked_value_not_read(lambda v: A.attend(W4, v, KEEP4)[0])),
    ("sdpa NaN value at masked key", lambda: _masked_value_not_read(lambda v: A.scaled_dot_product_attention(Q, K, v, attn_mask=KEEP4)[0])),
    ("sdpa NaN value at -inf key", lambda: _masked_value_not_read(lambda v: A.scaled_dot_product_attention(Q, K, v, attn_mask=torch.zeros(5).masked_fill(~KEEP4, -INF))[0])),
    ("sdpa NaN value in the future", lambda: _masked_value_not_read(lambda v: A.scaled_dot_product_attention(Q, K, v, is_causal=True)[0])),
    ("MHA NaN value at padded key", lambda: _masked_value_not_read(lambda v: MHA(X8, K8, v, key_padding_mask=KEEP4.expand(2, 5))[0].detach(), K8)),
    ("luong NaN annotation at padding", lambda: _finite(LATT(r(2, 6), with_nan(r(2, 4, 6), (0, 3)), torch.tensor([[True] * 3 + [False]] * 2)).context)),
    ("sdpa value with 0 features", lambda: A.scaled_dot_product_attention(Q, K, r(2, 5, 0))[0].shape == (2, 3, 0)),
    ("MHA T_q = 0", lambda: MHA(r(2, 0, 8), X8, X8)[0].shape == (2, 0, 8)),
    ("MHA T_k = 0 readable", lambda: torch.allclose(MHA(X8, r(2, 0, 8), r(2, 0, 8))[0], MHA.out_proj.bias.expand(2, 3, 8))),
    ("MHA T_k = 0 fast", lambda: torch.allclose(MHA(X8, r(2, 0, 8), r(2, 0, 8), need_weights=False)[0], MHA.out_proj.bias.expand(2, 3, 8))),
    ("MHA B = 0 fast", lambda: MHA(r(0, 3, 8), need_weights=False)[0].shape == (0, 3, 8)),
    ("MHA B = 0 readable", lambda: MHA(r(0, 3, 8))[0].shape == (0, 3, 8)),
    ("MHA float16 fully masked", lambda: all(_finite(T.MultiHeadAttention(8, 2).half()(X8.half(), key_padding_mask=M.length_mask(torch.tensor([3, 0]), 3), need_weights=nw)[0]) for nw in (True, False))),
    ("MHA bfloat16 fully masked", lambda: all(_finite(T.MultiHeadAttention(8, 2).bfloat16()(X8.bfloat16(), key_padding_mask=M.length_mask(torch.tensor([3, 0]), 3), need_weights=nw)[0]) for nw in (True, False))),
    ("MHA float64", lambda: T.MultiHeadAttention(8, 2).double()(X8.double())[0].dtype == f64),
    ("MHA fully masked backward readable", lambda: _mha_fully_masked_backward(True)),
    ("MHA fully masked backward fast", lambda: _mha_fully_masked_backward(False)),
    ("MHA float -inf kpm fast", lambda: _finite(MHA(X8, key_padding_mask=torch.tensor([[0.0, 0, 0], [float("-inf")] * 3]), need_weights=False)[0])),
    ("length_mask zero length", lambda: torch.equal(M.length_mask(torch.tensor([0, 2])), torch.tensor([[False, False], [True, True]]))),
    ("length_mask empty, longest length", lambda: M.length_mask(torch.zeros(0, dtype=long)).shape == (0, 0)),
    ("length_mask empty batch", lambda: M.length_mask(torch.zeros(0, dtype=long), 4).shape == (0, 4)),
    ("causal_mask 0", lambda: M.causal_mask(0).shape == (0, 0)),
    ("source batch S = 0 without min_length", lambda: VA.require_source_batch(torch.zeros(2, 0, dtype=long), torch.zeros(2, dtype=long), 10, min_length=0) == (2, 0)),
    ("source batch B = 0", lambda: VA.require_source_batch(torch.zeros(0, 3, dtype=long), torch.zeros(0, dtype=long), 10) == (0, 3)),
    ("src_mask None", lambda: VA.require_src_mask(None, 2, 3) is None),
    ("sinusoid float64", lambda: P.sinusoidal_positional_encoding(4, 7, dtype=f64).dtype == f64),
    ("sinusoid module float64", lambda: SPE(r(1, 3, 8, dtype=f64)).dtype == f64),
    ("sinusoid float16", lambda: SPE(r(1, 3, 8).half()).dtype == torch.float16 and _finite(SPE(r(1, 3, 8).half()))),
    ("learned float16 module", lambda: P.LearnedPositionalEncoding(8, 4).half()(r(1, 3, 8).half()).dtype == torch.float16),
    ("encoder B = 0", lambda: ENC(torch.zeros(0, 3, dtype=long), torch.zeros(0, dtype=long))[0].shape == (0, 3, 5)),
    ("luong local-m w = 0", lambda: _finite(L.LuongAttention(6, 6, window="local-m", w=0)(r(2, 6), r(2, 4, 6), step=torch.zeros(2, dtype=long)).context)),
    ("local window outside source", lambda: torch.all(LA.local_weights(r(1, 1, 4), torch.tensor([[20.0]]), 1) == 0)),
    ("alignment accuracy", lambda: 0.0 <= BA.alignment_accuracy(r(2, 3, 4), SPANS, {"year": (0, 2)}) <= 1.0),
    ("make_sequence_task n = 0", lambda: make_sequence_task("copy", 0, 2, 4)[0] == []),
    ("make_date_task n = 0", lambda: make_date_task(0).pairs == []),
    ("sequence_loss some pad", lambda: math.isfinite(float(ST.sequence_loss(r(2, 3, 5), torch.tensor([[1, 0, 0], [0, 0, 0]]))))),
    ("sequence_loss +inf at padding", lambda: math.isfinite(float(ST.sequence_loss(torch.tensor([[[0.0, 1.0, 2.0], [INF, NAN, 0.0]]]), torch.tensor([[1, 0]]))))),
    ("sequence_loss -inf at another token", lambda: math.isfinite(float(ST.sequence_loss(torch.tensor([[[0.0, 1.0, -INF]]]), torch.tensor([[1]]))))),
    ("canvas_batches 1", lambda: canvas_batches(make_digit_canvases(2), 1)(1).images.shape[0] == 1),
    ("fit finite loss", lambda: len(fit_with().loss) == 3),
    ("fit torch.device", lambda: len(fit_with(device=torch.device("cpu")).loss) == 3),
    ("available devices", lambda: available_devices()[0] == "cpu"),
]


@pytest.mark.parametrize("name, call", EDGE, ids=[e[0] for e in EDGE])
def test_legal_edge_case_gives_a_sensible_result(name, call):
    assert call() is True or bool(call())


def test_counts():
    """Classify every call of both tables; none may be obscure or silent."""
    named = sensible = 0
    obscure, silent = [], []
    for case in BAD:
        (name, call, exc, fragment), marks = _unpack(case)
        if any(m.name == "skipif" and m.args[0] for m in marks):
            continue
        try:
            call()
        except exc as e:
            if fragment in str(e):
                named += 1
            else:
                obscure.append(f"{name}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - counting what the wrong errors are
            obscure.append(f"{name}: {type(e).__name__}: {e}")
            continue
        silent.append(name)
    for name, call in EDGE:
        try:
            ok = bool(call())
        except Exception as e:  # noqa: BLE001 - any exception is an answer here: it is recorded, not raised
            obscure.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if ok:
            sensible += 1
        else:
            silent.append(name)
    print(f"\nnamed {named} / sensible {sensible} / obscure {len(obscure)} / silent {len(silent)}")
    assert not obscure, obscure
    assert not silent, silent
    assert named >= 150
