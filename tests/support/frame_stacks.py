"""The synthetic stacks of the frame-source tests."""

from __future__ import annotations

import numpy as np


def stack(t: int = 6, h: int = 20, w: int = 24, dtype: type = np.uint16, c: int = 0) -> np.ndarray:
    """A stack whose frame ``i`` holds ``i`` at pixel (0, 0) and a ramp elsewhere."""
    shape = (t, h, w) if not c else (t, h, w, c)
    data = (np.arange(np.prod(shape)) % 997).reshape(shape).astype(dtype)
    data[:, 0, 0] = np.arange(t)[:, None] if c else np.arange(t)
    return data
