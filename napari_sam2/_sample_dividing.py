"""A generated time-lapse of dividing cells with its ground-truth lineage (no binary files).

Three cells drift slowly; cell 1 divides on frame 8 into cells 4 and 5, cell 2 on frame 14
into 6 and 7, and cell 4 divides again on frame 21 into 8 and 9 (with the default 30 frames).
Before a division the mother stretches into a dumbbell for three frames (one connected mask,
still the mother); on the division frame the two lobes come apart and are the daughters, which
then move apart and grow. The truth labels each cell with its track id, as the Cell Tracking
Challenge does, and ``lineage`` maps each daughter to its mother. Only numpy and scipy, never
napari or torch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from napari_sam2._sample_data.commands import _contrast_limits, _metadata
from napari_sam2._sample_data.rendering import _camera, _soft_ellipse

#: (mother, frame, angle of the division axis in radians) of the default movie; a division
#: frame beyond the movie's end does not happen.
DIVISIONS = ((1, 8, 0.0), (2, 14, np.pi / 2), (4, 21, np.pi / 2))
#: Frames a mother spends as a dumbbell before it divides.
ROUNDING_FRAMES = 3


class DividingCells(NamedTuple):
    """The movie, its track-id labels and its lineage.

    Attributes:
        image: (T, Y, X) uint16 (12-bit camera range).
        truth: (T, Y, X) uint16, each pixel the track id of the cell there (0 background).
        lineage: daughter id -> mother id.
    """

    image: np.ndarray
    truth: np.ndarray
    lineage: dict[int, int]


class _Cell:
    def __init__(self, label: int, pos: tuple[float, float], radius: float) -> None:
        self.label = label
        self.pos = np.array(pos, float)
        self.vel = np.zeros(2)
        self.size = radius
        self.target = radius
        self.divides: tuple[int, float] | None = None  # (frame, angle)


def make_dividing_cells(
    n_frames: int = 30, shape: tuple[int, int] = (160, 160), seed: int = 0
) -> DividingCells:
    """A fluorescence time-lapse of dividing cells with ground truth (see the module doc).

    Arguments:
        n_frames: frames of the movie (divisions after its end do not happen).
        shape: (Y, X) of a frame; the layout is made for 160 x 160 and scales with it.
        seed: the noise and drift.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    height, width = shape
    scale = min(height, width) / 160
    cells = [
        _Cell(1, (0.27 * height, 0.3 * width), 10 * scale),
        _Cell(2, (0.3 * height, 0.75 * width), 10 * scale),
        _Cell(3, (0.75 * height, 0.5 * width), 9 * scale),
    ]
    schedule = {mother: (frame, angle) for mother, frame, angle in DIVISIONS}
    for cell in cells:
        cell.divides = schedule.get(cell.label)
    lineage: dict[int, int] = {}
    next_label = 4
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    signal = np.zeros((n_frames, height, width), np.float32)
    truth = np.zeros((n_frames, height, width), np.uint16)
    for t in range(n_frames):
        born: list[_Cell] = []
        for cell in cells:
            if cell.divides is not None and cell.divides[0] == t:
                born += _daughters(cell, next_label, schedule)
                lineage.update({next_label: cell.label, next_label + 1: cell.label})
                next_label += 2
        cells = [c for c in cells if c.divides is None or c.divides[0] != t] + born
        best = np.zeros(shape, np.float32)
        for cell in cells:
            for centre, radius in _lobes(cell, t):
                cover = _soft_ellipse(yy, xx, tuple(centre), (radius, radius), 0.0, 1.0)
                signal[t] += cover
                truth[t][(cover > 0.5) & (cover > best)] = cell.label
                best = np.maximum(best, cover)
        for cell in cells:
            cell.vel = 0.8 * cell.vel + rng.normal(0.0, 0.15, size=2)
            cell.pos = np.clip(
                cell.pos + cell.vel, 2 * cell.target, np.array(shape) - 2 * cell.target
            )
            cell.size += 0.2 * (cell.target - cell.size)
    signal = ndimage.gaussian_filter(signal, sigma=(0, 1.0, 1.0))
    photons = 400.0 * np.clip(signal, 0, None)
    return DividingCells(_camera(photons, rng, background=60.0), truth, lineage)


def _lobes(cell: _Cell, t: int) -> list[tuple[np.ndarray, float]]:
    """The discs drawn for a cell: one, or a connected dumbbell in the frames before it
    divides."""
    if cell.divides is None or not 0 < cell.divides[0] - t <= ROUNDING_FRAMES:
        return [(cell.pos, cell.size)]
    step = ROUNDING_FRAMES - (cell.divides[0] - t)  # 0, 1, 2
    lobe = cell.size / np.sqrt(2)
    offset = (0.3 + 0.13 * step) * cell.size * _direction(cell.divides[1])
    return [(cell.pos - offset, lobe), (cell.pos + offset, lobe)]


def _daughters(cell: _Cell, first: int, schedule: dict[int, tuple[int, float]]) -> list[_Cell]:
    axis = _direction(cell.divides[1])  # type: ignore[index]
    daughters = []
    for label, sign in ((first, -1.0), (first + 1, 1.0)):
        daughter = _Cell(label, tuple(cell.pos + sign * 0.95 * cell.size * axis), cell.size)
        daughter.size = cell.size / np.sqrt(2)
        daughter.target = 0.85 * cell.target
        daughter.vel = sign * 1.2 * axis
        daughter.divides = schedule.get(label)
        daughters.append(daughter)
    return daughters


def _direction(angle: float) -> np.ndarray:
    return np.array([np.sin(angle), np.cos(angle)])


def dividing_cells_sample() -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """napari sample: dividing cells (2D+t, uint16) and their ground-truth track labels."""
    sample = make_dividing_cells()
    image_kwargs = {
        "name": "dividing cells (2D+t)",
        "colormap": "gray",
        "contrast_limits": _contrast_limits(sample.image),
        "metadata": _metadata("make_dividing_cells", "TYX", bit_depth=12),
        "axis_labels": ("t", "y", "x"),
    }
    truth_kwargs = {
        "name": "dividing cells: truth",
        "metadata": {"lineage": {str(d): p for d, p in sample.lineage.items()}},
        "axis_labels": ("t", "y", "x"),
        "visible": False,
    }
    return [(sample.image, image_kwargs, "image"), (sample.truth, truth_kwargs, "labels")]
