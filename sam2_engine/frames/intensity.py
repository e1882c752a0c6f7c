"""Intensity handling: raw frames of any dtype to display/model-ready values.

8-bit data passes through unchanged (so RGB video and JPEG frames stay bit-exact). Everything
else (uint16 microscopy, a 12-bit camera in a uint16 container, signed ints, floats) is mapped
linearly through contrast limits to float32 in [0, 1]: the caller's limits (napari's contrast
limits), else robust percentiles estimated from a few evenly spaced frames. Non-finite values are
ignored when estimating and come out as 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .errors import FrameSourceError

DEFAULT_PERCENTILES = (0.5, 99.5)
#: At most this many frames are read to estimate contrast limits.
MAX_SAMPLE_FRAMES = 16
#: Frames are subsampled on a regular grid to about this many pixels each before estimating.
MAX_SAMPLE_PIXELS = 1 << 16
_UINT8_LIMITS = (0.0, 255.0)


def check_contrast_limits(limits: Sequence[float] | None) -> tuple[float, float] | None:
    """``(low, high)`` as floats, or None. Raises ``FrameSourceError`` naming
    ``contrast_limits`` when they are not two finite numbers with ``low <= high``."""
    if limits is None:
        return None
    try:
        low, high = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise FrameSourceError(
            f"contrast_limits={limits!r} must be two numbers (low, high)"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise FrameSourceError(f"contrast_limits={limits!r} must be finite with low <= high")
    return low, high


def check_percentiles(percentiles: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` with ``0 <= low < high <= 100``; else ``FrameSourceError`` naming
    ``percentiles``."""
    try:
        low, high = (float(v) for v in percentiles)
    except (TypeError, ValueError):
        raise FrameSourceError(
            f"percentiles={percentiles!r} must be two numbers (low, high)"
        ) from None
    if not 0.0 <= low < high <= 100.0:
        raise FrameSourceError(f"percentiles={percentiles!r} must satisfy 0 <= low < high <= 100")
    return low, high


def check_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` if frames of it can be shown to the model (integers, floats, booleans), else
    ``FrameSourceError`` saying what to do: complex data would lose its imaginary part, and
    strings, objects or dates are not intensities."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise FrameSourceError(
            f"the video holds complex numbers ({dtype}); the model needs real intensities and "
            "would silently drop the imaginary part. Convert it first: np.abs(video) for the "
            "magnitude, video.real or video.imag for one part"
        )
    if dtype.kind not in "uifb":
        raise FrameSourceError(
            f"the video holds {dtype} values, not intensities; give integers or floats"
        )
    return dtype


def is_passthrough(dtype: np.dtype, limits: tuple[float, float] | None) -> bool:
    """True when frames of ``dtype`` go to the model unchanged: uint8 without limits, or with
    the full 8-bit range ``(0, 255)``."""
    return np.dtype(dtype) == np.uint8 and limits in (None, _UINT8_LIMITS)


def sample_indices(n_frames: int, max_frames: int = MAX_SAMPLE_FRAMES) -> list[int]:
    """Up to ``max_frames`` evenly spaced frame indices in ``range(n_frames)``, first and last
    included."""
    if n_frames <= 0:
        return []
    count = min(n_frames, max_frames)
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, count)})


def _subsample(frame: np.ndarray, max_pixels: int) -> np.ndarray:
    pixels = frame.shape[0] * frame.shape[1]
    step = max(1, int(np.ceil(np.sqrt(pixels / max_pixels))))
    return frame[::step, ::step]


def estimate_contrast_limits(
    frames: Iterable[np.ndarray],
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    max_pixels: int = MAX_SAMPLE_PIXELS,
) -> tuple[float, float]:
    """Robust ``(low, high)`` limits: the given percentiles of the finite values of ``frames``
    (each subsampled to about ``max_pixels``). Boolean data gets ``(0, 1)``; data with no
    finite value gets ``(0, 1)``."""
    low_p, high_p = check_percentiles(percentiles)
    values = []
    for frame in frames:
        frame = np.asarray(frame)
        if frame.dtype == bool:
            return 0.0, 1.0
        sample = _subsample(frame, max_pixels).ravel().astype(np.float64)
        values.append(sample[np.isfinite(sample)])
    finite = np.concatenate(values) if values else np.empty(0)
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [low_p, high_p])
    return float(low), float(high)


def apply_contrast(frame: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Map ``frame`` linearly so that ``limits`` become 0 and 1, clip to [0, 1], and set
    non-finite input values to 0. Returns float32 of the same shape.

    Equal limits (a constant image) threshold instead of dividing by zero: values above the
    limit become 1, the rest 0.
    """
    low, high = limits
    small = frame.dtype.itemsize <= 2 or frame.dtype == np.float32
    work = frame.astype(np.float32 if small else np.float64, copy=False)
    if high > low:
        out = np.clip((work - low) * (1.0 / (high - low)), 0.0, 1.0)
    else:  # a constant image: threshold rather than divide by zero
        out = (work > low).astype(work.dtype)  # noqa: SIM108
    if frame.dtype.kind in "fc":
        out[~np.isfinite(frame)] = 0.0
    return out.astype(np.float32, copy=False)


def gray_to_rgb(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 1)`` replicated to ``(H, W, 3)``; ``(H, W, 3)`` unchanged;
    ``(H, W, 4)`` loses its alpha."""
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return np.repeat(frame, 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        return np.ascontiguousarray(frame[:, :, :3])
    raise FrameSourceError(
        f"a frame of shape {frame.shape} is neither gray (H, W) nor colour (H, W, 3)"
    )


class Intensity:
    """The intensity mapping of one source: fixed limits, or limits estimated once, on first
    use, from frames read through ``read`` (so opening a source never reads a frame).

    Arguments:
        dtype (np.dtype): the raw data's dtype.
        contrast_limits (tuple[float, float] | None): limits to use; None estimates them.
        percentiles (tuple[float, float]): percentiles for the estimate.
    """

    def __init__(
        self,
        dtype: np.dtype,
        contrast_limits: Sequence[float] | None = None,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    ) -> None:
        self.dtype = check_dtype(dtype)
        self.given_limits = check_contrast_limits(contrast_limits)
        self.percentiles = check_percentiles(percentiles)
        self.passthrough = is_passthrough(self.dtype, self.given_limits)
        self._estimated: tuple[float, float] | None = None

    @property
    def source(self) -> str:
        """How frames are mapped: ``"uint8"`` (unchanged), ``"given"`` or ``"percentiles"``."""
        if self.passthrough:
            return "uint8"
        return "given" if self.given_limits is not None else "percentiles"

    def limits(self, n_frames: int, read: Callable[[int], np.ndarray]) -> tuple[float, float]:
        """The contrast limits in use, estimating them (once) from sampled frames if needed."""
        if self.given_limits is not None:
            return self.given_limits
        if self.passthrough:
            return _UINT8_LIMITS
        if self._estimated is None:
            indices = sample_indices(n_frames)
            finite = []

            def frames() -> Iterable[np.ndarray]:  # one frame in memory at a time
                for i in indices:
                    frame = read(i)
                    finite.append(frame.dtype.kind != "f" or bool(np.isfinite(frame).any()))
                    yield frame

            limits = estimate_contrast_limits(frames(), self.percentiles)
            if self.dtype.kind == "f" and not any(finite):
                shown = ", ".join(map(str, indices[:8])) + (", ..." if len(indices) > 8 else "")
                raise FrameSourceError(
                    f"the video holds no finite value: every sampled frame ({shown} of "
                    f"{n_frames}) is NaN or infinite, so there is nothing to segment. Check "
                    "the data (a failed conversion?) or replace them, e.g. np.nan_to_num(video)"
                )
            self._estimated = limits
        return self._estimated

    def to_rgb(
        self, frame: np.ndarray, n_frames: int, read: Callable[[int], np.ndarray]
    ) -> np.ndarray:
        """``frame`` as ``(H, W, 3)``: uint8 unchanged, or float32 in [0, 1]."""
        if not self.passthrough:
            frame = apply_contrast(frame, self.limits(n_frames, read))
        return gray_to_rgb(frame)
