"""Synthetic sample stacks, generated on the fly (no binary files in git).

Four small, deterministic stacks cover the data the plugin is made for:

* ``make_cells_timelapse``: 2D+t fluorescence of moving, dividing cells, ``(T, Y, X)`` uint16
  with a 12-bit camera's low dynamic range and shot noise.
* ``make_nuclei_stack``: a 3D stack of blob-like nuclei, ``(Z, Y, X)`` uint16; z is the axis
  the tracker propagates along.
* ``make_ultrasound_cine``: speckle inside a fan-shaped field of view with a moving bright
  structure, ``(T, Y, X)`` uint8.
* ``make_rgb_video``: a short colour video, ``(T, Y, X, 3)`` uint8: two coloured objects moving
  over a textured, slowly panning background.

Each generator returns a :class:`SyntheticStack` ``(image, truth)``: the image and an int32
label array of the generating objects (no channel axis), usable as ground truth in tests and
demos. The generators need only numpy and scipy (imported lazily), never napari or torch.

The ``*_sample`` functions are the napari sample-data commands declared in ``napari.yaml``;
they return LayerData tuples ``(data, kwargs, layer_type)`` and also do not import napari.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

LayerDataTuple = tuple[np.ndarray, dict[str, Any], str]

__all__ = [
    "SyntheticStack",
    "cells_timelapse_sample",
    "make_cells_timelapse",
    "make_nuclei_stack",
    "make_rgb_video",
    "make_ultrasound_cine",
    "nuclei_stack_sample",
    "rgb_video_sample",
    "ultrasound_cine_sample",
]

_CAMERA_OFFSET = 100  # ADU a camera reads in the dark
_CAMERA_MAX = 4095  # 12-bit camera


class SyntheticStack(NamedTuple):
    """A generated stack and the labels of the objects it was drawn from."""

    image: np.ndarray
    truth: np.ndarray


def _soft_ellipse(
    yy: np.ndarray,
    xx: np.ndarray,
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle: float = 0.0,
    edge: float = 1.0,
) -> np.ndarray:
    """Coverage in [0, 1] of a rotated ellipse with a soft edge about ``edge`` pixels wide."""
    dy, dx = yy - centre[0], xx - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dy + sin * dx, -sin * dy + cos * dx
    dist = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2)  # 1 on the boundary
    arg = np.clip((dist - 1.0) * min(radii) / edge, -50, 50)
    return 1.0 / (1.0 + np.exp(arg))


def _paste_object(
    canvas: np.ndarray,
    best: np.ndarray,
    labels: np.ndarray,
    coverage: np.ndarray,
    window: tuple[slice, ...],
    value: float,
    label: int,
) -> None:
    """Add ``value * coverage`` into ``canvas[window]`` and label pixels the object dominates."""
    canvas[window] += value * coverage
    wins = (coverage > 0.5) & (coverage > best[window])
    labels[window][wins] = label
    best[window] = np.maximum(best[window], coverage)


def _window(centre: tuple[float, ...], reach: float, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The slices of a box of half-size ``reach`` around ``centre``, clipped to ``shape``."""
    return tuple(
        slice(max(int(c - reach), 0), min(int(c + reach) + 2, n))
        for c, n in zip(centre, shape, strict=True)
    )


def _camera(signal: np.ndarray, rng: np.random.Generator, background: float) -> np.ndarray:
    """Expected photons -> 12-bit camera counts: shot noise, dark offset, read noise."""
    counts = rng.poisson(np.maximum(signal + background, 0.0)).astype(np.float32)
    counts += _CAMERA_OFFSET + rng.normal(0.0, 2.0, size=signal.shape).astype(np.float32)
    return np.clip(np.rint(counts), 0, _CAMERA_MAX).astype(np.uint16)


# --- 2D + t: moving, dividing cells ----------------------------------------------------------


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


# --- 3D: nuclei, z as the propagation axis ----------------------------------------------------


def make_nuclei_stack(
    shape: tuple[int, int, int] = (32, 256, 256),
    n_nuclei: int = 7,
    seed: int = 1,
) -> SyntheticStack:
    """A confocal-like z-stack of ellipsoidal nuclei with chromatin texture.

    Slices are about 2.5x thicker than pixels are wide, so nuclei span 6-14 slices. Blur is
    stronger along z, intensity drops with depth, and the camera adds shot noise.

    Returns:
        SyntheticStack: ``image`` (Z, Y, X) uint16 (12-bit range); ``truth`` (Z, Y, X) int32.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    depth, height, width = shape
    centres: list[np.ndarray] = []
    radii: list[np.ndarray] = []
    while len(centres) < n_nuclei:
        radius = np.array([rng.uniform(3.5, 6.0), rng.uniform(14, 22), rng.uniform(14, 22)])
        low = radius + (1, 4, 4)
        centre = rng.uniform(low, np.array(shape) - low)
        # Keep nuclei apart: compare distances in units of the sum of the radii.
        if all(
            np.linalg.norm((centre - c) / (radius + r)) > 1.05
            for c, r in zip(centres, radii, strict=True)
        ):
            centres.append(centre)
            radii.append(radius)

    signal = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.int32)
    best = np.zeros(shape, np.float32)
    for label, (centre, radius) in enumerate(zip(centres, radii, strict=True), start=1):
        window = _window(tuple(centre), radius.max() + 4, shape)
        zz, yy, xx = np.ogrid[window]
        angle = rng.uniform(0, np.pi)
        cos, sin = np.cos(angle), np.sin(angle)
        dz, dy, dx = zz - centre[0], yy - centre[1], xx - centre[2]
        u, v = cos * dy + sin * dx, -sin * dy + cos * dx
        dist = np.sqrt((dz / radius[0]) ** 2 + (u / radius[1]) ** 2 + (v / radius[2]) ** 2)
        cover = 1.0 / (1.0 + np.exp(np.clip((dist - 1.0) * 8.0, -50, 50)))
        _paste_object(signal, best, truth, cover, window, rng.uniform(0.7, 1.3), label)

    texture = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), (0.7, 1.5, 1.5))
    signal *= 1.0 + 2.5 * texture
    signal = ndimage.gaussian_filter(signal, sigma=(1.2, 1.0, 1.0))
    attenuation = np.exp(-np.arange(depth, dtype=np.float32) / 60.0)[:, None, None]
    photons = 500.0 * np.clip(signal, 0, None) * attenuation
    return SyntheticStack(_camera(photons, rng, background=40.0), truth)


# --- ultrasound cine --------------------------------------------------------------------------


def make_ultrasound_cine(
    n_frames: int = 40,
    shape: tuple[int, int] = (256, 256),
    seed: int = 2,
) -> SyntheticStack:
    """A B-mode-like ultrasound cine: speckle in a fan, a pulsating dark chamber and a bright,
    moving leaflet-like structure.

    Speckle is the magnitude of a smoothed complex Gaussian field (Rayleigh statistics), kept
    partly correlated from frame to frame, log-compressed to 8 bits. Pixels outside the fan
    are 0.

    Returns:
        SyntheticStack: ``image`` (T, Y, X) uint8; ``truth`` (T, Y, X) int32, label 1 = the
        bright moving structure (inside the fan).
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    apex = (-0.06 * height, width / 2)
    r = np.hypot(yy - apex[0], xx - apex[1])
    theta = np.arctan2(xx - apex[1], yy - apex[0])
    half_angle, r_min, r_max = 0.62, 0.12 * height, 1.02 * height
    fan = (np.abs(theta) < half_angle) & (r > r_min) & (r < r_max)

    tissue = 0.35 * (1.0 + 0.5 * ndimage.gaussian_filter(rng.normal(size=shape), 12) * 8)
    tissue = np.clip(tissue, 0.1, 0.8).astype(np.float32)

    # Speckle: AR(1) in time so it decorrelates slowly, smoothed more laterally than axially.
    noise = rng.normal(size=(2, n_frames, height, width)).astype(np.float32)
    for t in range(1, n_frames):
        noise[:, t] = 0.75 * noise[:, t - 1] + np.sqrt(1 - 0.75**2) * noise[:, t]
    noise = ndimage.gaussian_filter(noise, sigma=(0, 0, 0.8, 1.8))
    speckle = np.hypot(noise[0], noise[1])
    speckle /= speckle.mean()

    image = np.zeros((n_frames, height, width), np.uint8)
    truth = np.zeros((n_frames, height, width), np.int32)
    cy, cx = 0.58 * height, 0.5 * width
    for t in range(n_frames):
        phase = 2 * np.pi * t / 20.0  # one heartbeat every 20 frames
        echo = tissue.copy()
        chamber = _soft_ellipse(
            yy, xx, (cy, cx), (0.2 * height * (1 + 0.1 * np.sin(phase)), 0.15 * width), 0, 2.0
        )
        wall = _soft_ellipse(yy, xx, (cy, cx), (0.26 * height, 0.21 * width), 0, 2.0) - chamber
        echo = echo * (1 - chamber) + 0.03 * chamber + 0.35 * wall
        leaflet_centre = (cy + 0.12 * height * np.sin(phase), cx + 0.03 * width * np.cos(phase))
        leaflet = _soft_ellipse(
            yy, xx, leaflet_centre, (0.025 * height, 0.11 * width), 0.35 * np.sin(phase), 1.5
        )
        echo = echo * (1 - leaflet) + 1.6 * leaflet
        envelope = np.sqrt(echo) * speckle[t] * np.exp(-r / (3.0 * height))  # depth attenuation
        decibels = 20 * np.log10(envelope + 1e-3)
        grey = (decibels + 32.0) / 40.0 * 255.0  # 40 dB dynamic range
        image[t] = np.where(fan, np.clip(grey, 0, 255), 0).astype(np.uint8)
        truth[t] = ((leaflet > 0.5) & fan).astype(np.int32)
    return SyntheticStack(image, truth)


# --- RGB video ------------------------------------------------------------------------------


def make_rgb_video(
    n_frames: int = 32,
    shape: tuple[int, int] = (192, 256),
    seed: int = 3,
) -> SyntheticStack:
    """A short colour video: an orange ball and a blue square over a textured background.

    The background (colour noise plus stripes) pans slowly, the ball follows a curved path with
    shading, the square drifts and turns. Sensor noise is added.

    Returns:
        SyntheticStack: ``image`` (T, Y, X, 3) uint8; ``truth`` (T, Y, X) int32, label 1 = the
        ball, 2 = the square (the ball is drawn in front).
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    height, width = shape
    pan = n_frames  # the background canvas is wider, panned by 1 pixel per frame
    canvas_yy, canvas_xx = np.mgrid[0:height, 0 : width + pan].astype(np.float32)
    noise = ndimage.gaussian_filter(
        rng.normal(size=(height, width + pan, 4)).astype(np.float32), (5, 5, 0)
    )
    luminance, colour_noise = noise[..., :1], noise[..., 1:]
    stripes = 0.5 + 0.5 * np.sin((canvas_xx + 0.6 * canvas_yy) / 7.0)
    base = np.array([0.5, 0.48, 0.4], np.float32)  # a greyish, slightly warm wall
    background = base + 3.0 * luminance + 0.8 * colour_noise + 0.15 * stripes[..., None]

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((n_frames, height, width, 3), np.uint8)
    truth = np.zeros((n_frames, height, width), np.int32)
    for t in range(n_frames):
        s = t / max(n_frames - 1, 1)
        frame = background[:, t : t + width].copy()

        square_centre = (0.3 * height + 20 * s, 0.78 * width - 30 * s)
        square = _soft_square(yy, xx, square_centre, 0.09 * height, 1.2 * s, 1.0)
        frame = frame * (1 - square[..., None]) + square[..., None] * np.array([0.15, 0.3, 0.85])

        ball_centre = (
            0.5 * height + 0.25 * height * np.sin(2 * np.pi * s),
            0.15 * width + 0.6 * width * s,
        )
        ball = _soft_ellipse(yy, xx, ball_centre, (0.13 * height, 0.12 * height), 0, 1.0)
        shade = 1.0 - 0.4 * np.clip(
            np.hypot(yy - ball_centre[0] + 8, xx - ball_centre[1] + 8) / 40, 0, 1
        )
        ball_colour = np.array([0.95, 0.55, 0.1]) * shade[..., None]
        frame = frame * (1 - ball[..., None]) + ball[..., None] * ball_colour

        frame += rng.normal(0.0, 0.012, size=frame.shape)
        image[t] = np.clip(frame * 255, 0, 255).astype(np.uint8)
        truth[t][square > 0.5] = 2
        truth[t][ball > 0.5] = 1
    return SyntheticStack(image, truth)


def _soft_square(
    yy: np.ndarray,
    xx: np.ndarray,
    centre: tuple[float, float],
    half: float,
    angle: float,
    edge: float,
) -> np.ndarray:
    """Coverage in [0, 1] of a rotated square of half-side ``half``."""
    dy, dx = yy - centre[0], xx - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dy + sin * dx, -sin * dy + cos * dx
    dist = np.maximum(np.abs(u), np.abs(v)) - half
    return 1.0 / (1.0 + np.exp(np.clip(dist / edge, -50, 50)))


# --- napari sample-data commands -----------------------------------------------------------


def _contrast_limits(image: np.ndarray) -> list[float]:
    """Robust display range (0.1 and 99.9 percentiles), as napari's ``contrast_limits``."""
    low, high = np.percentile(image[:: max(image.shape[0] // 8, 1)], (0.1, 99.9))
    return [float(low), float(max(high, low + 1))]


def _metadata(generator: str, axes: str, **extra: Any) -> dict[str, Any]:
    return {"source": "napari-sam2 synthetic sample", "generator": generator, "axes": axes, **extra}


def cells_timelapse_sample() -> list[LayerDataTuple]:
    """napari sample: fluorescent cells moving and dividing (2D+t, uint16)."""
    image = make_cells_timelapse().image
    kwargs = {
        "name": "cells (2D+t)",
        "colormap": "gray",
        "contrast_limits": _contrast_limits(image),
        "metadata": _metadata("make_cells_timelapse", "TYX", bit_depth=12),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]


def nuclei_stack_sample() -> list[LayerDataTuple]:
    """napari sample: a 3D stack of nuclei (z is the axis to propagate along, uint16)."""
    image = make_nuclei_stack().image
    kwargs = {
        "name": "nuclei (3D)",
        "colormap": "gray",
        "contrast_limits": _contrast_limits(image),
        "metadata": _metadata("make_nuclei_stack", "ZYX", bit_depth=12, voxel_zyx=(2.5, 1, 1)),
        "axis_labels": ("z", "y", "x"),
        "scale": (2.5, 1.0, 1.0),  # the voxel size: z steps are 2.5 pixels deep
    }
    return [(image, kwargs, "image")]


def ultrasound_cine_sample() -> list[LayerDataTuple]:
    """napari sample: an ultrasound-like cine loop (uint8)."""
    image = make_ultrasound_cine().image
    kwargs = {
        "name": "ultrasound cine",
        "colormap": "gray",
        "contrast_limits": [0, 255],
        "metadata": _metadata("make_ultrasound_cine", "TYX"),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]


def rgb_video_sample() -> list[LayerDataTuple]:
    """napari sample: a short RGB video with two moving objects (uint8)."""
    image = make_rgb_video().image
    kwargs = {
        "name": "RGB video",
        "rgb": True,
        "metadata": _metadata("make_rgb_video", "TYXC"),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]
