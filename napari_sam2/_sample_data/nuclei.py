"""The 3D sample: a z-stack of nuclei, z being the axis the tracker propagates along."""

from __future__ import annotations

import numpy as np

from napari_sam2._sample_data.rendering import SyntheticStack, _camera, _paste_object, _window

__all__ = ["make_nuclei_stack"]


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
