"""Tests of utils.luong: scores against hand-computed cases, global = local with a window over the
whole source, local-m and local-p in the layer, and the decoder interface."""


import pytest
import torch

from utils.beam import select_state
from utils.local_attention import gaussian_factor, local_weights, predict_position
from utils.luong import LuongAttention, LuongDecoder, build_luong_model, teacher_forced_trace
from utils.masks import length_mask


def _layer(score, window="global", **kw):
    torch.manual_seed(0)
    return LuongAttention(2, 2, score, window, max_src_len=kw.pop("max_src_len", 4), **kw)


H_T = torch.tensor([[[1.0, 2.0]]])  # h_t (B=1, T=1, H=2)
H_BAR = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # h̄_s (B=1, S=3, D=2)


def test_dot_score_by_hand():
    att = _layer("dot")
    assert torch.allclose(att.scores(H_T, H_BAR), torch.tensor([[[1.0, 2.0, 3.0]]]))


def test_general_score_by_hand():
    att = _layer("general")
    with torch.no_grad():
        att.general.W_a.weight.copy_(torch.tensor([[2.0, 0.0], [1.0, -1.0]]))  # W_a
    # h_tᵀ W_a h̄_s: W_a h̄ = [2, 1], [0, -1], [2, 0]; dotted with [1, 2]: 4, -2, 2
    assert torch.allclose(att.scores(H_T, H_BAR), torch.tensor([[[4.0, -2.0, 2.0]]]))


def test_concat_score_by_hand():
    att = LuongAttention(2, 2, "concat", attention_size=1)
    with torch.no_grad():
        att.concat.W_q.weight.copy_(torch.tensor([[1.0, 0.0]]))  # W_a = [W_q, W_k] = [1 0 | 0 1]
        att.concat.W_k.weight.copy_(torch.tensor([[0.0, 1.0]]))
        att.concat.v.weight.copy_(torch.tensor([[2.0]]))
    # v tanh(W_a [h_t ; h̄_s]) = 2 tanh(h_t[0] + h̄_s[1]) = 2 tanh(1), 2 tanh(2), 2 tanh(2)
    expected = 2 * torch.tanh(torch.tensor([[[1.0, 2.0, 2.0]]]))
    assert torch.allclose(att.scores(H_T, H_BAR), expected)


def test_location_score_by_hand_ignores_the_source():
    att = _layer("location")
    with torch.no_grad():
        att.location.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 5.0]]))
    # W_a h_t = [1, 2, 3, 15], cut to the S = 3 source positions
    assert torch.allclose(att.scores(H_T, H_BAR), torch.tensor([[[1.0, 2.0, 3.0]]]))
    assert torch.allclose(att.scores(H_T, torch.randn(1, 3, 2)), torch.tensor([[[1.0, 2.0, 3.0]]]))
    with pytest.raises(ValueError, match="max_src_len=4"):
        att.scores(H_T, torch.randn(1, 5, 2))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(2, 2, "cosine")
    with pytest.raises(ValueError, match="window must be one of"):
        LuongAttention(2, 2, "dot", "local")
    with pytest.raises(ValueError, match="query_size == key_size"):
        LuongAttention(3, 2, "dot")
    with pytest.raises(ValueError, match="max_src_len"):
        LuongAttention(2, 2, "location")
    with pytest.raises(ValueError, match="enc_out must be"):
        _layer("dot")(torch.randn(1, 2), torch.randn(1, 3, 5))


@pytest.mark.parametrize("score", ["dot", "general", "concat", "location"])
@pytest.mark.parametrize("window", ["local-m", "local-p"])
def test_global_equals_local_with_a_window_over_the_whole_source(score, window):
    torch.manual_seed(0)
    glob = LuongAttention(4, 4, score, "global", max_src_len=6)
    loc = LuongAttention(4, 4, score, window, w=100, max_src_len=6, gaussian=False)
    loc.load_state_dict(glob.state_dict(), strict=False)
    query, enc_out = torch.randn(3, 2, 4), torch.randn(3, 6, 4)
    src_mask = length_mask(torch.tensor([6, 4, 1]), 6)
    step = torch.tensor([[0, 1]] * 3)
    a = glob(query, enc_out, src_mask)
    b = loc(query, enc_out, src_mask, step=step)
    assert torch.allclose(a.weights, b.weights, atol=1e-6) and torch.allclose(a.context, b.context, atol=1e-6)
    assert a.position is None and b.position.shape == (3, 2)
    assert torch.all(a.weights[1, :, 4:] == 0)


def test_local_m_centres_on_the_step_and_local_p_multiplies_by_the_gaussian():
    torch.manual_seed(0)
    enc_out, query = torch.randn(2, 9, 4), torch.randn(2, 4)
    m = LuongAttention(4, 4, "general", "local-m", w=2)
    out = m(query, enc_out, step=torch.tensor([3, 3]))
    assert torch.all(out.position == 3)
    assert torch.all(out.weights[:, :1] == 0) and torch.all(out.weights[:, 6:] == 0)
    assert torch.allclose(out.weights.sum(-1), torch.ones(2))
    p = LuongAttention(4, 4, "general", "local-p", w=2)
    out = p(query, enc_out)
    pos = predict_position(query, p.W_p.weight.T, p.v_p.weight[0], torch.tensor([9, 9]))
    assert torch.allclose(out.position, pos)
    align = local_weights(p.scores(query.unsqueeze(1), enc_out), pos.unsqueeze(1), 2, gaussian=False)[:, 0]
    assert torch.allclose(out.weights, align * gaussian_factor(pos, 9, 1.0))
    assert torch.allclose(out.context, (out.weights.unsqueeze(1) @ enc_out).squeeze(1))


def _toy_batch():
    torch.manual_seed(1)
    src = torch.randint(4, 12, (3, 7))
    lengths = torch.tensor([7, 5, 2])
    src = src.masked_fill(~length_mask(lengths, 7), 0)
    tgt_in = torch.cat([torch.ones(3, 1, dtype=torch.long), torch.randint(4, 9, (3, 4))], 1)
    return src, lengths, tgt_in


@pytest.mark.parametrize("score,window", [("dot", "global"), ("general", "local-m"),
                                          ("concat", "local-p"), ("location", "global")])
def test_decoder_stepping_agrees_with_teacher_forcing(score, window):
    model = build_luong_model(12, 9, 6, 4, score, window, w=1, max_src_len=7).eval()
    src, lengths, tgt_in = _toy_batch()
    with torch.no_grad():
        fast, w_fast = model(src, lengths, tgt_in)
        slow, w_slow = model(src, lengths, tgt_in, teacher_forcing=0.999999)
    assert fast.shape == (3, 5, 9) and w_fast.shape == (3, 5, 7)
    assert torch.allclose(fast, slow, atol=1e-5) and torch.allclose(w_fast, w_slow, atol=1e-6)
    assert torch.all(w_fast[2, :, 2:] == 0)  # padding gets nothing
    tokens, weights = model.greedy_decode(src, lengths, max_len=6)
    assert tokens.shape[0] == 3 and weights.shape[:2] == tokens.shape


def test_input_feeding_changes_the_input_and_carries_the_attentional_state():
    torch.manual_seed(0)
    fed = LuongDecoder(9, 6, 8, 8, "general", input_feeding=True)
    plain = LuongDecoder(9, 6, 8, 8, "general", input_feeding=False)
    assert fed.cell.input_size == 6 + 8 and plain.cell.input_size == 6
    enc_out, final = torch.randn(2, 5, 8), torch.randn(2, 8)
    state = fed.init_state(enc_out, final, None)
    assert torch.all(state.attentional == 0) and torch.all(state.step == 0)
    logits, new, weights = fed.step(torch.tensor([3, 4]), state, enc_out, None)
    att = fed.attention(new.hidden, enc_out)
    h_tilde = torch.tanh(fed.combine(torch.cat([att.context, new.hidden], -1)))
    assert torch.allclose(new.attentional, h_tilde) and torch.allclose(logits, fed.out(h_tilde))
    assert torch.all(new.step == 1) and torch.allclose(weights, att.weights)
    # the attentional state enters the next step: changing it changes the next output
    other = new._replace(attentional=torch.zeros_like(new.attentional))
    a, _, _ = fed.step(torch.tensor([3, 4]), new, enc_out, None)
    b, _, _ = fed.step(torch.tensor([3, 4]), other, enc_out, None)
    assert not torch.allclose(a, b)


def test_state_can_be_reordered_for_beam_search_and_positions_are_traced():
    model = build_luong_model(12, 9, 6, 4, "general", "local-p", w=1)
    src, lengths, tgt_in = _toy_batch()
    enc_out, src_mask, state = model.encode(src, lengths)
    picked = select_state(state, torch.tensor([2, 0]))
    assert picked.hidden.shape == (2, 8) and picked.keys.shape == (2, 7, 8)
    from utils.data import Batch
    batch = Batch(src, lengths, tgt_in, tgt_in, lengths)
    weights, positions = teacher_forced_trace(model, batch)
    assert weights.shape == (3, 5, 7) and positions.shape == (3, 5)
    assert ((positions >= 0) & (positions <= lengths.unsqueeze(1))).all()
    g = build_luong_model(12, 9, 6, 4, "general", "global")
    _, pos = teacher_forced_trace(g, batch)
    assert torch.isnan(pos).all()


def test_runs_on_the_inputs_device():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_luong_model(12, 9, 6, 4, "concat", "local-p", w=1).to(device)
    src, lengths, tgt_in = _toy_batch()
    logits, weights = model(src.to(device), lengths.to(device), tgt_in.to(device))
    assert logits.device.type == device and weights.device.type == device


def test_local_window_explorer_data_and_figure():
    import matplotlib
    matplotlib.use("Agg")
    from utils.widgets import draw_local_window, local_window_weights

    w = local_window_weights(center=7.5, w=3, S=20, gaussian=True)
    outside = (torch.arange(20) - 7.5).abs() > 3
    assert torch.all(w["local"][outside] == 0) and torch.all(w["align"][~outside] > 0)
    assert torch.allclose(w["local"], w["align"] * w["gaussian"])
    assert torch.allclose(w["global"].sum(), torch.tensor(1.0, dtype=torch.float64))
    assert float(w["local"].sum()) < 1.0
    plain = local_window_weights(center=7.5, w=3, S=20, gaussian=False)
    assert torch.allclose(plain["local"], plain["align"])
    fig = draw_local_window(center=2.0, w=2, S=10)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="center"):
        local_window_weights(center=30, S=20)


def test_local_p_windows_start_in_the_middle_of_each_source():
    attention = LuongAttention(4, 4, "general", "local-p", w=2)
    assert torch.equal(attention.v_p.weight, torch.zeros_like(attention.v_p.weight))
    query = torch.randn(3, 4)
    p = predict_position(query, attention.W_p.weight.T, attention.v_p.weight[0], torch.tensor([9, 6, 1]))
    assert torch.allclose(p, torch.tensor([4.5, 3.0, 0.5]))      # S · sigmoid(0) = S / 2
