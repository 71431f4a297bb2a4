"""utils.cost: longest_chain on hand-counted graphs, then the three models of chapter 7; peak_memory and
saved_for_backward on allocations counted by hand, then attention (chapter 8)."""

import pytest
import torch
from torch import nn

from utils.cost import longest_chain, peak_memory, saved_for_backward


def test_no_graph_is_zero():
    x = torch.randn(3, requires_grad=True)
    assert longest_chain(x) == 0                                  # a leaf: nothing was computed
    with torch.no_grad():
        assert longest_chain(x * 2) == 0


def test_a_chain_of_n_operations():
    x = torch.randn(3, requires_grad=True)
    y = x
    for _ in range(7):
        y = torch.tanh(y)
    assert longest_chain(y) == 7
    assert longest_chain(y.sum()) == 8


def test_parallel_branches_count_once():
    x = torch.randn(3, requires_grad=True)
    a = torch.tanh(torch.tanh(x))                                 # 2 operations
    b = torch.sigmoid(x)                                          # 1 operation, side by side with a
    assert longest_chain(a + b) == 3                              # the longer branch, then the addition
    wide = sum(torch.tanh(x * k) for k in range(1, 20))           # 19 branches of 2, added to 0 one by one
    assert longest_chain(wide) == 2 + 19


def test_shared_nodes_are_not_counted_twice_and_long_chains_do_not_overflow():
    x = torch.randn(2, requires_grad=True)
    y = x
    for _ in range(5000):                                         # deeper than Python's recursion limit
        y = y * 1.0001 + y                                        # y feeds two operations each step
    assert longest_chain(y) == 2 * 5000


def test_a_recurrence_grows_with_length_and_attention_does_not():
    torch.manual_seed(0)
    gru = nn.GRU(8, 8, batch_first=True)
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    chains = {}
    for T in (4, 8, 16):
        x = torch.randn(1, T, 8)
        chains["gru", T] = longest_chain(gru(x)[0])
        chains["attention", T] = longest_chain(attention(x, x, x)[0])
    per_step = chains["gru", 16] - chains["gru", 8]
    assert per_step == 2 * (chains["gru", 8] - chains["gru", 4]) > 0   # linear in T
    assert chains["attention", 4] == chains["attention", 8] == chains["attention", 16] > 0


@pytest.mark.parametrize("T", [8, 32])
def test_chapter7_encoders(T):
    from utils.bahdanau import build_bahdanau_model
    from utils.data.sequences import Vocab
    from utils.length_experiment import build_plain_model, length_experiment_config
    from utils.transformer_decoder import build_transformer_model

    cfg = length_experiment_config()
    vocab = Vocab("abcdefghij")
    n = len(vocab)
    gru = build_plain_model(vocab, cfg).encoder
    bahdanau = build_bahdanau_model(n, n, emb_dim=cfg.emb_dim, hidden_size=16, attention_size=8).encoder
    transformer = build_transformer_model(n, n, d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=64).encoder
    src = torch.randint(4, n, (2, T))
    lengths = torch.tensor([T, T - 3])
    chains = {name: longest_chain(encoder(src, lengths)[0])
              for name, encoder in (("gru", gru), ("bahdanau", bahdanau), ("transformer", transformer))}
    assert chains["gru"] >= T and chains["bahdanau"] >= T          # at least one operation per step
    assert chains["transformer"] < 40


# ------------------------------------------------------------------------------------------
# peak_memory: the CPU allocator's allocations and frees, summed in time order
# ------------------------------------------------------------------------------------------
N = 250_000                                                       # 1,000,000 bytes in float32


def test_peak_memory_counts_what_is_held_at_once():
    assert peak_memory(lambda: torch.ones(N)) == 4 * N            # one tensor, returned
    assert peak_memory(lambda: torch.ones(N) + torch.ones(N)) == 3 * 4 * N   # two operands and the sum
    def one_at_a_time():
        for _ in range(5):
            torch.ones(N)                                          # freed before the next one is made
    assert peak_memory(one_at_a_time) == 4 * N
    assert peak_memory(lambda: None) == 0


def test_peak_memory_ignores_what_existed_before_and_is_silent(capfd):
    kept = torch.ones(4 * N)
    assert peak_memory(lambda: kept.neg()) == 4 * 4 * N           # only the result is new
    assert peak_memory(lambda: kept.sum()) < 1024                 # a scalar: nothing like kept's size
    out, err = capfd.readouterr()
    assert out == "" and err == ""                                # the profiler's C++ log line does not leak


def test_peak_memory_of_attention_is_the_score_matrix():
    for T in (256, 512):
        q = torch.randn(1, 1, T, 16)
        with torch.no_grad():
            peak = peak_memory(lambda q=q: torch.softmax(q @ q.transpose(-2, -1), dim=-1) @ q)
        assert 2 * T * T * 4 <= peak <= 2 * T * T * 4 + 4 * T * 16 * 4   # scores and weights at once, (T, T) each


def test_peak_memory_rejects_a_non_function():
    with pytest.raises(TypeError, match="fn must be a function"):
        peak_memory(torch.ones(3))


# ------------------------------------------------------------------------------------------
# saved_for_backward: what autograd keeps for the backward pass
# ------------------------------------------------------------------------------------------
def test_saved_for_backward_counts_each_storage_once():
    a = torch.randn(30, 40, requires_grad=True)
    b = torch.randn(40, 50, requires_grad=True)
    assert saved_for_backward(lambda: a @ b) == a.nbytes + b.nbytes           # a product keeps both operands
    assert saved_for_backward(lambda: torch.softmax(a, -1)) == a.nbytes       # a softmax keeps its output (30 x 40)
    assert saved_for_backward(lambda: a[:10] @ b + a[10:20] @ b) == a.nbytes + b.nbytes   # views of a: once
    with torch.no_grad():
        assert saved_for_backward(lambda: a @ b) == 0                        # no graph, nothing saved
    assert saved_for_backward(lambda: torch.randn(3) * 2) == 0                # nothing requires a gradient


def test_saved_for_backward_of_attention_holds_the_weights():
    T, d = 128, 8
    q = torch.randn(1, T, d, requires_grad=True)
    saved = saved_for_backward(lambda: torch.softmax(q @ q.transpose(-2, -1), dim=-1) @ q)
    assert saved >= T * T * 4                                     # the (T, T) weights, at least


def test_saved_for_backward_rejects_a_non_function():
    with pytest.raises(TypeError, match="fn must be a function"):
        saved_for_backward(3)
