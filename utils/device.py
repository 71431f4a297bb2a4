"""Choosing where tensors live, and seeding every random number generator the course uses.

Every notebook starts with::

    from utils.device import pick_device, seed_everything
    device = pick_device()
    seed_everything(0)

`pick_device` prefers CUDA, then Apple's MPS, then the CPU. The CPU always works, and the stored
notebook outputs were produced on it.

One knob shifts every random choice a notebook makes about its models (initialisation, batch order,
sampling, dropout) without editing it: the environment variable ``COURSE_SEED_OFFSET``. With
``COURSE_SEED_OFFSET=k`` every model seed ``s`` becomes ``s + 1000·k`` (:func:`model_seed`), so the
seeds a notebook uses side by side (0, 1, 2, …) never meet another offset's. Data sets keep their
own seeds and stay the same. `seed_everything`, the model builders of ``utils`` and the batch
iterators of ``utils.data`` all go through :func:`model_seed`; ``tools/robustness.py`` uses the knob
to re-run every notebook under other seeds and check that its claims still hold.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

__all__ = ["pick_device", "seed_everything", "seed_offset", "model_seed", "describe_device",
           "native_capability", "emulated_capability", "other_capability", "CAPABILITY_ENV",
           "cpu_fingerprint", "available_devices", "resolve_device"]

SEED_OFFSET_ENV = "COURSE_SEED_OFFSET"
SEED_STRIDE = 1000  # model seed s under offset k is s + SEED_STRIDE·k


def pick_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """Return the best available device: CUDA, then MPS, then CPU.

    Args:
        prefer: force a device ("cpu", "cuda", "mps"). The environment variable
            ``COURSE_DEVICE`` does the same without editing a notebook (``COURSE_DEVICE=cpu``).
        verbose: print the choice, so a learner always sees where the work runs.

    Returns:
        A ``torch.device``.

    Raises:
        TypeError: if ``prefer`` is not a string.
        ValueError: if ``prefer`` is not a device name, or names a device this machine does not
            have (the message lists those it has).
    """
    if prefer is not None and not isinstance(prefer, str):
        raise TypeError(f"prefer must be a str such as 'cpu' or 'cuda', got {type(prefer).__name__}")
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
            have = [name for name, ok in available.items() if ok]
            raise ValueError(f"prefer={choice!r} but this machine has no {choice} device (it has {have})")
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


def seed_offset() -> int:
    """The offset ``COURSE_SEED_OFFSET`` asks for: 0 when the variable is unset or empty.

    Raises:
        ValueError: if the variable is set to something other than an integer.
    """
    raw = os.environ.get(SEED_OFFSET_ENV, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_OFFSET_ENV} must be an integer, got {raw!r}") from None


def model_seed(seed: int) -> int:
    """The seed to use for a random choice about a model: ``seed + 1000 · COURSE_SEED_OFFSET``.

    Use it for initialisation, batch order, sampling and dropout; never for making a data set,
    which must stay the same whatever the offset. With the variable unset it returns ``seed``.

    Raises:
        ValueError: if ``seed`` is not an int, or the variable is not an integer.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {type(seed).__name__}")
    return seed + SEED_STRIDE * seed_offset()


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU) with ``model_seed(seed)``.

    The same seed on the same device and library versions gives the same numbers, which is what
    lets the test suite re-run a notebook and compare its outputs with the stored ones. Under
    ``COURSE_SEED_OFFSET=k`` the generators get ``seed + 1000·k`` instead, and a line says so.

    Raises:
        ValueError: if ``seed`` is not an int, or ``COURSE_SEED_OFFSET`` is not an integer.
    """
    shifted = model_seed(seed)
    if shifted != seed:
        print(f"seed_everything({seed}): using seed {shifted} ({SEED_OFFSET_ENV}={seed_offset()})")
    random.seed(shifted)
    np.random.seed(shifted % 2**32)
    torch.manual_seed(shifted)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(shifted)


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


# ----------------------------------------------------------------------------------------------
# Another CPU on this one: PyTorch's kernels for a narrower vector width
# ----------------------------------------------------------------------------------------------
CAPABILITY_ENV = "ATEN_CPU_CAPABILITY"


def native_capability(cpuinfo: str | None = None) -> str:
    """The widest kernels PyTorch picks on this x86 CPU by itself: ``"avx512"``, ``"avx2"`` or
    ``"default"`` (read from the CPU's flags, so an ``ATEN_CPU_CAPABILITY`` set in this process
    does not change it; other architectures get ``"default"``)."""
    width = cpu_fingerprint(cpuinfo).rsplit(" ", 1)[-1]
    return width if width in ("avx512", "avx2") else "default"


def emulated_capability() -> str | None:
    """The narrower kernels ``ATEN_CPU_CAPABILITY`` selects in this process, or None if it selects
    what the CPU would pick anyway (or is unset).

    PyTorch picks its CPU kernels by the widest vector instructions the CPU has; the variable
    makes it pick narrower ones, so that this CPU computes what another CPU computes: other last
    bits in sums, ``exp`` and matrix products, and random normals (``torch.randn``) too. The test
    suite runs part of itself that way (``tests/test_other_cpu.py``)."""
    requested = os.environ.get(CAPABILITY_ENV, "").strip().lower()
    return requested if requested and requested != native_capability() else None


def other_capability(cpuinfo: str | None = None) -> str | None:
    """A capability this machine can run that is not its own: ``"avx2"`` on an AVX-512 CPU,
    ``"default"`` on an AVX2 one, None where there is nothing narrower."""
    return {"avx512": "avx2", "avx2": "default"}.get(native_capability(cpuinfo))


def available_devices() -> list[str]:
    """The device names this machine can use: always ``"cpu"``, then ``"cuda"``/``"cuda:i"``, ``"mps"``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    backend = getattr(torch.backends, "mps", None)
    if backend is not None and backend.is_available():
        names.append("mps")
    return names


def resolve_device(device, name: str = "device") -> torch.device:
    """``device`` (a string or ``torch.device``) as a ``torch.device`` this machine has.

    Raises:
        TypeError: not a string or ``torch.device``.
        ValueError: an unknown name (``"gpu"``) or a device this machine lacks (``"cuda"`` on a
            CPU-only machine); the message lists what it has.
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device, got {type(device).__name__}")
    have = available_devices()
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"{name}={device!r} is not a device name; this machine has {have}") from None
    if resolved.type == "cpu":
        return resolved
    ok = (resolved.type == "cuda" and torch.cuda.is_available()
          and (resolved.index is None or resolved.index < torch.cuda.device_count()))
    ok |= resolved.type == "mps" and "mps" in have
    if not ok:
        raise ValueError(f"{name}={device!r} is not available on this machine, which has {have}")
    return resolved
