"""utils.bahdanau: the additive attention module, the Bahdanau decoder, alignment accuracy."""

import math

import pytest
import torch

from utils.attention import AdditiveScore
from utils.bahdanau import AdditiveAttention, BahdanauDecoder, BahdanauState, alignment_accuracy, build_bahdanau_model
from utils.masks import length_mask
from utils.seq2seq import Encoder, Seq2Seq


def small_model(seed=0, V_src=9, V_tgt=8, H=6, E=5):
    return build_bahdanau_model(V_src, V_tgt, emb_dim=E, hidden_size=H, attention_size=7, seed=seed)


def batch(seed=0, B=3, S=6, T=4, V_src=9, V_tgt=8, lengths=(6, 4, 2)):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(4, V_src, (B, S), generator=g)
    src = src.masked_fill(~length_mask(lengths, S), 0)
    tgt_in = torch.randint(3, V_tgt, (B, T), generator=g)
    tgt_in[:, 0] = 1  # <sos>
    return src, lengths, tgt_in


# ------------------------------------------------------------------ AdditiveAttention
def test_additive_attention_matches_a_hand_computed_example():
    att = AdditiveAttention(query_size=1, key_size=1, hidden_size=2)
    with torch.no_grad():
        att.score.W_q.weight.copy_(torch.tensor([[1.0], [-1.0]]))   # W_a: s -> (s, -s)
        att.score.W_k.weight.copy_(torch.tensor([[2.0], [0.5]]))    # U_a: h -> (2h, h/2)
        att.score.v.weight.copy_(torch.tensor([[1.0, 3.0]]))        # v_a
    s = torch.tensor([[0.5]])                      # (B=1, H=1)
    h = torch.tensor([[[1.0], [-1.0], [0.0]]])      # (B=1, S=3, D=1)
    # e_j = 1 * tanh(0.5 + 2 h_j) + 3 * tanh(-0.5 + 0.5 h_j), by hand:
    e = [math.tanh(0.5 + 2 * hj) + 3 * math.tanh(-0.5 + 0.5 * hj) for hj in (1.0, -1.0, 0.0)]
    alpha = [math.exp(x) / sum(math.exp(y) for y in e) for x in e]
    c = sum(a * hj for a, hj in zip(alpha, (1.0, -1.0, 0.0)))
    context, weights = att(s, h)
    assert weights.shape == (1, 3) and context.shape == (1, 1)
    torch.testing.assert_close(weights, torch.tensor([alpha]))
    torch.testing.assert_close(context, torch.tensor([[c]]))
    torch.testing.assert_close(att.score(s.unsqueeze(1), h), torch.tensor([[e]]))


def test_additive_attention_reuses_additive_score_and_precomputed_keys():
    torch.manual_seed(0)
    att = AdditiveAttention(4, 6, 5)
    assert isinstance(att.score, AdditiveScore)
    s, h = torch.randn(2, 4), torch.randn(2, 7, 6)
    keys = att.project_keys(h)
    assert keys.shape == (2, 7, 5)
    torch.testing.assert_close(keys, h @ att.score.W_k.weight.T)
    c1, w1 = att(s, h)
    c2, w2 = att(s, h, projected_keys=keys)
    torch.testing.assert_close(c1, c2)
    torch.testing.assert_close(w1, w2)


def test_additive_attention_several_queries_at_once_equal_one_at_a_time():
    torch.manual_seed(1)
    att = AdditiveAttention(4, 6, 5)
    s, h = torch.randn(2, 3, 4), torch.randn(2, 7, 6)
    mask = length_mask(torch.tensor([7, 3]), 7)
    context, weights = att(s, h, mask)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 7)
    for t in range(3):
        c_t, w_t = att(s[:, t], h, mask)
        torch.testing.assert_close(context[:, t], c_t)
        torch.testing.assert_close(weights[:, t], w_t)


def test_masking_gives_exactly_zero_weight_to_padding_and_ignores_its_values():
    torch.manual_seed(2)
    att = AdditiveAttention(4, 6, 5)
    s, h = torch.randn(2, 4), torch.randn(2, 5, 6)
    mask = length_mask(torch.tensor([5, 2]), 5)
    context, weights = att(s, h, mask)
    assert torch.all(weights[1, 2:] == 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    h_changed = h.clone()
    h_changed[1, 2:] = 100.0  # whatever sits in the padding
    context2, weights2 = att(s, h_changed, mask)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2, weights)
    # and the real positions get the softmax of their scores alone
    torch.testing.assert_close(weights[1, :2], att(s[1:], h[1:, :2])[1][0])


def test_additive_attention_rejects_bad_shapes_with_clear_errors():
    att = AdditiveAttention(4, 6, 5)
    with pytest.raises(ValueError, match="query must be"):
        att(torch.randn(4), torch.randn(1, 3, 6))
    with pytest.raises(ValueError, match="enc_out must be"):
        att(torch.randn(2, 4), torch.randn(3, 3, 6))
    with pytest.raises(ValueError, match="src_mask must be"):
        att(torch.randn(2, 4), torch.randn(2, 3, 6), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="key has 5 features"):
        att(torch.randn(2, 4), torch.randn(2, 3, 5))


# ------------------------------------------------------------------ BahdanauDecoder
def test_initial_state_is_tanh_of_the_backward_state_at_the_first_word():
    model = small_model()
    src, lengths, _ = batch()
    enc_out, enc_final = model.encoder(src, lengths)
    state = model.decoder.init_state(enc_out, enc_final, length_mask(lengths, src.shape[1]))
    H = model.encoder.hidden_size
    backward_first = enc_out[:, 0, H:]
    torch.testing.assert_close(backward_first, enc_final[:, H:])  # ←h_1 is the encoder's final backward state
    W_s = model.decoder.init_layer
    torch.testing.assert_close(state.hidden, torch.tanh(backward_first @ W_s.weight.T + W_s.bias))
    torch.testing.assert_close(state.keys, model.decoder.attention.project_keys(enc_out))


def test_one_step_follows_the_equations():
    model = small_model(seed=3)
    dec = model.decoder
    src, lengths, tgt_in = batch(seed=3)
    enc_out, src_mask, state = model.encode(src, lengths)
    logits, new_state, weights = dec.step(tgt_in[:, 0], state, enc_out, src_mask)
    assert logits.shape == (3, 8) and weights.shape == (3, 6) and new_state.hidden.shape == (3, 6)
    assert isinstance(new_state, BahdanauState) and new_state.keys is state.keys  # U_a h_j reused
    # by hand: the query is s_{t-1}, the state *before* the step
    score = dec.attention.score
    e = (torch.tanh(score.W_q(state.hidden).unsqueeze(1) + state.keys) @ score.v.weight.T).squeeze(-1)
    alpha = torch.softmax(e.masked_fill(~src_mask, float("-inf")), -1)
    c = (alpha.unsqueeze(-1) * enc_out).sum(1)
    y = dec.embedding(tgt_in[:, 0])
    s = dec.cell(torch.cat([y, c], -1), state.hidden)
    r = dec.readout(torch.cat([s, c, y], -1)).view(3, -1, 2).max(-1).values
    torch.testing.assert_close(weights, alpha)
    torch.testing.assert_close(new_state.hidden, s)
    torch.testing.assert_close(logits, dec.out(r))
    assert torch.all(weights[2, 2:] == 0.0)


def test_teacher_forcing_ratio_one_equals_the_single_batched_pass():
    model = small_model(seed=4)
    src, lengths, tgt_in = batch(seed=4)
    fast_logits, fast_weights = model(src, lengths, tgt_in, teacher_forcing=1.0)  # teacher_forced()
    enc_out, src_mask, state = model.encode(src, lengths)
    logits, weights = [], []
    for t in range(tgt_in.shape[1]):
        step_logits, state, w = model.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
        logits.append(step_logits)
        weights.append(w)
    torch.testing.assert_close(fast_logits, torch.stack(logits, 1))
    torch.testing.assert_close(fast_weights, torch.stack(weights, 1))
    assert fast_logits.shape == (3, 4, 8) and fast_weights.shape == (3, 4, 6)


def test_teacher_forcing_ratio_zero_feeds_back_the_greedy_predictions():
    model = small_model(seed=5)
    src, lengths, tgt_in = batch(seed=5, T=5)
    logits, weights = model(src, lengths, tgt_in, teacher_forcing=0.0)
    tokens, greedy_weights = model.greedy_decode(src, lengths, max_len=5)
    predicted = logits.argmax(-1)
    for b in range(3):  # equal up to and including each row's first <eos>
        row = tokens[b].tolist()
        n = row.index(2) + 1 if 2 in row else len(row)
        assert predicted[b, :n].tolist() == row[:n]
        torch.testing.assert_close(weights[b, :n], greedy_weights[b, :n])


def test_outputs_do_not_depend_on_padding_length_or_batch_mates():
    model = small_model(seed=6)
    src, lengths, tgt_in = batch(seed=6)
    logits, weights = model(src, lengths, tgt_in)
    for b in range(3):
        n = int(lengths[b])
        alone_logits, alone_weights = model(src[b:b + 1, :n], lengths[b:b + 1], tgt_in[b:b + 1])
        torch.testing.assert_close(logits[b:b + 1], alone_logits, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights[b:b + 1, :, :n], alone_weights, atol=1e-6, rtol=1e-4)
        assert torch.all(weights[b, :, n:] == 0.0)
        extra = torch.cat([src[b:b + 1, :n], torch.zeros(1, 9, dtype=torch.long)], 1)  # 9 more pads
        long_logits, long_weights = model(extra, lengths[b:b + 1], tgt_in[b:b + 1])
        torch.testing.assert_close(long_logits, alone_logits, atol=1e-5, rtol=1e-4)
        assert torch.all(long_weights[..., n:] == 0.0)


def test_gradients_reach_every_parameter():
    model = small_model(seed=7)
    src, lengths, tgt_in = batch(seed=7)
    logits, _ = model(src, lengths, tgt_in)
    logits.logsumexp(-1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_float64_inputs_and_parameters_work_together():
    model = small_model(seed=8).double()
    src, lengths, tgt_in = batch(seed=8)
    logits, weights = model(src, lengths, tgt_in)
    assert logits.dtype == torch.float64 and weights.dtype == torch.float64


def test_decoder_rejects_odd_annotations_and_wrong_sizes():
    with pytest.raises(ValueError, match="annotation_size must be even"):
        BahdanauDecoder(8, 4, 6, annotation_size=7)
    dec = BahdanauDecoder(8, 4, 6, annotation_size=10)
    with pytest.raises(ValueError, match=r"enc_out must be \(B, S, 10\)"):
        dec.init_state(torch.randn(2, 3, 12))


def test_build_bahdanau_model_is_seeded_and_bidirectional():
    a, b, c = small_model(seed=1), small_model(seed=1), small_model(seed=2)
    assert a.encoder.bidirectional and isinstance(a.decoder, BahdanauDecoder)
    assert isinstance(a, Seq2Seq) and isinstance(a.encoder, Encoder)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small_model(seed=5)
    assert torch.equal(torch.rand(3), expected)  # the caller's random state is untouched


def test_a_tiny_model_learns_to_reverse():
    from utils.data import BucketBatches, make_sequence_task
    from utils.seq2seq_training import seq2seq_step
    from utils.training import fit

    pairs, vocab = make_sequence_task("reverse", 256, 3, 5, n_symbols=4, seed=0)
    model = build_bahdanau_model(len(vocab), len(vocab), emb_dim=8, hidden_size=16, seed=0)
    history = fit(model, BucketBatches(pairs, vocab, vocab, 32), seq2seq_step(),
                  torch.optim.Adam(model.parameters(), 1e-2), steps=60)
    assert sum(history.loss[-10:]) / 10 < 0.5 * sum(history.loss[:10]) / 10


# ------------------------------------------------------------------ alignment_accuracy
def test_alignment_accuracy_counts_argmax_inside_the_span():
    w = torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]],
                      [[0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.0, 0.0, 1.0]]])
    target = {"a": (0, 1), "b": (1, 3)}                  # step 0 writes a, steps 1-2 write b
    source = [{"a": (0, 1), "b": (2, 3)},                # a right; b: step 1 right, step 2 wrong
              {"a": (0, 2), "b": (2, 3)}]                # a right; b: step 1 wrong, step 2 right
    assert alignment_accuracy(w, source, target) == pytest.approx(4 / 6)
    by_field = alignment_accuracy(w, source, target, by_field=True)
    assert by_field == pytest.approx({"a": 1.0, "b": 0.5, "all": 4 / 6})
    # a decoder that stopped after one step loses the steps it never took
    assert alignment_accuracy(w[:, :1], source, target) == pytest.approx(2 / 6)


def test_alignment_accuracy_reads_the_date_task_spans():
    from utils.data.dates import TARGET_SPANS, make_date_task

    task = make_date_task(3, seed=0)
    T, S = 11, max(len(s) for s, _ in task.pairs)
    perfect = torch.zeros(3, T, S)
    for b, spans in enumerate(task.spans):
        for field, (t0, t1) in TARGET_SPANS.items():
            perfect[b, t0:t1, spans[field][0]] = 1.0
    assert alignment_accuracy(perfect, task.spans, TARGET_SPANS) == 1.0
    assert alignment_accuracy(perfect.flip(1), task.spans, TARGET_SPANS) < 1.0


def test_alignment_accuracy_rejects_bad_input():
    w = torch.ones(2, 2, 3) / 3
    with pytest.raises(ValueError, match="B = len"):
        alignment_accuracy(w, [{"a": (0, 1)}], {"a": (0, 1)})
    with pytest.raises(ValueError, match="target_spans is empty"):
        alignment_accuracy(w, [{}, {}], {})


# ------------------------------------------------------------------ decode_trace
def test_decode_trace_records_what_greedy_decoding_does():
    from utils.bahdanau import decode_trace
    from utils.data import Vocab

    model = small_model(seed=9, V_src=9, V_tgt=9)
    vocab = Vocab(list("abcde"))  # 9 tokens with the 4 specials
    source = list("badce")
    trace = decode_trace(model, source, vocab, vocab, max_len=6)
    tokens, weights = model.greedy_decode(torch.tensor([vocab.encode(source)]), torch.tensor([5]), 6)
    n = len(trace.output)
    assert trace.source == source and trace.vocab == vocab.itos
    assert [vocab.stoi[t] for t in trace.output] == tokens[0, :n].tolist()
    assert n == 6 or trace.output[-1] == "<eos>"
    torch.testing.assert_close(trace.weights, weights[0, :n])
    torch.testing.assert_close(trace.probs.sum(-1), torch.ones(n))
    assert [trace.vocab[i] for i in trace.probs.argmax(-1).tolist()] == trace.output
    with pytest.raises(ValueError, match="source is empty"):
        decode_trace(model, [], vocab, vocab)


# ------------------------------------------------------------------ the decoding stepper
def test_draw_decoding_step_frames_the_current_step_and_ranks_candidates():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.bahdanau import DecodeTrace
    from utils.widgets import decoding_stepper, draw_decoding_step

    weights = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]])
    probs = torch.tensor([[0.0, 0.0, 0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.2, 0.0, 0.1, 0.7],
                          [0.0, 0.0, 0.9, 0.0, 0.05, 0.05]])
    trace = DecodeTrace(list("xyz"), ["a", "b", "<eos>"], weights, probs,
                        ["<pad>", "<sos>", "<eos>", "<unk>", "a", "b"])
    fig = draw_decoding_step(trace, 1, top_k=3)
    ax_map, ax_bar = fig.axes
    shown = ax_map.get_images()[0].get_array()
    assert shown[2].sum() == 0 and abs(shown[1][1] - 0.7) < 1e-6  # later steps hidden
    assert [t.get_text() for t in ax_map.get_yticklabels()] == ["a", "b", "·"]
    assert [t.get_text() for t in ax_bar.get_yticklabels()] == ["a", "<eos>", "b"]  # best at the top
    assert [round(p.get_width(), 2) for p in ax_bar.patches] == [0.1, 0.2, 0.7]
    assert "output so far \u201ca\u201d, next: 'b'" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="step must be between 0 and 2"):
        draw_decoding_step(trace, 3)
    plt.close("all")

    from utils.data import Vocab

    vocab = Vocab(list("abcde"))
    widget = decoding_stepper(small_model(V_src=9, V_tgt=9), vocab, vocab, list, "abc", max_len=4)
    text_box, slider = widget.children[0].children
    assert slider.max <= 3
    frames = widget.static.frames   # the book's version: one frame per output step
    assert len(frames) == slider.max + 1 and all("step" in alt.lower() for _, alt in frames.values())
    text_box.value = "edcba"
    assert slider.max <= 3 and slider.value <= slider.max
    plt.close("all")


# ------------------------------------------------------------------ teacher_forced's unchecked steps
def _checked_everywhere(monkeypatch):
    """Make every step of teacher_forced take the checked path (AdditiveAttention.forward)."""
    def checked(self, query, enc_out, blocked, projected_keys):
        src_mask = None if blocked is None else ~blocked.squeeze(1)
        return AdditiveAttention.forward(self, query, enc_out, src_mask, projected_keys)
    monkeypatch.setattr(AdditiveAttention, "_step_unchecked", checked)


def _teacher_forced_with_grads(model, src, lengths, tgt_in):
    logits, weights = model(src, lengths, tgt_in)
    grads = torch.autograd.grad((logits.square().sum() + weights.square().sum()), list(model.parameters()))
    return logits, weights, grads


@pytest.mark.parametrize("lengths", [(6, 4, 2), (6, 6, 6)])
def test_teacher_forced_skips_the_checks_after_the_first_step_with_the_same_numbers_bit_for_bit(monkeypatch, lengths):
    model = small_model(seed=7)
    src, lengths_t, tgt_in = batch(seed=7, T=6, lengths=lengths)
    calls = []
    unchecked = AdditiveAttention._step_unchecked
    monkeypatch.setattr(AdditiveAttention, "_step_unchecked",
                        lambda self, *a: calls.append(1) or unchecked(self, *a))
    fast = _teacher_forced_with_grads(model, src, lengths_t, tgt_in)
    assert len(calls) == tgt_in.shape[1] - 1  # every step after the first skips the checks
    _checked_everywhere(monkeypatch)
    slow = _teacher_forced_with_grads(model, src, lengths_t, tgt_in)
    assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1])
    assert all(torch.equal(a, b) for a, b in zip(fast[2], slow[2]))


def test_teacher_forced_keeps_the_checks_for_nan_at_padding_and_rows_without_a_token(monkeypatch):
    model = small_model(seed=8)
    dec = model.decoder
    src, lengths, tgt_in = batch(seed=8)
    enc_out, src_mask, state = model.encode(src, lengths)
    monkeypatch.setattr(AdditiveAttention, "_step_unchecked", lambda *a: pytest.fail("the unchecked step ran"))
    nan_at_padding = enc_out.masked_fill(~src_mask.unsqueeze(-1), float("nan"))
    logits, weights = dec.teacher_forced(tgt_in, dec.init_state(enc_out, None, src_mask), nan_at_padding, src_mask)
    assert torch.isfinite(logits).all() and torch.all(weights[~src_mask.unsqueeze(1).expand_as(weights)] == 0)
    no_token = src_mask.clone()
    no_token[1] = False
    logits, weights = dec.teacher_forced(tgt_in, state, enc_out, no_token)
    assert torch.isfinite(logits).all() and torch.all(weights[1] == 0)


def test_teacher_forced_raises_on_nan_scores_in_the_unchecked_steps():
    model = small_model(seed=9)
    src, lengths, tgt_in = batch(seed=9)
    with torch.no_grad():
        model.decoder.cell.weight_hh.fill_(float("nan"))  # s_1 onwards is NaN: scores from step 2 on
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        model(src, lengths, tgt_in)
