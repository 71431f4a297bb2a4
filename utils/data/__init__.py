"""Data the course generates itself, with a seed: nothing is downloaded.

One module per kind of data; everything is re-exported here, so ``from utils.data import …``.
"""

from utils.data.sequences import *  # noqa: F401,F403  vocabularies, copy/reverse/sort, batching
