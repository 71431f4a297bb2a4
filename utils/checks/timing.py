"""Time limits for the code a checker runs: a learner's loop that never ends must not hang the notebook.

``_Timeout`` keeps its name: records (:mod:`utils.checks.record`) carry an exception by its class
name, and the grader rebuilds this one from it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["time_limit"]


class _Timeout(Exception):
    """Raised inside :func:`time_limit` when its time is up."""


@contextmanager
def time_limit(seconds: float):
    """Stop code that runs too long (only possible in the main thread, where notebooks run)."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
