"""Figures the chapters share. Every function draws on a Matplotlib ``Axes`` (a new one if none is
given) and returns it, so a notebook can arrange several panels. Inputs may be tensors on any
device or NumPy arrays.

=========================  ==========================================================  ==========
module                     what it draws                                               chapters
=========================  ==========================================================  ==========
``attention_maps``         heatmaps of ``α_{t,j}``, one query's weights as bars, a     2–7
                           grid per layer and head, tokens shaded by their weight
``accuracy``               accuracy against source length, error by position, a        1, 7
                           prediction compared token by token with its target
``images``                 attention laid over an image's regions, word by word        3
``arrays``                 ``to_numpy``: what every figure accepts                     all
=========================  ==========================================================  ==========

``from utils.plots import attention_heatmap`` (and every other name below) works as before the
split. Importing this package changes nothing outside it: the alt text every shown figure
carries is switched on explicitly, by :func:`utils.alt_text.install_alt_text`.
"""

from utils.plots.accuracy import accuracy_vs_length, compare_tokens, error_by_position
from utils.plots.arrays import to_numpy
from utils.plots.attention_maps import attention_grid, attention_heatmap, token_weights, weights_bar
from utils.plots.images import attention_overlay, caption_attention

__all__ = ["to_numpy", "attention_heatmap", "weights_bar", "attention_grid", "token_weights",
           "accuracy_vs_length", "error_by_position", "compare_tokens",
           "attention_overlay", "caption_attention"]
