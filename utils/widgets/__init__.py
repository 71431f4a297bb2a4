"""Interactive explorers, one module per chapter. Each has a ``draw_…`` function (a plain
Matplotlib figure, used for the book's static view and in tests) and a widget that redraws it as
the learner moves the controls.

Each explorer also draws its figure ahead for a grid of control values
(:class:`utils.static_explorer.StaticExplorer`): JupyterLab shows the live widget, the book,
which has no kernel, shows those frames with radio buttons that switch them without Python.

====================  ======================================================  ==============
module                what the learner explores                               chapter
====================  ======================================================  ==============
``weighted_average``  one query against five keys: scores, softmax, context   2
``glimpses``          a caption word by word, and where each word looked      3
``decoding``          greedy decoding step by step, and where it looked       4 (and 7)
``local_window``      Luong's local window against global attention           5
``positions``         sinusoidal positional encodings and their similarity    6
``online_softmax``    one query's keys read block by block: m, ℓ and o/ℓ      8
``live``              what every live view shares: controls that redraw       all
====================  ======================================================  ==============

``from utils.widgets import attention_explorer`` (and every other name below) works as before
the split into chapters.
"""

from utils.widgets.decoding import decoding_stepper, draw_decoding_step
from utils.widgets.glimpses import draw_glimpse_step, glimpse_stepper
from utils.widgets.local_window import draw_local_window, local_window_explorer, local_window_weights
from utils.widgets.online_softmax import draw_online_softmax, online_softmax_explorer, online_softmax_trace
from utils.widgets.positions import draw_positions, positions_explorer
from utils.widgets.weighted_average import EXPLORER_LABELS, attention_explorer, draw_explorer, explorer_vectors, explorer_weights

__all__ = ["EXPLORER_LABELS", "explorer_vectors", "explorer_weights", "draw_explorer", "attention_explorer",
           "draw_glimpse_step", "glimpse_stepper",
           "draw_decoding_step", "decoding_stepper",
           "local_window_weights", "draw_local_window", "local_window_explorer",
           "draw_positions", "positions_explorer",
           "online_softmax_trace", "draw_online_softmax", "online_softmax_explorer"]
