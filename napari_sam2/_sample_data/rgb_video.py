"""The colour sample: a short RGB video of two objects over a panning, textured background."""

from __future__ import annotations

import numpy as np

from napari_sam2._sample_data.rendering import SyntheticStack, _soft_ellipse

__all__ = ["make_rgb_video"]


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
