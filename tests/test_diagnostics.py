"""utils.diagnostics: the gradient of the loss with respect to every source position."""

import pytest
import torch
from torch import nn

from utils.diagnostics import source_gradient_norms
from utils.seq2seq import Encoder, PlainDecoder, Seq2Seq, length_mask

V = 9  # vocabulary size of the small model below

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_model(cell: str) -> Seq2Seq:
    torch.manual_seed(0)
    enc = Encoder(V, 5, 8, cell=cell)
    return Seq2Seq(enc, PlainDecoder(V, 4, 7, enc.output_size, cell=cell))


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
