"""Data the course generates itself, with a seed: nothing is downloaded.

One module per kind of data; everything is re-exported here, so ``from utils.data import …``.
"""

from utils.data.dates import *  # noqa: F403  date normalisation to ISO, with field spans
from utils.data.digits import *  # noqa: F403  canvases of handwritten digits (chapter 3)
from utils.data.sequences import *  # noqa: F403  vocabularies, copy/reverse/sort, batching
from utils.data.streams import *  # noqa: F403  random symbol streams: the first symbol, asked everywhere
from utils.data.text import *  # noqa: F403  a synthetic text-classification task
