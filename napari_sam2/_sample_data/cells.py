"""The 2D+t sample: fluorescent cells that crawl about and divide."""

from __future__ import annotations

import numpy as np

from napari_sam2._sample_data.rendering import (
    SyntheticStack,
    _camera,
    _paste_object,
    _soft_ellipse,
    _window,
)

__all__ = ["make_cells_timelapse"]


class _Cell:
    """One cell of the time-lapse simulation, alive from its birth to its division."""

    def __init__(self, label: int, pos: np.ndarray, vel: np.ndarray, radius: float) -> None:
        self.label = label
        self.pos = pos.astype(float)
        self.vel = vel.astype(float)
        self.radius = radius  # radius the cell grows towards
        self.size = radius  # current mean radius
        self.angle = 0.0
        self.elongation = 1.25
        self.brightness = 1.0
        self.divides_at: int | None = None


def make_cells_timelapse(
    n_frames: int = 40,
    shape: tuple[int, int] = (256, 256),
    n_cells: int = 9,
    seed: int = 0,
) -> SyntheticStack:
    """A fluorescence time-lapse of cells that crawl about and divide.

    Cells are soft ellipses drifting with persistent random motion; a few of them round up,
    brighten and split into two daughters that move apart (daughters get new labels). The image
    has optical blur, slight photobleaching, Poisson shot noise and a 12-bit camera's range.

    Returns:
        SyntheticStack: ``image`` (T, Y, X) uint16, values within [0, 4095] and mostly far
        below; ``truth`` (T, Y, X) int32, one label per cell and daughter.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    height, width = shape
    margin = 24.0
    cells: list[_Cell] = []
    for label in range(1, n_cells + 1):
        pos = rng.uniform((margin, margin), (height - margin, width - margin))
        vel = rng.normal(0.0, 1.2, size=2)
        cell = _Cell(label, pos, vel, radius=rng.uniform(9.0, 13.0))
        cell.angle = rng.uniform(0, np.pi)
        cell.brightness = rng.uniform(0.7, 1.3)
        cells.append(cell)
    for cell in cells[:3]:  # three divisions, spread over the movie
        cell.divides_at = int(rng.integers(n_frames // 5, 4 * n_frames // 5))
    next_label = n_cells + 1
    for _ in range(10):  # start from a layout without overlaps
        _push_apart(cells)
    for cell in cells:
        cell.pos = np.clip(cell.pos, margin, np.array(shape) - margin)

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    signal = np.zeros((n_frames, height, width), np.float32)
    truth = np.zeros((n_frames, height, width), np.int32)
    for t in range(n_frames):
        best = np.zeros(shape, np.float32)
        for cell in cells:
            frames_left = None if cell.divides_at is None else cell.divides_at - t
            rounding = frames_left is not None and frames_left <= 3
            elongation = 1.0 if rounding else cell.elongation
            brightness = cell.brightness * (1.5 if rounding else 1.0)
            radii = (cell.size * elongation, cell.size / elongation)
            window = _window(cell.pos, 1.4 * cell.size * elongation + 3, shape)
            cover = _soft_ellipse(yy[window], xx[window], cell.pos, radii, cell.angle, 1.2)
            _paste_object(signal[t], best, truth[t], cover, window, brightness, cell.label)

        survivors: list[_Cell] = []
        for cell in cells:  # move, grow, divide
            cell.vel = 0.85 * cell.vel + rng.normal(0.0, 0.5, size=2)
            cell.pos += cell.vel
            for axis, extent in enumerate(shape):  # bounce off the borders
                if not margin <= cell.pos[axis] <= extent - margin:
                    cell.vel[axis] *= -1
                    cell.pos[axis] = np.clip(cell.pos[axis], margin, extent - margin)
            cell.size += 0.15 * (cell.radius - cell.size)
            cell.angle += rng.normal(0.0, 0.05)
            if cell.divides_at != t + 1:
                survivors.append(cell)
                continue
            axis_dir = np.array([np.cos(cell.angle), np.sin(cell.angle)])
            for sign in (-1.0, 1.0):
                pos = cell.pos + sign * 0.6 * cell.size * axis_dir
                daughter = _Cell(next_label, pos, sign * 1.6 * axis_dir, cell.radius)
                daughter.size = cell.size / np.sqrt(2)
                daughter.angle = cell.angle + np.pi / 2
                daughter.brightness = cell.brightness
                survivors.append(daughter)
                next_label += 1
        cells = survivors
        _push_apart(cells)

    # Optical blur, slight photobleaching, then photons and the camera.
    signal = ndimage.gaussian_filter(signal, sigma=(0, 1.2, 1.2))
    bleaching = np.exp(-np.arange(n_frames, dtype=np.float32) / 150.0)[:, None, None]
    photons = 420.0 * np.clip(signal, 0, None) * bleaching
    return SyntheticStack(_camera(photons, rng, background=60.0), truth)


def _push_apart(cells: list[_Cell]) -> None:
    """Soft contact repulsion: cells that come too close are pushed apart (and slowed)."""
    for i, first in enumerate(cells):
        for second in cells[i + 1 :]:
            offset = second.pos - first.pos
            dist = max(float(np.hypot(*offset)), 1e-3)
            overlap = 1.15 * (first.size * first.elongation + second.size * second.elongation)
            overlap -= dist
            if overlap > 0:
                push = 0.5 * min(overlap, 4.0) * offset / dist
                first.pos -= push
                second.pos += push
                first.vel -= 0.3 * push
                second.vel += 0.3 * push
