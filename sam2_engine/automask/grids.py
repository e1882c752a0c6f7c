"""Where the automatic mask generator looks: point grids and the crops of each crop layer.

Both reproduce the official generator's numbers exactly (the same floats for the grid, the
same integer boxes for the crops), so that prompts, and therefore masks, are the same.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def point_grid(points_per_side: int) -> np.ndarray:
    """(n * n, 2) float64 xy points at the centres of an n x n grid over [0, 1]^2.

    Rows come one after another (x varies fastest), the order in which the points are prompted.
    """
    n = int(points_per_side)
    if n <= 0:
        return np.zeros((0, 2))
    half_cell = 1 / (2 * n)
    ticks = np.linspace(half_cell, 1 - half_cell, n)
    ys, xs = np.meshgrid(ticks, ticks, indexing="ij")  # (n, n) each, row-major
    return np.stack([xs.ravel(), ys.ravel()], axis=-1)


def layer_point_grids(
    points_per_side: int, crop_n_layers: int, downscale_factor: int
) -> list[np.ndarray]:
    """One grid per crop layer: layer i has ``int(points_per_side / downscale_factor**i)``
    points per side (possibly none)."""
    return [
        point_grid(int(points_per_side / (downscale_factor**layer)))
        for layer in range(crop_n_layers + 1)
    ]


def crop_boxes(
    height: int, width: int, crop_n_layers: int, overlap_ratio: float
) -> list[tuple[tuple[int, int, int, int], int]]:
    """The crops to segment: ``[((x0, y0, x1, y1), layer), ...]``.

    Layer 0 is the whole image. Layer i >= 1 splits each side into 2**i overlapping crops;
    neighbours overlap by ``overlap_ratio * short side * 2 / 2**i`` pixels (rounded down).
    Within a layer the crops go column by column (x0 outer, y0 inner). Boxes are half-open
    pixel ranges, clipped to the image.
    """
    boxes = [((0, 0, width, height), 0)]
    short_side = min(height, width)
    for layer in range(1, crop_n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = math.ceil((overlap * (per_side - 1) + width) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + height) / per_side)
        x_starts = [int((crop_w - overlap) * i) for i in range(per_side)]
        y_starts = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in itertools.product(x_starts, y_starts):
            boxes.append(((x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)), layer))
    return boxes
