"""Test-wide fixtures. The rule that relaxes training-dependent outputs lives in the root conftest.py."""

import os

import pytest

# Kernels started by nbval inherit this: no progress bars, so stored outputs are reproducible.
os.environ.setdefault("COURSE_PROGRESS", "0")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test and make unit run one pytest worker per core: each worker's PyTorch gets one thread,
    # or the workers' threads fight over the cores (measured on 2 cores: a 3 s test took 22 s).
    # Kernels started by nbval are other processes and keep their own setting.
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread, and a busy machine does not slow them down."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ours(fn):
    """``fn`` as if a learner had written it: checkers reject the course's own functions by
    identity, and the tests use the references as stand-ins for a right answer."""
    def answer(*args, **kwargs):
        return fn(*args, **kwargs)
    answer.__name__ = getattr(fn, "__name__", "answer")
    return answer
