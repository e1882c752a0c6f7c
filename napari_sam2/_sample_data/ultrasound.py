"""The ultrasound sample: a B-mode-like cine loop with speckle in a fan."""

from __future__ import annotations

import numpy as np

from napari_sam2._sample_data.rendering import SyntheticStack, _soft_ellipse

__all__ = ["make_ultrasound_cine"]


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
