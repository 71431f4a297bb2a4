"""Choosing where tensors live, and seeding every random number generator the course uses.

Every notebook starts with::

    from utils.device import pick_device, seed_everything
    device = pick_device()
    seed_everything(0)

`pick_device` prefers CUDA, then Apple's MPS, then the CPU. The CPU always works, and the stored
notebook outputs were produced on it.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

__all__ = ["pick_device", "seed_everything", "describe_device", "cpu_fingerprint"]


def pick_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """Return the best available device: CUDA, then MPS, then CPU.

    Args:
        prefer: force a device ("cpu", "cuda", "mps"). The environment variable
            ``COURSE_DEVICE`` does the same without editing a notebook (``COURSE_DEVICE=cpu``).
        verbose: print the choice, so a learner always sees where the work runs.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: if ``prefer`` names a device this machine does not have.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice is not None:
        choice = choice.lower()
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": _mps_available(),
        }
        if choice not in available:
            raise ValueError(f"prefer must be one of {sorted(available)}, got {choice!r}")
        if not available[choice]:
            raise ValueError(f"prefer={choice!r} but this machine has no {choice} device")
        device = torch.device(choice)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif _mps_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(f"Using device: {describe_device(device)}")
    return device


def describe_device(device: torch.device) -> str:
    """A short human-readable name: ``cpu``, ``cuda (NVIDIA H100 …)`` or ``mps``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU).

    The same seed on the same device and library versions gives the same numbers, which is what
    lets the test suite re-run a notebook and compare its outputs with the stored ones.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def cpu_fingerprint(cpuinfo: str | None = None) -> str:
    """A short name for the kind of CPU, e.g. ``"x86_64 AuthenticAMD family 25 model 17 avx512"``.

    Trained models' digits depend on it: the same seed and the same code give other last digits on
    another CPU model, because PyTorch and its BLAS pick other vector kernels there (AVX2 against
    AVX-512, say), and a few rounding differences grow over hundreds of training steps. The test
    suite compares training-dependent outputs only on the kind of CPU that made them (see
    ``tests/outputs_cpu.txt``).

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (read from the system if None; empty where there
            is none, as on macOS and Windows, and then only the machine and processor names are used).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    parts = [platform.machine() or "unknown"]
    if "vendor_id" in fields:
        parts += [fields["vendor_id"], "family", fields.get("cpu family", "?"), "model", fields.get("model", "?")]
        flags = fields.get("flags", "").split()
        parts.append("avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "no-avx2")
    else:
        parts.append(platform.processor() or fields.get("CPU implementer", "unknown"))
    return " ".join(parts)
