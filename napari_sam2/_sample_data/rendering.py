"""What every sample generator draws with: soft-edged shapes, objects pasted with their labels,
a 12-bit camera, and the :class:`SyntheticStack` they all return."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SyntheticStack"]

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
