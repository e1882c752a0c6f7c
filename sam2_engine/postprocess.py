"""Mask post-processing that the official code runs only with its CUDA extension.

Here it runs on every device, on the CPU with scipy's connected components (8-connectivity,
as the official kernel).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _small_components(binary: np.ndarray, max_area: int) -> np.ndarray:
    """Pixels of (H, W) ``binary`` that belong to a connected component of area <= max_area."""
    labels, count = ndimage.label(binary, structure=_EIGHT_CONNECTED)
    if count == 0:
        return np.zeros_like(binary)
    areas = np.bincount(labels.ravel())
    small = areas <= max_area
    small[0] = False  # label 0 is the other class
    return small[labels]


def fill_holes(logits: torch.Tensor, max_area: int, fill_value: float = 0.1) -> torch.Tensor:
    """Turn background regions of area <= ``max_area`` into foreground.

    Args:
        logits: (N, 1, H, W) mask logits; background is ``<= 0``.
        max_area: largest hole (in pixels of ``logits``) to fill.
        fill_value: logit written into filled holes (the official value is 0.1).

    Returns:
        A new tensor of the same shape, dtype and device.
    """
    if max_area <= 0:
        return logits
    background = (logits <= 0).cpu().numpy()
    holes = np.zeros_like(background)
    for i in range(background.shape[0]):
        holes[i, 0] = _small_components(background[i, 0], max_area)
    if not holes.any():
        return logits
    holes_t = torch.from_numpy(holes).to(logits.device)
    return torch.where(holes_t, torch.full_like(logits, fill_value), logits)


def remove_sprinkles(logits: torch.Tensor, max_area: int, threshold: float = 0.0) -> torch.Tensor:
    """Turn foreground specks of area <= ``max_area`` into background (logit threshold - 10)."""
    if max_area <= 0:
        return logits
    foreground = (logits > threshold).cpu().numpy()
    specks = np.zeros_like(foreground)
    for i in range(foreground.shape[0]):
        specks[i, 0] = _small_components(foreground[i, 0], max_area)
    if not specks.any():
        return logits
    specks_t = torch.from_numpy(specks).to(logits.device)
    return torch.where(specks_t, torch.full_like(logits, threshold - 10.0), logits)
