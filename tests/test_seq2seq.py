"""utils.seq2seq: encoder, plain decoder, the Seq2Seq wrapper, greedy decoding, experiment config."""

from typing import NamedTuple

import pytest
import torch
from torch import nn

from utils.data import BucketBatches, make_sequence_task
from utils.seq2seq import (
    Encoder,
    LengthExperiment,
    PlainDecoder,
    PlainState,
    Seq2Seq,
    build_plain_model,
    length_experiment_config,
    length_mask,
    source_gradient_norms,
)
from utils.training import evaluate_seq2seq, fit, seq2seq_step

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


# ---------------------------------------------------------------------------- masks
def test_length_mask():
    m = length_mask(torch.tensor([3, 1, 4]), 5)
    assert m.dtype == torch.bool and m.shape == (3, 5)
    assert m.tolist()[1] == [True, False, False, False, False]
    assert m.sum(1).tolist() == [3, 1, 4]
    assert length_mask(torch.tensor([2, 3])).shape == (2, 3)  # max_len defaults to the longest
    with pytest.raises(ValueError, match="1-D"):
        length_mask(torch.ones(2, 2, dtype=torch.long))


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


def test_model_is_deterministic_under_a_seed_and_learns_a_small_task():
    cfg = length_experiment_config(n_symbols=3, emb_dim=8, hidden_size=32, lr=5e-3, batch_size=32)
    pairs, vocab = make_sequence_task("reverse", 600, 2, 4, n_symbols=3, seed=0)

    def train():
        model = build_plain_model(vocab, cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history = fit(model, BucketBatches(pairs, vocab, vocab, 32, seed=0), seq2seq_step(), opt, steps=300)
        return model, history

    (m1, h1), (m2, h2) = train(), train()
    assert h1.loss == h2.loss
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    report = evaluate_seq2seq(m1, pairs[:200], vocab, vocab)
    assert report.exact_match > 0.9, report.exact_match_by_length


# ---------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_source_gradient_norms_match_autograd(cell):
    model = small_model(cell)
    model.train()
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, V, (4, 7), generator=g)
    lengths = torch.full((4,), 7)
    tgt_in = torch.cat([torch.ones(4, 1, dtype=torch.long), src[:, :3]], 1)
    tgt_out = torch.cat([src[:, :3], torch.full((4, 1), 2)], 1)
    norms = source_gradient_norms(model, src, lengths, tgt_in, tgt_out)
    assert norms.shape == (7,) and (norms > 0).all()
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    assert not model.encoder.embedding._forward_hooks  # hook removed
    # the same number by hand
    emb = model.encoder.embedding(src).detach().requires_grad_()
    out, final = model.encoder.rnn(emb)
    final = (final[0][-1], final[1][-1]) if cell == "lstm" else final[-1]
    model.eval()
    state = model.decoder.init_state(out, final, length_mask(lengths, 7))
    logits, _ = model.decoder.teacher_forced(tgt_in, state, out, None)
    nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten()).backward()
    assert torch.allclose(norms, emb.grad.norm(dim=-1).mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="one length"):
        source_gradient_norms(model, src, torch.tensor([7, 7, 7, 5]), tgt_in, tgt_out)


# ---------------------------------------------------------------------------- the experiment
def test_length_experiment_config_and_data():
    cfg = length_experiment_config(n_train=300, n_test_per_length=7, test_lengths=(5, 9))
    assert isinstance(cfg, LengthExperiment) and cfg.n_train == 300
    assert length_experiment_config() == LengthExperiment()
    train, test, vocab = cfg.data()
    assert len(train) == 300 and len(test) == 14
    assert [len(s) for s, _ in test] == [5] * 7 + [9] * 7
    assert all(cfg.min_len <= len(s) <= cfg.max_len for s, _ in train)
    assert all(t == s[::-1] for s, t in train + test)  # the task is reversal
    again = cfg.data()
    assert again[0] == train and again[1] == test
    with pytest.raises(TypeError):
        length_experiment_config(hidden=3)
    default = LengthExperiment()
    assert max(default.test_lengths) <= default.max_len and min(default.test_lengths) >= default.min_len


def test_build_plain_model_is_seeded():
    cfg = length_experiment_config(hidden_size=16, emb_dim=4)
    vocab = make_sequence_task("reverse", 1, 1, 1)[1]
    a, b = build_plain_model(vocab, cfg), build_plain_model(vocab, cfg)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert a.encoder.hidden_size == 16 and not a.encoder.bidirectional
    assert isinstance(a.decoder, PlainDecoder)
    c = build_plain_model(vocab, length_experiment_config(hidden_size=16, emb_dim=4, model_seed=1))
    assert not torch.equal(a.encoder.embedding.weight, c.encoder.embedding.weight)
    src = torch.tensor([[4, 5, 6]])
    logits, _ = a(src, torch.tensor([3]), torch.tensor([[1, 6, 5]]))
    assert logits.shape == (1, 3, len(vocab))



def test_experiment_optimizer_decays_the_learning_rate_to_zero():
    cfg = length_experiment_config(steps=10, lr=0.1)
    model = nn.Linear(2, 2)
    optimizer, scheduler = cfg.optimizer(model)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    rates = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[4] == pytest.approx(0.05) and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
