"""utils.seq2seq: encoder, plain decoder, the Seq2Seq wrapper, greedy decoding."""

from typing import NamedTuple

import pytest
import torch
from torch import nn

from utils.masks import length_mask
from utils.seq2seq import Encoder, PlainDecoder, PlainState, Seq2Seq

V = 9  # vocabulary size used by the small models below


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_model(cell="gru", bidirectional=False, feed_context=True, seed=0, hidden=8):
    torch.manual_seed(seed)
    enc = Encoder(V, 5, hidden, cell=cell, bidirectional=bidirectional)
    dec = PlainDecoder(V, 4, 7, enc.output_size, cell=cell, feed_context=feed_context)
    return Seq2Seq(enc, dec)


def padded_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (3, 6), generator=g)
    lengths = torch.tensor([6, 4, 1])
    src = src.masked_fill(~length_mask(lengths, 6), 0)
    tgt_in = torch.cat([torch.ones(3, 1, dtype=torch.long), torch.randint(4, V, (3, 4), generator=g)], 1)
    return src, lengths, tgt_in


# ---------------------------------------------------------------------------- encoder
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_shapes_and_padding(cell, bidirectional):
    torch.manual_seed(0)
    enc = Encoder(V, 5, 8, cell=cell, bidirectional=bidirectional)
    src, lengths, _ = padded_batch()
    enc_out, final = enc(src, lengths)
    D = 16 if bidirectional else 8
    assert enc.output_size == D
    assert enc_out.shape == (3, 6, D)
    h = final[0] if cell == "lstm" else final
    assert h.shape == (3, D)
    if cell == "lstm":
        assert final[1].shape == (3, D)
    # padded positions are zeros
    assert torch.all(enc_out[~length_mask(lengths, 6)] == 0)
    # the forward half of the final state is the annotation at the last real token,
    # the backward half the annotation at the first token
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(h[b, :8], enc_out[b, n - 1, :8], atol=1e-6)
        if bidirectional:
            assert torch.allclose(h[b, 8:], enc_out[b, 0, 8:], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_ignores_padding(bidirectional):
    """A sequence encoded alone equals the same sequence encoded inside a padded batch."""
    torch.manual_seed(0)
    enc = Encoder(V, 5, 8, bidirectional=bidirectional, num_layers=2)
    src, lengths, _ = padded_batch()
    enc_out, final = enc(src, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone_out, alone_final = enc(src[b:b + 1, :n], lengths[b:b + 1])
        assert torch.allclose(alone_out[0], enc_out[b, :n], atol=1e-6)
        assert torch.allclose(alone_final[0], final[b], atol=1e-6)
    # garbage written into the padding changes nothing
    noisy = src.masked_fill(~length_mask(lengths, 6), 5)
    assert torch.allclose(enc(noisy, lengths)[0], enc_out, atol=1e-6)


def test_encoder_rejects_bad_inputs():
    enc = Encoder(V, 5, 8)
    src, lengths, _ = padded_batch()
    with pytest.raises(ValueError, match="src must be"):
        enc(src[0], lengths)
    with pytest.raises(ValueError, match="src_lengths has shape"):
        enc(src, lengths[:2])
    with pytest.raises(ValueError, match="src_lengths must lie"):
        enc(src, torch.tensor([7, 1, 1]))
    with pytest.raises(ValueError, match="cell"):
        Encoder(V, 5, 8, cell="transformer")


# ---------------------------------------------------------------------------- plain decoder
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("feed_context", [True, False])
def test_teacher_forced_fast_path_agrees_with_stepping(cell, feed_context):
    model = small_model(cell, bidirectional=True, feed_context=feed_context)
    src, lengths, tgt_in = padded_batch()
    fast, weights = model(src, lengths, tgt_in)
    assert fast.shape == (3, 5, V) and weights is None
    enc_out, src_mask, state = model.encode(src, lengths)
    assert isinstance(state, PlainState)
    slow = []
    for t in range(tgt_in.shape[1]):
        logits, state, w = model.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
        assert w is None and logits.shape == (3, V)
        slow.append(logits)
    assert torch.allclose(fast, torch.stack(slow, 1), atol=1e-5)


def test_plain_decoder_sees_only_the_final_state():
    """Changing the annotations but not the final state leaves the outputs unchanged."""
    model = small_model()
    src, lengths, tgt_in = padded_batch()
    enc_out, enc_final = model.encoder(src, lengths)
    mask = length_mask(lengths, 6)
    a = model.decoder.teacher_forced(tgt_in, model.decoder.init_state(enc_out, enc_final, mask), enc_out, mask)[0]
    b = model.decoder.teacher_forced(tgt_in, model.decoder.init_state(torch.randn_like(enc_out), enc_final, mask),
                                     torch.randn_like(enc_out), mask)[0]
    c = model.decoder.teacher_forced(tgt_in, model.decoder.init_state(enc_out, enc_final + 1, mask), enc_out, mask)[0]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_plain_decoder_checks_context_size():
    dec = PlainDecoder(V, 4, 7, context_size=8)
    with pytest.raises(ValueError, match="context_size=8"):
        dec.init_state(torch.zeros(2, 3, 16), torch.zeros(2, 16), torch.ones(2, 3, dtype=torch.bool))


# ---------------------------------------------------------------------------- Seq2Seq
def test_forward_without_teacher_forcing_feeds_back_its_own_argmax():
    model = small_model()
    src, lengths, tgt_in = padded_batch()
    logits, _ = model(src, lengths, tgt_in, teacher_forcing=0.0)
    enc_out, src_mask, state = model.encode(src, lengths)
    prev, manual = tgt_in[:, 0], []
    for _ in range(tgt_in.shape[1]):
        step_logits, state, _ = model.decoder.step(prev, state, enc_out, src_mask)
        manual.append(step_logits)
        prev = step_logits.argmax(-1)
    assert torch.allclose(logits, torch.stack(manual, 1), atol=1e-5)
    assert not torch.allclose(logits, model(src, lengths, tgt_in)[0])  # differs from forcing


def test_teacher_forcing_ratio_is_seeded():
    model = small_model()
    src, lengths, tgt_in = padded_batch()
    torch.manual_seed(3)
    a = model(src, lengths, tgt_in, teacher_forcing=0.5)[0]
    torch.manual_seed(3)
    b = model(src, lengths, tgt_in, teacher_forcing=0.5)[0]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="teacher_forcing"):
        model(src, lengths, tgt_in, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lengths, tgt_in[:2])


class ScriptedState(NamedTuple):
    t: int


class ScriptedDecoder(nn.Module):
    """Emits a fixed script of tokens per row, and uniform attention weights over real tokens."""

    def __init__(self, script):
        super().__init__()
        self.script = torch.tensor(script)  # (B, steps)
        self.dummy = nn.Parameter(torch.zeros(()))

    def init_state(self, enc_out, enc_final, src_mask):
        return ScriptedState(0)

    def step(self, prev_token, state, enc_out, src_mask):
        tokens = self.script[:, min(state.t, self.script.shape[1] - 1)].to(prev_token.device)
        logits = torch.full((len(tokens), V), -1.0, device=prev_token.device) + self.dummy
        logits[torch.arange(len(tokens)), tokens] = 1.0
        weights = src_mask.float() / src_mask.sum(1, keepdim=True)
        return logits, ScriptedState(state.t + 1), weights


def test_greedy_decode_stops_at_eos_and_pads_after_it():
    torch.manual_seed(0)
    script = [[5, 2, 6, 6, 6], [5, 6, 7, 2, 6], [2, 6, 6, 6, 6]]  # <eos>=2 at steps 1, 3, 0
    model = Seq2Seq(Encoder(V, 5, 8), ScriptedDecoder(script))
    src, lengths, _ = padded_batch()
    tokens, weights = model.greedy_decode(src, lengths, max_len=10)
    assert tokens.tolist() == [[5, 2, 0, 0], [5, 6, 7, 2], [2, 0, 0, 0]]  # stops after the last <eos>
    assert weights.shape == (3, 4, 6)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4))
    assert torch.all(weights[2, :, 1:] == 0)  # padding gets no weight
    # without <eos> it stops at max_len
    never = Seq2Seq(Encoder(V, 5, 8), ScriptedDecoder([[5, 6], [6, 6], [7, 7]]))
    tokens, _ = never.greedy_decode(src, lengths, max_len=3)
    assert tokens.shape == (3, 3) and (tokens != 2).all()
    with pytest.raises(ValueError, match="max_len"):
        never.greedy_decode(src, lengths, max_len=0)


def test_forward_stacks_decoder_weights():
    torch.manual_seed(0)
    model = Seq2Seq(Encoder(V, 5, 8), ScriptedDecoder([[5, 2]] * 3))
    src, lengths, tgt_in = padded_batch()
    logits, weights = model(src, lengths, tgt_in)  # no fast path: steps through the decoder
    assert logits.shape == (3, 5, V) and weights.shape == (3, 5, 6)


def test_greedy_decode_agrees_with_forward_without_teacher_forcing():
    model = small_model(bidirectional=True)
    src, lengths, tgt_in = padded_batch()
    logits, _ = model(src, lengths, tgt_in, teacher_forcing=0.0)
    tokens, _ = model.greedy_decode(src, lengths, max_len=5)
    free = logits.argmax(-1)
    for row, got in zip(free.tolist(), tokens.tolist()):
        want = row[:row.index(2) + 1] if 2 in row else row
        assert got[:len(want)] == want and all(t == 0 for t in got[len(want):])
