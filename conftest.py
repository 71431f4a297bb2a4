"""Root pytest configuration: applies to every run, `pytest solutions --nbval` included.

Kernels started by nbval inherit the environment: without progress bars the stored outputs are
reproducible, whether pytest is called from `make test` (which exports the same) or by hand.
"""

import os

os.environ.setdefault("COURSE_PROGRESS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")
