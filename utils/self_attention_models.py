"""Models built on self-attention (chapter 6): a Transformer encoder that labels every position,
and a BiLSTM classifier with a self-attention layer and self-attentive pooling.

* :class:`TransformerTagger`: ``tokens (B, T)`` -> embedding + positions -> encoder -> a label
  per position ``(B, T, C)``. With no decoder, every output position is computed at once from
  the whole input, which suits tasks such as sorting, where each output needs every input.
* :class:`SelfAttentivePooling`: Lin et al. (2017), ``A = softmax(W_2 tanh(W_1 Gᵀ))``, ``M = A G``
  with ``G`` the matrix of token states (Lin et al. write ``H`` for it; in this course ``H`` is an
  RNN's hidden size): a learned summary of the sequence, with one weight per token (and per *hop*,
  ``r`` in the paper).
* :class:`BiLSTMSelfAttentionClassifier`: embedding -> bidirectional LSTM -> multi-head
  self-attention (residual + layer norm) -> self-attentive pooling -> linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from utils.attention import attention_pool, masked_softmax
from utils.data.sequences import Vocab
from utils.masks import length_mask
from utils.positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding
from utils.transformer import MultiHeadAttention
from utils.transformer_encoder import TransformerEncoder

__all__ = ["TransformerTagger", "tagging_tensors", "exact_match", "SelfAttentivePooling",
           "BiLSTMSelfAttentionClassifier", "ClassifierOutput"]


class TransformerTagger(nn.Module):
    """``tokens (B, T)`` -> ``logits (B, T, num_classes)``: a Transformer encoder with a linear head.

    Args:
        vocab_size, num_classes: input and output vocabulary sizes.
        d_model, num_heads, num_layers, d_ff, dropout, norm_first: the encoder's sizes.
        max_len: the longest sequence the positional encoding covers.
        positions: ``"sinusoidal"``, ``"learned"`` or ``None`` (no positions: order is invisible).
        pad_id: the padding token; padded keys are masked out.
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, d_ff: int = 128, max_len: int = 64, dropout: float = 0.0,
                 positions: str | None = "sinusoidal", norm_first: bool = True, pad_id: int = 0) -> None:
        super().__init__()
        if positions not in ("sinusoidal", "learned", None):
            raise ValueError(f"positions must be 'sinusoidal', 'learned' or None, got {positions!r}")
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.positions = {"sinusoidal": lambda: SinusoidalPositionalEncoding(d_model, max_len),
                          "learned": lambda: LearnedPositionalEncoding(d_model, max_len),
                          None: nn.Identity}[positions]()
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """``tokens (B, T)`` -> ``(logits (B, T, C), [weights (B, h, T, T)] per layer or None)``, h heads."""
        keep = tokens != self.pad_id  # (B, T), True = a real token
        x = self.positions(self.embedding(tokens))  # (B, T, d_model)
        x, weights = self.encoder(x, key_padding_mask=keep, need_weights=need_weights)
        return self.head(x), weights


def tagging_tensors(pairs: Sequence[tuple[Sequence[str], Sequence[str]]], vocab: Vocab
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ``(source, target)`` pairs of equal lengths side by side: ``tokens (N, T)``, ``targets (N, T)``.

    For a tagger, target ``t`` is the label of source position ``t`` (no ``<sos>``/``<eos>``).
    """
    if any(len(s) != len(t) for s, t in pairs):
        raise ValueError("every target must be as long as its source (one label per position)")
    T = max(len(s) for s, _ in pairs)
    pad = [vocab.pad_id]
    tokens = torch.tensor([vocab.encode(s) + pad * (T - len(s)) for s, _ in pairs], dtype=torch.long)
    targets = torch.tensor([vocab.encode(t) + pad * (T - len(t)) for _, t in pairs], dtype=torch.long)
    return tokens, targets


def exact_match(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = 0) -> float:
    """The fraction of sequences whose every non-padding position is predicted right.

    ``logits (N, T, C)`` (or predicted ids ``(N, T)``), ``targets (N, T)``.
    """
    predicted = logits.argmax(-1) if logits.dim() == 3 else logits
    right = (predicted == targets) | (targets == pad_id)  # (N, T); padding always counts as right
    return right.all(dim=1).float().mean().item()


class SelfAttentivePooling(nn.Module):
    """``A = softmax(W_2 tanh(W_1 Gᵀ))`` over the tokens, ``M = A G`` (Lin et al. 2017).

    ``G`` stacks the token states ``h_j`` as rows (Lin et al. call it ``H``, and so does the
    argument of :meth:`forward`; in the course's text ``H`` is an RNN's hidden size).

    Args:
        input_size: the size of each ``h_j``.
        attention_size: ``d_a``, the rows of ``W_1``.
        hops: ``r``, how many weightings (rows of ``A``) to learn.
    """

    def __init__(self, input_size: int, attention_size: int = 32, hops: int = 1) -> None:
        super().__init__()
        self.W_1 = nn.Linear(input_size, attention_size, bias=False)
        self.W_2 = nn.Linear(attention_size, hops, bias=False)

    def forward(self, H: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``H (B, T, d)`` (the states ``G``), ``mask (B, T)`` (True = a real token) -> ``(M (B, hops*d), A (B, hops, T))``."""
        scores = self.W_2(torch.tanh(self.W_1(H))).transpose(1, 2)  # (B, T, hops) -> (B, hops, T)
        A = masked_softmax(scores, None if mask is None else mask.unsqueeze(1))  # pads get weight 0
        M = attention_pool(A, H)  # (B, hops, T) @ (B, T, d) -> (B, hops, d)
        return M.flatten(1), A  # (B, hops, d) -> (B, hops*d)


class ClassifierOutput(NamedTuple):
    """What :class:`BiLSTMSelfAttentionClassifier` returns."""

    logits: torch.Tensor                # (B, num_classes)
    pool_weights: torch.Tensor          # (B, hops, T): the pooling's weight on each token
    self_weights: torch.Tensor | None   # (B, h, T, T): self-attention per head (h heads), or None


class BiLSTMSelfAttentionClassifier(nn.Module):
    """Embedding -> BiLSTM -> self-attention -> self-attentive pooling -> linear.

    Args:
        vocab_size, num_classes: sizes.
        embed_dim: token embedding size.
        hidden_size: per direction; the LSTM's outputs ``h_j = [→h_j; ←h_j]`` have ``2 * hidden_size``.
        num_heads: ``h``, the heads of the self-attention layer over the LSTM outputs.
        attention_size, hops: of the pooling (Lin et al. 2017).
        self_attention: False leaves the self-attention layer out (an ablation).
        pad_id: the padding token.
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32, hidden_size: int = 32,
                 num_heads: int = 2, attention_size: int = 32, hops: int = 1, self_attention: bool = True,
                 pad_id: int = 0) -> None:
        super().__init__()
        d = 2 * hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.self_attn = MultiHeadAttention(d, num_heads) if self_attention else None
        self.norm = nn.LayerNorm(d)
        self.pool = SelfAttentivePooling(d, attention_size, hops)
        self.out = nn.Linear(hops * d, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, need_weights: bool = True) -> ClassifierOutput:
        """``tokens (B, T)``, ``lengths (B,)`` -> :class:`ClassifierOutput`."""
        T = tokens.shape[1]
        keep = length_mask(lengths.to(tokens.device), T)  # (B, T), True = a real token
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        H, _ = self.lstm(packed)
        H, _ = pad_packed_sequence(H, batch_first=True, total_length=T)  # (B, T, 2*hidden)
        self_weights = None
        if self.self_attn is not None:
            A, self_weights = self.self_attn(H, key_padding_mask=keep, need_weights=need_weights,
                                             average_attn_weights=False)
            H = self.norm(H + A)  # residual + layer norm
        M, pool_weights = self.pool(H, keep)
        return ClassifierOutput(self.out(M), pool_weights, self_weights)
