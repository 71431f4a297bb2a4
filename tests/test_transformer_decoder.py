"""utils.transformer_decoder: the decoder block and stack against PyTorch's modules, the key-value
cache against one parallel pass, causality, padding, and the Seq2Seq tooling on the model."""

import pytest
import torch
from torch import nn

from utils.beam import beam_search, select_state
from utils.diagnostics import source_gradient_norms
from utils.masks import causal_mask, length_mask
from utils.seq2seq import Seq2Seq
from utils.transformer import MultiHeadAttention
from utils.transformer_decoder import (
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerDecoderState,
    build_transformer_model,
    cross_attention_maps,
)
from utils.transformer_encoder import TransformerEncoder, TransformerSourceEncoder

TOL = 1e-5
V = 11


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny models: one thread is faster, and the machine is shared."""


def _perturb(module, seed=0):
    """Non-zero biases and LayerNorm affines, so that copying every weight is tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return module


def small_model(seed=0, norm_first=True, positional="sinusoidal", max_len=12):
    model = build_transformer_model(V, V, d_model=16, num_heads=4, d_ff=32, num_layers=2, max_len=max_len,
                                    seed=seed, positional=positional)
    if not norm_first:  # the paper's post-norm decoder, same encoder
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.decoder = TransformerDecoder(V, 16, 4, 32, 2, max_len, positional=positional, norm_first=False)
    return _perturb(model, seed).eval()


def batch(seed=0, B=3, S=6, T=5, lengths=(6, 4, 2)):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(4, V, (B, S), generator=g).masked_fill(~length_mask(lengths, S), 0)
    tgt_in = torch.randint(3, V, (B, T), generator=g)
    tgt_in[:, 0] = 1  # <sos>
    return src, lengths, tgt_in


# ----------------------------------------------------------------------------------------------
# Parity with PyTorch: one layer, then the whole encoder-decoder stack
# ----------------------------------------------------------------------------------------------
def test_project_kv_and_attend_kv_are_forward_in_two_halves():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    q, kv = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    keep = length_mask(torch.tensor([5, 2]))
    k, v = mha.project_kv(kv)
    assert k.shape == v.shape == (2, 4, 5, 4)
    for need in (True, False):
        out, w = mha(q, kv, kv, key_padding_mask=keep, need_weights=need)
        out2, w2 = mha.attend_kv(q, k, v, key_padding_mask=keep, need_weights=need)
        assert torch.allclose(out, out2, atol=1e-6)
        assert (w is None and w2 is None) or torch.allclose(w, w2, atol=1e-6)
    with pytest.raises(ValueError, match=r"k must be \(B=2, H=4, T_k, d=4\)"):
        mha.attend_kv(q, k[:, :2], v)
    with pytest.raises(ValueError, match="key has 8 features"):
        mha.project_kv(torch.randn(2, 5, 8))


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_equals_torch_decoder_layer(norm_first):
    torch.manual_seed(0)
    layer = _perturb(nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first))
    block = TransformerDecoderBlock(16, 4, 32, norm_first=norm_first).load_from_torch(layer)
    tgt, memory = torch.randn(3, 5, 16), torch.randn(3, 6, 16)
    keep = length_mask(torch.tensor([6, 4, 2]))  # every row keeps a key: no NaN from PyTorch
    expected = layer(tgt, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=~keep)  # torch: True = blocked
    out, w = block(tgt, memory, memory_key_padding_mask=keep, tgt_is_causal=True, need_weights=True)
    assert torch.allclose(out, expected, atol=TOL, rtol=0)
    out2, _ = block(tgt, memory, tgt_mask=causal_mask(5), memory_key_padding_mask=keep)
    assert torch.allclose(out2, expected, atol=TOL, rtol=0)
    assert w.shape == (3, 4, 5, 6) and torch.all(w[2, :, :, 2:] == 0)
    not_causal = layer(tgt, memory, memory_key_padding_mask=~keep)  # the mask matters
    assert not torch.allclose(not_causal[:, :-1], expected[:, :-1], atol=1e-3)
    with pytest.raises(ValueError, match="norm_first"):
        TransformerDecoderBlock(16, 4, 32, norm_first=not norm_first).load_from_torch(layer)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # PyTorch's note on its pre-norm fast path
@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_decoder_stack_equals_nn_transformer(norm_first):
    torch.manual_seed(0)
    ref = _perturb(nn.Transformer(16, 4, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=32,
                                  dropout=0.0, batch_first=True, norm_first=norm_first), seed=1)
    encoder = TransformerEncoder(2, 16, 4, 32, norm_first=norm_first)
    decoder = TransformerDecoder(V, 16, 4, 32, 3, max_len=8, norm_first=norm_first)
    for ours, theirs in zip([*encoder.layers, *decoder.layers], [*ref.encoder.layers, *ref.decoder.layers]):
        ours.load_from_torch(theirs)
    if norm_first:  # pre-norm: one final LayerNorm after each stack, as nn.Transformer's
        encoder.norm.load_state_dict(ref.encoder.norm.state_dict())
        decoder.norm.load_state_dict(ref.decoder.norm.state_dict())
    else:  # the course's post-norm stacks end with their last block's norm
        ref.encoder.norm = ref.decoder.norm = None
    x_src, x_tgt = torch.randn(3, 6, 16), torch.randn(3, 5, 16)
    keep = length_mask(torch.tensor([6, 3, 1]))
    expected = ref(x_src, x_tgt, src_key_padding_mask=~keep, tgt_mask=~causal_mask(5),
                   memory_key_padding_mask=~keep)
    memory, _ = encoder(x_src, key_padding_mask=keep)
    out, weights = decoder.run_layers(x_tgt, memory, keep, need_weights="all")
    assert torch.allclose(out, expected, atol=TOL, rtol=0)
    expected_memory = ref.encoder(x_src, src_key_padding_mask=~keep)
    assert torch.allclose(memory[keep], expected_memory[keep], atol=TOL, rtol=0)
    assert weights.shape == (3, 3, 4, 5, 6)  # (L, B, H, T, S)


# ----------------------------------------------------------------------------------------------
# The key-value cache: stepping equals one parallel pass
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first,positional", [(True, "sinusoidal"), (False, "learned")])
def test_cached_steps_equal_the_parallel_pass(norm_first, positional):
    model = small_model(seed=1, norm_first=norm_first, positional=positional)
    src, lengths, tgt_in = batch(seed=1)
    logits, weights = model(src, lengths, tgt_in)  # teacher_forced: one pass under the causal mask
    enc_out, src_mask, state = model.encode(src, lengths)
    assert isinstance(state, TransformerDecoderState) and state.self_k.shape == (3, 2, 4, 0, 4)
    assert state.cross_k.shape == (3, 2, 4, 6, 4) and state.position.tolist() == [0, 0, 0]
    cross_k, steps, step_weights = state.cross_k, [], []
    for t in range(5):
        step_logits, state, w = model.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
        steps.append(step_logits)
        step_weights.append(w)
    assert torch.allclose(torch.stack(steps, 1), logits, atol=TOL, rtol=0)
    assert torch.allclose(torch.stack(step_weights, 1), weights, atol=TOL, rtol=0)
    assert state.self_k.shape == (3, 2, 4, 5, 4) and state.position.tolist() == [5, 5, 5]
    assert state.cross_k is cross_k  # projected once per source
    # several new tokens at once after a cached prefix: the offset causal mask
    block_x, layer = model.decoder.embed(tgt_in), model.decoder.layers[0]
    memory_kv = layer.multihead_attn.project_kv(enc_out)
    full, k_all, _, _ = layer.forward_cached(block_x, *(block_x.new_zeros(3, 4, 0, 4),) * 2, *memory_kv, src_mask)
    head, k2, v2, _ = layer.forward_cached(block_x[:, :2], *(block_x.new_zeros(3, 4, 0, 4),) * 2, *memory_kv, src_mask)
    tail, k5, _, _ = layer.forward_cached(block_x[:, 2:], k2, v2, *memory_kv, src_mask)
    assert torch.allclose(torch.cat([head, tail], 1), full, atol=TOL, rtol=0)
    assert torch.allclose(k5, k_all, atol=TOL, rtol=0)
    assert torch.allclose(full, layer(block_x, enc_out, memory_key_padding_mask=src_mask, tgt_is_causal=True)[0],
                          atol=TOL, rtol=0)


def test_greedy_decoding_with_the_cache_equals_recomputing_the_prefix():
    model = small_model(seed=2)
    src, lengths, _ = batch(seed=2)
    tokens, weights = model.greedy_decode(src, lengths, max_len=8)
    enc_out, src_mask, _ = model.encode(src, lengths)
    prefix = torch.full((3, 1), model.sos_id)
    for _ in range(tokens.shape[1]):  # no cache: the whole prefix again at every step
        logits, _ = model.decoder(prefix, enc_out, src_mask)
        prefix = torch.cat([prefix, logits[:, -1].argmax(-1, keepdim=True)], 1)
    for row, got in zip(prefix[:, 1:].tolist(), tokens.tolist()):
        n = row.index(model.eos_id) + 1 if model.eos_id in row else len(row)
        assert got[:n] == row[:n] and all(t == model.pad_id for t in got[n:])
    assert weights.shape == (3, tokens.shape[1], 6)


def test_select_state_reorders_the_cache_for_beam_search():
    model = small_model()
    src, lengths, tgt_in = batch()
    enc_out, src_mask, state = model.encode(src, lengths)
    _, state, _ = model.decoder.step(tgt_in[:, 0], state, enc_out, src_mask)
    picked = select_state(state, torch.tensor([2, 0]))
    assert isinstance(picked, TransformerDecoderState)
    assert torch.equal(picked.self_k[0], state.self_k[2]) and torch.equal(picked.cross_v[1], state.cross_v[0])


# ----------------------------------------------------------------------------------------------
# Causality and padding
# ----------------------------------------------------------------------------------------------
def test_a_future_target_token_changes_no_earlier_logit():
    model = small_model(seed=3)
    src, lengths, tgt_in = batch(seed=3)
    logits, _ = model(src, lengths, tgt_in)
    changed = tgt_in.clone()
    changed[:, 3] = torch.where(tgt_in[:, 3] == 5, 6, 5)
    logits2, _ = model(src, lengths, changed)
    assert torch.equal(logits2[:, :3], logits[:, :3])
    assert (logits2[:, 3:] - logits[:, 3:]).abs().amax(-1).min() > 1e-4  # every later step feels it


def test_padded_source_positions_change_nothing():
    model = small_model(seed=4)
    src, lengths, tgt_in = batch(seed=4)
    logits, weights = model(src, lengths, tgt_in)
    other = src.clone()
    other[~length_mask(lengths, 6)] = 7  # whatever sits in the padding
    logits2, weights2 = model(other, lengths, tgt_in)
    assert torch.allclose(logits2, logits, atol=1e-6) and torch.allclose(weights2, weights, atol=1e-6)
    assert torch.all(weights[2, :, 2:] == 0) and torch.allclose(weights.sum(-1), torch.ones(3, 5))
    longer = torch.cat([src, torch.zeros(3, 4, dtype=torch.long)], 1)  # four more pads
    logits3, weights3 = model(longer, lengths, tgt_in)
    assert torch.allclose(logits3, logits, atol=TOL) and torch.all(weights3[..., 6:] == 0)
    enc_out, enc_final = model.encoder(src, lengths)
    assert torch.all(enc_out[1, 4:] == 0)
    assert torch.allclose(enc_final[1], enc_out[1, :4].mean(0), atol=1e-6)  # the masked mean


def test_a_source_of_only_padding_gives_no_nan():
    model = small_model(seed=5)
    src, lengths, tgt_in = batch(seed=5, lengths=(6, 0, 2))
    logits, weights = model(src, lengths, tgt_in)
    assert torch.isfinite(logits).all() and torch.all(weights[1] == 0)
    tokens, step_weights = model.greedy_decode(src, lengths, max_len=5)
    assert torch.all(step_weights[1] == 0) and torch.isfinite(step_weights).all()
    enc_out, enc_final = model.encoder(src, lengths)
    assert torch.all(enc_final[1] == 0) and torch.isfinite(enc_out).all()
    masked = torch.ones(3, 6, dtype=torch.bool)
    masked[0] = False  # masked rather than short
    logits, weights = model.decoder(tgt_in, enc_out, masked)
    assert torch.isfinite(logits).all() and torch.all(weights[0] == 0)


# ----------------------------------------------------------------------------------------------
# The course's tooling on the model
# ----------------------------------------------------------------------------------------------
def test_beam_one_equals_greedy_and_trace_and_gradients_run():
    from utils.bahdanau import decode_trace
    from utils.data import Vocab

    model = small_model(seed=6)
    src, lengths, _ = batch(seed=6)
    tokens, weights = model.greedy_decode(src, lengths, max_len=8)
    one = beam_search(model, src, lengths, max_len=8, beam_size=1)
    assert torch.equal(one.tokens, tokens)
    for b, row in enumerate(tokens.tolist()):  # after <eos>, beam search feeds <pad> and greedy its argmax
        n = row.index(model.eos_id) + 1 if model.eos_id in row else len(row)
        assert torch.allclose(one.weights[b, :n], weights[b, :n], atol=1e-6)
    three = beam_search(model, src, lengths, max_len=8, beam_size=3)
    assert bool((three.scores >= one.scores - 1e-5).all())
    vocab = Vocab(list("abcdefg"))  # 11 tokens with the 4 specials
    trace = decode_trace(model, list("cab"), vocab, vocab, max_len=6)
    alone, alone_weights = model.greedy_decode(torch.tensor([vocab.encode(list("cab"))]), torch.tensor([3]), 6)
    assert [vocab.stoi[t] for t in trace.output] == alone[0, :len(trace.output)].tolist()
    assert torch.allclose(trace.weights, alone_weights[0, :len(trace.output)])
    src_full = torch.randint(4, V, (2, 5), generator=torch.Generator().manual_seed(0))
    norms = source_gradient_norms(model, src_full, torch.tensor([5, 5]), src_full[:, :4], src_full[:, 1:])
    assert norms.shape == (5,) and bool((norms > 0).all())


def test_cross_attention_maps_give_every_layer_and_head():
    model = small_model(seed=7).train()
    src, lengths, tgt_in = batch(seed=7)
    maps = cross_attention_maps(model, src, lengths, tgt_in)
    assert maps.shape == (2, 3, 4, 5, 6) and model.training  # (L, B, H, T, S); mode restored
    model.eval()
    _, weights = model(src, lengths, tgt_in)
    assert torch.allclose(maps[-1].mean(1), weights, atol=1e-6)
    assert torch.all(maps[:, 1, :, :, 4:] == 0) and torch.allclose(maps.sum(-1), torch.ones(2, 3, 4, 5))
    assert not torch.allclose(maps[0, :, 0], maps[0, :, 1])  # heads differ


def test_a_tiny_transformer_learns_to_reverse():
    from utils.data import BucketBatches, make_sequence_task
    from utils.seq2seq_training import evaluate_seq2seq, seq2seq_step
    from utils.training import fit

    pairs, vocab = make_sequence_task("reverse", 256, 3, 5, n_symbols=4, seed=0)
    model = build_transformer_model(len(vocab), len(vocab), 32, 4, 64, 2, max_len=16, seed=0)
    history = fit(model, BucketBatches(pairs, vocab, vocab, 32), seq2seq_step(),
                  torch.optim.Adam(model.parameters(), 3e-3), steps=40)
    assert sum(history.loss[-5:]) / 5 < 0.6 * sum(history.loss[:5]) / 5
    report = evaluate_seq2seq(model, pairs[:64], vocab, vocab)
    assert report.token_accuracy > 0.4 and set(report.lengths) == {3, 4, 5}


def test_build_transformer_model_is_seeded_and_sized():
    a, b, c = (build_transformer_model(13, 13, 64, 4, 128, 2, 32, seed=s) for s in (1, 1, 2))
    assert isinstance(a, Seq2Seq) and isinstance(a.encoder, TransformerSourceEncoder)
    assert isinstance(a.encoder.embedding, nn.Embedding) and a.encoder.output_size == 64
    assert sum(p.numel() for p in a.parameters()) == 170_189
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    scaled = a.decoder.embedding.weight.detach()[4:] * 8.0  # E y · √d_model: unit variance, like the positions
    assert 0.7 < float(scaled.std()) < 1.3 and torch.all(a.decoder.embedding.weight[0] == 0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_transformer_model(13, 13, 16, 2, 16, 1, 8, seed=5)
    assert torch.equal(torch.rand(3), expected)  # the caller's random state is untouched


def test_embeddings_are_scaled_by_sqrt_d_model_and_positioned():
    from utils.positional import sinusoidal_positional_encoding

    model = small_model(seed=10)
    pe = sinusoidal_positional_encoding(12, 16)
    tokens = torch.tensor([[5, 7, 9]])
    x = model.decoder.embed(tokens[:, 1:], start=1)  # positions 1 and 2
    assert torch.allclose(x, model.decoder.embedding.weight[tokens[:, 1:]] * 4.0 + pe[1:3], atol=1e-6)
    enc = model.encoder
    src, lengths, _ = batch(seed=10)
    keep = length_mask(lengths, 6)
    expected, _ = enc.encoder(enc.embedding(src) * 4.0 + pe[:6], key_padding_mask=keep)
    assert torch.allclose(enc(src, lengths)[0][keep], expected[keep], atol=1e-6)


def test_float64_works():
    model = small_model(seed=8).double()
    src, lengths, tgt_in = batch(seed=8)
    logits, weights = model(src, lengths, tgt_in)
    assert logits.dtype == weights.dtype == torch.float64
    assert model.greedy_decode(src, lengths, 4)[1].dtype == torch.float64


# ----------------------------------------------------------------------------------------------
# Clear errors
# ----------------------------------------------------------------------------------------------
def test_bad_inputs_raise_named_errors():
    with pytest.raises(ValueError, match="divisible by num_heads=4"):
        build_transformer_model(V, V, 30, 4, 32, 1, 8)
    with pytest.raises(ValueError, match="positional must be one of"):
        TransformerDecoder(V, 16, 4, 32, 1, 8, positional="rotary")
    with pytest.raises(TypeError, match="num_layers must be an int"):
        TransformerDecoder(V, 16, 4, 32, 1.0, 8)
    model = small_model(max_len=6)
    src, lengths, tgt_in = batch(S=6, T=5)
    enc_out, src_mask, state = model.encode(src, lengths)
    with pytest.raises(ValueError, match=r"enc_out must be \(B, S, d_model=16\)"):
        model.decoder.init_state(torch.randn(3, 6, 12), None, src_mask)
    with pytest.raises(ValueError, match="max_len is 6"):
        model(src, lengths, torch.ones(3, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot reach position 6: max_len is 6"):
        _step_past(model, state, enc_out, src_mask)
    with pytest.raises(ValueError, match="src has 7 positions but the encoder's max_len is 6"):
        model.encoder(torch.ones(1, 7, dtype=torch.long), torch.tensor([7]))
    with pytest.raises(ValueError, match="src_lengths"):
        model.encoder(src, torch.tensor([6, 4, 7]))
    with pytest.raises(ValueError, match="prev_token"):
        model.decoder.step(tgt_in, state, enc_out, src_mask)
    with pytest.raises(TypeError, match="TransformerDecoderState"):
        model.decoder.step(tgt_in[:, 0], tuple(state), enc_out, src_mask)
    with pytest.raises(ValueError, match=r"src_mask must be \(B, S\)"):
        model.decoder.step(tgt_in[:, 0], state, enc_out, src_mask[:, :4])
    with pytest.raises(TypeError, match="src_mask must be a bool tensor"):
        model.decoder(tgt_in, enc_out, src_mask.long())
    with pytest.raises(ValueError, match="need_weights must be"):
        model.decoder(tgt_in, enc_out, src_mask, need_weights="first")
    with pytest.raises(ValueError, match=r"self_v must be \(B=3, H=4, P, d=4\) like self_k"):
        model.decoder.layers[0].forward_cached(torch.randn(3, 1, 16), state.self_k[:, 0], torch.zeros(3, 4, 1, 4),
                                               state.cross_k[:, 0], state.cross_v[:, 0])
    _, later, _ = model.decoder.step(tgt_in[:, 0], state, enc_out, src_mask)
    with pytest.raises(ValueError, match="starts from init_state"):
        model.decoder.teacher_forced(tgt_in, later, enc_out, src_mask)
    with pytest.raises(ValueError, match="tgt_in holds ids"):
        model(src, lengths, torch.full((3, 2), V))


def _step_past(model, state, enc_out, src_mask):
    prev = torch.full((3,), model.sos_id)
    for _ in range(7):  # positions 0 … 6; max_len 6 ends at 5
        _, state, _ = model.decoder.step(prev, state, enc_out, src_mask)


# ----------------------------------------------------------------------------------------------
# GPU
# ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_cuda_and_agrees_with_the_cpu():
    from utils.data import collate, make_sequence_task
    from utils.seq2seq_training import seq2seq_step
    from utils.training import to_device

    model = small_model(seed=9)
    src, lengths, tgt_in = batch(seed=9)
    cpu_logits, _ = model(src, lengths, tgt_in)
    model.cuda()
    src, lengths, tgt_in = src.cuda(), lengths.cuda(), tgt_in.cuda()
    logits, weights = model(src, lengths, tgt_in)
    assert logits.is_cuda and weights.is_cuda
    assert torch.allclose(logits.cpu(), cpu_logits, atol=1e-4)
    enc_out, src_mask, state = model.encode(src, lengths)
    assert state.self_k.is_cuda and state.position.is_cuda
    steps = []
    for t in range(tgt_in.shape[1]):
        step_logits, state, _ = model.decoder.step(tgt_in[:, t], state, enc_out, src_mask)
        steps.append(step_logits)
    assert torch.allclose(torch.stack(steps, 1), logits, atol=1e-4)
    assert beam_search(model, src, lengths, max_len=6, beam_size=2).tokens.is_cuda
    pairs, vocab = make_sequence_task("reverse", 8, 3, 5, n_symbols=4, seed=0)
    gpu_model = build_transformer_model(len(vocab), len(vocab), 16, 4, 32, 1, 12).cuda().train()
    loss, _ = seq2seq_step()(gpu_model, to_device(collate(pairs, vocab, vocab), "cuda"))
    loss.backward()
    assert loss.is_cuda and all(p.grad is not None for p in gpu_model.parameters() if p.requires_grad)


def test_source_positions_counted_from_both_ends():
    from utils.positional import sinusoidal_positional_encoding

    enc = TransformerSourceEncoder(14, 16, 4, 32, 1, max_len=12, count_from_end=True)
    src = torch.randint(3, 14, (2, 7), generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([7, 4])
    src[1, 4:] = 0
    x = enc._embed_both_ends(src, lengths) - enc.embedding(src) * 4.0            # the positions alone
    half = sinusoidal_positional_encoding(12, 8)
    close = lambda a, b: torch.allclose(a, b, atol=1e-5)
    assert close(x[0, :, :8], half[:7]) and close(x[1, :4, :8], half[:4])
    assert close(x[0, :, 8:], half[[6, 5, 4, 3, 2, 1, 0]])                       # 6 … 0 from the end
    assert close(x[1, :4, 8:], half[[3, 2, 1, 0]])                                # its own length, 4
    out, _ = enc(src, lengths)
    other = src.clone()
    other[1, 5] = 7                                                               # a padded position
    assert torch.equal(enc(other, lengths)[0][1], out[1])
    with pytest.raises(ValueError, match="count_from_end"):
        TransformerSourceEncoder(14, 18, 2, 32, 1, max_len=12, count_from_end=True)
