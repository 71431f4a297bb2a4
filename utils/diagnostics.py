"""Looking inside a trained sequence-to-sequence model: how far does the loss reach back?

Chapter 1 names three flaws of the plain encoder–decoder; one of them is that the gradient of the
loss fades as it travels back through the recurrence, so the first source tokens barely move the
loss. :func:`source_gradient_norms` measures that directly: the size of ``∂L/∂x_j`` for every
source position ``j``. Chapter 7 draws the same profile for an attention decoder and a
Transformer, whose paths from every source token to the loss are short.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from utils.seq2seq import Seq2Seq
from utils.validate import require_lengths

__all__ = ["source_gradient_norms"]


def source_gradient_norms(model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor,
                          tgt_in: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """``‖∂L/∂x_j‖`` for every source position j: the gradient of the loss with respect to the
    embedding of each source token, averaged over the batch.

    Uses a forward hook on ``model.encoder.embedding`` (no change to the model). All sources must
    have the same length (so that position j is the same distance from the end in every row).

    Returns:
        ``(S,)`` on the CPU: the mean over the batch of the L2 norm of ``∂L/∂(E x_j)``.

    Raises:
        ValueError: padded or empty sources; see also :meth:`utils.seq2seq.Seq2Seq.forward`.
    """
    require_lengths("src_lengths", src_lengths, min_length=1)
    if len(src_lengths) == 0:
        raise ValueError("source_gradient_norms needs at least one example (the batch is empty)")
    if int(src_lengths.min()) != src.shape[1] or int(src_lengths.max()) != src.shape[1]:
        raise ValueError("source_gradient_norms needs unpadded sources of one length")
    captured = []

    def hook(module, inputs, output):
        output.retain_grad()
        captured.append(output)

    embedding = cast(nn.Module, model.encoder.embedding)  # the encoder's nn.Embedding (typed Tensor | Module)
    handle = embedding.register_forward_hook(hook)
    was_training = model.training
    try:
        model.eval()
        model.zero_grad(set_to_none=True)
        logits, _ = model(src, src_lengths, tgt_in)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(),
                                           ignore_index=model.pad_id)
        loss.backward()
    finally:
        handle.remove()
        model.train(was_training)
    grad = captured[0].grad  # (B, S, E)
    model.zero_grad(set_to_none=True)
    return grad.norm(dim=-1).mean(0).detach().cpu()
