"""What every figure of :mod:`utils.plots` accepts: a tensor on any device, or anything NumPy reads."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_numpy"]


def to_numpy(x) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64 if x.is_floating_point() else x.dtype).numpy()
    return np.asarray(x)
