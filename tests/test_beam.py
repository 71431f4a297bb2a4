"""utils.beam: beam search over any decoder with init_state/step."""

import math
from typing import NamedTuple

import pytest
import torch
from torch import nn

from utils.bahdanau import build_bahdanau_model
from utils.beam import beam_search, select_state
from utils.masks import length_mask
from utils.seq2seq import Encoder, PlainDecoder, Seq2Seq

PAD, SOS, EOS, A, B_ = 0, 1, 2, 3, 4


class ToyEncoder(nn.Module):
    def forward(self, src, src_lengths):
        return torch.zeros(src.shape[0], src.shape[1], 2), torch.zeros(src.shape[0], 2)


class ToyDecoder(nn.Module):
    """Fixed next-token probabilities that depend only on the previous token.

    After <sos>: a 0.6, b 0.4. After a: <eos> 0.5, a 0.25, b 0.25. After b: <eos> 1.0.
    Greedy decoding says "a <eos>" (p = 0.3); the best output is "b <eos>" (p = 0.4).
    """

    TABLE = {SOS: {A: 0.6, B_: 0.4}, A: {EOS: 0.5, A: 0.25, B_: 0.25}, B_: {EOS: 1.0}}

    def init_state(self, enc_out, enc_final, src_mask):
        return torch.zeros(enc_out.shape[0], 1)

    def step(self, prev, state, enc_out, src_mask):
        logits = torch.full((prev.shape[0], 5), -1e9)
        for i, p in enumerate(prev.tolist()):
            for tok, prob in self.TABLE.get(p, {EOS: 1.0}).items():
                logits[i, tok] = math.log(prob)
        return logits, state + 1, None


def toy_model():
    return Seq2Seq(ToyEncoder(), ToyDecoder(), SOS, EOS, PAD)


def real_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 5, 3, 6])
    src = torch.randint(4, 12, (4, 7), generator=g).masked_fill(~length_mask(lengths, 7), 0)
    return src, lengths


def test_beam_two_finds_the_output_greedy_decoding_misses():
    model, src = toy_model(), torch.ones(1, 2, dtype=torch.long)
    greedy, _ = model.greedy_decode(src, torch.tensor([2]), max_len=5)
    assert greedy.tolist() == [[A, EOS]]
    one = beam_search(model, src, torch.tensor([2]), max_len=5, beam_size=1)
    assert one.tokens.tolist() == [[A, EOS]] and one.scores.item() == pytest.approx(math.log(0.3))
    two = beam_search(model, src, torch.tensor([2]), max_len=5, beam_size=2)
    assert two.tokens.tolist() == [[B_, EOS]]
    assert two.scores.item() == pytest.approx(math.log(0.4))
    assert two.hypotheses.tolist() == [[[B_, EOS], [A, EOS]]]
    torch.testing.assert_close(two.hypothesis_scores, torch.tensor([[math.log(0.4), math.log(0.3)]]))
    assert two.weights is None


def test_a_length_penalty_can_prefer_longer_outputs():
    model, src = toy_model(), torch.ones(1, 2, dtype=torch.long)
    # beam 3 keeps "a a", "a b" alive; "a b <eos>" has p = 0.15 over 3 tokens
    plain = beam_search(model, src, torch.tensor([2]), max_len=5, beam_size=3)
    assert plain.tokens.tolist() == [[B_, EOS]]
    avg = beam_search(model, src, torch.tensor([2]), max_len=5, beam_size=3, length_penalty=1.0)
    assert avg.tokens.tolist() == [[B_, EOS]]  # log(0.4)/2 = -0.458 still beats log(0.3)/2, log(0.15)/3
    assert avg.scores.item() == pytest.approx(math.log(0.4) / 2)
    assert avg.hypothesis_scores[0, 1].item() == pytest.approx(math.log(0.3) / 2)


def test_beam_one_equals_greedy_decoding_for_the_bahdanau_decoder():
    model = build_bahdanau_model(12, 9, emb_dim=6, hidden_size=8, seed=0)
    src, lengths = real_batch()
    tokens, weights = model.greedy_decode(src, lengths, max_len=6)
    result = beam_search(model, src, lengths, max_len=6, beam_size=1)
    assert torch.equal(result.tokens, tokens)
    torch.testing.assert_close(result.weights, weights)
    assert result.hypotheses.shape == (4, 1, tokens.shape[1])


def test_beam_one_equals_greedy_decoding_for_the_plain_decoder():
    torch.manual_seed(1)
    enc = Encoder(12, 6, 8)
    model = Seq2Seq(enc, PlainDecoder(9, 6, 8, enc.output_size))
    src, lengths = real_batch(1)
    tokens, weights = model.greedy_decode(src, lengths, max_len=6)
    result = beam_search(model, src, lengths, max_len=6, beam_size=1)
    assert weights is None and result.weights is None
    assert torch.equal(result.tokens, tokens)


def test_scores_are_the_log_probability_of_the_hypotheses():
    model = build_bahdanau_model(12, 9, emb_dim=6, hidden_size=8, seed=2)
    src, lengths = real_batch(2)
    result = beam_search(model, src, lengths, max_len=5, beam_size=3)
    assert torch.all(result.hypothesis_scores[:, :-1] >= result.hypothesis_scores[:, 1:])
    for b in range(4):
        for k in range(3):
            hyp = result.hypotheses[b, k].tolist()
            n = hyp.index(EOS) + 1 if EOS in hyp else len(hyp)
            tgt_in = torch.tensor([[SOS] + hyp[:n - 1]])
            logits, _ = model(src[b:b + 1], lengths[b:b + 1], tgt_in)
            logp = torch.log_softmax(logits, -1)[0, torch.arange(n), torch.tensor(hyp[:n])].sum()
            assert result.hypothesis_scores[b, k].item() == pytest.approx(logp.item(), abs=1e-4)
            assert all(t == PAD for t in hyp[n:])


def test_wider_beams_never_score_worse_than_greedy_on_finished_outputs_here():
    model = build_bahdanau_model(12, 9, emb_dim=6, hidden_size=8, seed=3)
    src, lengths = real_batch(3)
    one = beam_search(model, src, lengths, max_len=8, beam_size=1)
    four = beam_search(model, src, lengths, max_len=8, beam_size=4)
    assert torch.all(four.scores >= one.scores - 1e-5)


def test_a_batch_decodes_like_each_example_alone():
    model = build_bahdanau_model(12, 9, emb_dim=6, hidden_size=8, seed=4)
    src, lengths = real_batch(4)
    together = beam_search(model, src, lengths, max_len=6, beam_size=3)
    for b in range(4):
        n = int(lengths[b])
        alone = beam_search(model, src[b:b + 1, :n], lengths[b:b + 1], max_len=6, beam_size=3)
        T = alone.tokens.shape[1]
        assert together.tokens[b, :T].tolist() == alone.tokens[0].tolist()
        assert torch.all(together.tokens[b, T:] == PAD)
        torch.testing.assert_close(together.scores[b], alone.scores[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together.weights[b, :T, :n], alone.weights[0], atol=1e-5, rtol=1e-4)


def test_beam_search_leaves_the_model_in_training_mode_if_it_was():
    model = build_bahdanau_model(12, 9, emb_dim=6, hidden_size=8, seed=5)
    src, lengths = real_batch(5)
    model.train()
    beam_search(model, src, lengths, max_len=3, beam_size=2)
    assert model.training


def test_bad_arguments_are_rejected():
    model, src = toy_model(), torch.ones(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="beam_size must be at least 1"):
        beam_search(model, src, torch.tensor([2]), max_len=5, beam_size=0)
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        beam_search(model, src, torch.tensor([2]), max_len=0)


class Pair(NamedTuple):
    a: torch.Tensor
    b: tuple


def test_select_state_reorders_tensors_tuples_and_named_tuples():
    state = Pair(torch.arange(3), (torch.arange(3) * 10, None))
    picked = select_state(state, torch.tensor([2, 2, 0]))
    assert isinstance(picked, Pair)
    assert picked.a.tolist() == [2, 2, 0] and picked.b[0].tolist() == [20, 20, 0] and picked.b[1] is None
    with pytest.raises(TypeError, match="cannot reorder"):
        select_state({"a": torch.arange(3)}, torch.tensor([0]))
