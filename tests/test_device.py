"""utils.device: device choice and seeding."""

import random

import numpy as np
import pytest
import torch

from utils.device import describe_device, pick_device, seed_everything


def test_pick_device_prefers_cuda_then_mps_then_cpu(capsys):
    device = pick_device()
    if torch.cuda.is_available():
        assert device.type == "cuda"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        assert device.type == "mps"
    else:
        assert device.type == "cpu"
    assert capsys.readouterr().out.startswith("Using device: ")


def test_prefer_and_environment_variable(monkeypatch):
    assert pick_device("cpu", verbose=False) == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device(verbose=False) == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer must be one of"):
        pick_device("tpu", verbose=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no cuda device"):
            pick_device("cuda", verbose=False)


def test_describe_device():
    assert describe_device(torch.device("cpu")) == "cpu"


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first
    with pytest.raises(ValueError, match="seed must be an int"):
        seed_everything(1.5)
