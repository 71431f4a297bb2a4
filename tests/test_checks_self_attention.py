"""The chapter-6 checkers pass right answers and catch wrong ones, with a useful message."""

import math

import torch

from grading import references as R
from tests.conftest import ours
from utils.checks.self_attention import check_causal_attention, check_sinusoidal_encoding, check_split_merge_heads

reference_causal_attention, merge_heads, split_heads = ours(R.causal_attention), ours(R.merge_heads), ours(R.split_heads)
sinusoidal_positional_encoding = ours(R.REFERENCES["sinusoidal_encoding"])


def _verdict(result, status, *fragments):
    assert result.status == status, result.message
    assert bool(result) == (status == "passed")
    for fragment in fragments:
        assert fragment in result.message, result.message


# ----------------------------------------------------------------------------------------------
# causal attention
# ----------------------------------------------------------------------------------------------
def _causal_by_hand(query, key, value):
    """An independent correct answer: explicit -inf mask and torch.softmax."""
    T = query.shape[-2]
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return weights @ value, weights


def test_causal_attention_passes_reference_and_alternative(capsys):
    _verdict(check_causal_attention(reference_causal_attention), "passed", "✅", "6 cases")
    assert "✅ causal_attention" in capsys.readouterr().out
    _verdict(check_causal_attention(_causal_by_hand, verbose=False), "passed")
    assert capsys.readouterr().out == ""


def test_causal_attention_not_implemented():
    def stub(query, key, value):
        raise NotImplementedError()

    _verdict(check_causal_attention(stub, verbose=False), "not-implemented", "⏳", "not implemented yet")


def test_causal_attention_catches_common_mistakes_with_hints():
    def no_mask(q, k, v):
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
        return w @ v, w

    def flipped(q, k, v):
        T = q.shape[-2]
        past = torch.ones(T, T, dtype=torch.bool).tril(-1)
        s = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(past, float("-inf"))
        w = torch.softmax(s, -1)
        return w @ v, w

    def strict(q, k, v):
        T = q.shape[-2]
        present_and_future = torch.ones(T, T, dtype=torch.bool).triu()
        s = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(present_and_future, float("-inf"))
        w = torch.nan_to_num(torch.softmax(s, -1))
        return w @ v, w

    def unscaled(q, k, v):
        T = q.shape[-2]
        s = (q @ k.transpose(-2, -1)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        w = torch.softmax(s, -1)
        return w @ v, w

    _verdict(check_causal_attention(no_mask, verbose=False), "failed", "❌", "hint: no mask at all")
    _verdict(check_causal_attention(flipped, verbose=False), "failed", "wrong way round")
    _verdict(check_causal_attention(strict, verbose=False), "failed", "tril(-1)")
    _verdict(check_causal_attention(unscaled, verbose=False), "failed", "√d_k")


def test_causal_attention_catches_shape_nan_mutation_raising_and_no_weights():
    def only_output(q, k, v):
        return reference_causal_attention(q, k, v)[0]

    def wrong_shape(q, k, v):
        out, w = reference_causal_attention(q, k, v)
        return out, w.mean(-2)

    def nan(q, k, v):
        out, w = reference_causal_attention(q, k, v)
        return out * float("nan"), w

    def mutates(q, k, v):
        q.mul_(2.0)
        return reference_causal_attention(q / 2.0, k, v)

    def raises(q, k, v):
        return q @ v  # shapes do not fit when d_k != T

    def exp_overflow(q, k, v):
        T = q.shape[-2]
        s = torch.exp(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])) * torch.ones(T, T).tril()
        w = s / s.sum(-1, keepdim=True)
        return w @ v, w

    _verdict(check_causal_attention(only_output, verbose=False), "failed", "returned")
    _verdict(check_causal_attention(wrong_shape, verbose=False), "failed", "shape")
    _verdict(check_causal_attention(nan, verbose=False), "failed", "NaN")
    _verdict(check_causal_attention(mutates, verbose=False), "failed", "in place")
    _verdict(check_causal_attention(raises, verbose=False), "failed", "raised RuntimeError")
    _verdict(check_causal_attention(exp_overflow, verbose=False), "failed", "large scores")
    _verdict(check_causal_attention("not a function", verbose=False), "failed", "expected a function")


# ----------------------------------------------------------------------------------------------
# split and merge heads
# ----------------------------------------------------------------------------------------------
def test_split_merge_passes_reference_and_alternative(capsys):
    _verdict(check_split_merge_heads(split_heads, merge_heads), "passed", "✅ split_heads / merge_heads", "8 cases")
    assert "passed" in capsys.readouterr().out

    def split_alt(x, num_heads):  # einops-style: unflatten then permute
        return x.unflatten(-1, (num_heads, -1)).permute(0, 2, 1, 3)

    def merge_alt(x):
        return torch.cat(x.unbind(1), dim=-1)

    _verdict(check_split_merge_heads(split_alt, merge_alt, verbose=False), "passed")


def test_split_merge_not_implemented_in_either():
    def stub(*args):
        raise NotImplementedError()

    _verdict(check_split_merge_heads(stub, merge_heads, verbose=False), "not-implemented", "⏳ split_heads")
    _verdict(check_split_merge_heads(split_heads, stub, verbose=False), "not-implemented", "⏳ merge_heads")


def test_split_merge_catches_common_mistakes():
    def split_positions(x, num_heads):
        B, T, E = x.shape
        return x.reshape(B, num_heads, T, E // num_heads)

    def merge_no_transpose(x):
        B, H, T, d = x.shape
        return x.reshape(B, T, H * d)

    def merge_view(x):
        B, H, T, d = x.shape
        return x.transpose(1, 2).view(B, T, H * d)

    def split_wrong_shape(x, num_heads):
        B, T, E = x.shape
        return x.view(B, T, num_heads, E // num_heads)

    def split_mutates(x, num_heads):
        x.zero_()
        return split_heads(x, num_heads)

    def split_nan(x, num_heads):
        return split_heads(x, num_heads) * float("nan")

    def merge_raises(x):
        raise ValueError("oops")

    _verdict(check_split_merge_heads(split_positions, merge_heads, verbose=False), "failed",
             "split_heads", "hint: heads split the features")
    _verdict(check_split_merge_heads(split_heads, merge_no_transpose, verbose=False), "failed",
             "merge_heads", "hint: transpose back")
    _verdict(check_split_merge_heads(split_heads, merge_view, verbose=False), "failed", "view size", ".reshape")
    _verdict(check_split_merge_heads(split_wrong_shape, merge_heads, verbose=False), "failed", "shape")
    _verdict(check_split_merge_heads(split_mutates, merge_heads, verbose=False), "failed", "in place")
    _verdict(check_split_merge_heads(split_nan, merge_heads, verbose=False), "failed", "NaN")
    _verdict(check_split_merge_heads(split_heads, merge_raises, verbose=False), "failed", "raised ValueError: oops")

    def split_d_by_h(x, num_heads):   # the (d, H) cut: every head gets every H-th feature
        B, T, E = x.shape
        return x.view(B, T, E // num_heads, num_heads).permute(0, 3, 1, 2)

    _verdict(check_split_merge_heads(split_d_by_h, merge_heads, verbose=False), "failed",
             "split_heads", "not (B, T, d_k, h)")


def test_split_merge_round_trip_is_checked():
    # Both pass their own cases only if they equal the references, so the round trip follows;
    # a merge that passes its cases but misbehaves elsewhere is caught by the round trip.
    calls = {"n": 0}

    def merge_flaky(x):
        calls["n"] += 1
        out = merge_heads(x)
        return out if calls["n"] <= 3 else out + 1  # right on its 3 cases, wrong afterwards

    _verdict(check_split_merge_heads(split_heads, merge_flaky, verbose=False), "failed", "round trip")


# ----------------------------------------------------------------------------------------------
# sinusoidal positional encoding
# ----------------------------------------------------------------------------------------------
def test_sinusoidal_passes_reference_and_alternative(capsys):
    _verdict(check_sinusoidal_encoding(sinusoidal_positional_encoding), "passed", "✅", "4 cases")
    assert "sinusoidal_encoding" in capsys.readouterr().out

    def loops(max_len, d_model):  # plain Python, float64, a list of lists turned into a tensor
        rows = []
        for pos in range(max_len):
            row = []
            for i in range(0, d_model, 2):
                row += [math.sin(pos / 10000 ** (i / d_model)), math.cos(pos / 10000 ** (i / d_model))]
            rows.append(row)
        return torch.tensor(rows, dtype=torch.float64)

    _verdict(check_sinusoidal_encoding(loops, verbose=False), "passed")


def test_sinusoidal_catches_common_mistakes_with_hints():
    def swapped(max_len, d_model):
        pe = sinusoidal_positional_encoding(max_len, d_model)
        out = pe.clone()
        out[:, 0::2], out[:, 1::2] = pe[:, 1::2], pe[:, 0::2]
        return out

    def halves(max_len, d_model):
        pe = sinusoidal_positional_encoding(max_len, d_model)
        return torch.cat((pe[:, 0::2], pe[:, 1::2]), dim=1)

    def exponent_i(max_len, d_model):
        pos = torch.arange(max_len).unsqueeze(1).float()
        i = torch.arange(d_model // 2).float()
        angle = pos / 10000 ** (i / d_model)
        return torch.stack((angle.sin(), angle.cos()), -1).flatten(1)

    def one_based(max_len, d_model):
        return sinusoidal_positional_encoding(max_len + 1, d_model)[1:]

    def not_implemented(max_len, d_model):
        raise NotImplementedError()

    def transposed(max_len, d_model):
        return sinusoidal_positional_encoding(max_len, d_model).T

    def nan(max_len, d_model):
        return sinusoidal_positional_encoding(max_len, d_model) / 0 * 0

    _verdict(check_sinusoidal_encoding(swapped, verbose=False), "failed", "hint: sine on even columns")
    _verdict(check_sinusoidal_encoding(halves, verbose=False), "failed", "interleave")
    _verdict(check_sinusoidal_encoding(exponent_i, verbose=False), "failed", "2i / d_model")
    _verdict(check_sinusoidal_encoding(one_based, verbose=False), "failed", "start at 0")
    _verdict(check_sinusoidal_encoding(not_implemented, verbose=False), "not-implemented")
    _verdict(check_sinusoidal_encoding(transposed, verbose=False), "failed", "shape")
    _verdict(check_sinusoidal_encoding(nan, verbose=False), "failed", "NaN")
    _verdict(check_sinusoidal_encoding(lambda m, d: 1 / 0, verbose=False), "failed", "ZeroDivisionError")
