"""utils.cost.longest_chain: hand-counted graphs, then the three models of chapter 7."""

import pytest
import torch
from torch import nn

from utils.cost import longest_chain


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
