"""The frame source interface: a video as a sequence of frames read one at a time."""

from __future__ import annotations

import operator
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .errors import FrameSourceWarning
from .intensity import DEFAULT_PERCENTILES, Intensity


class FrameSource(ABC):
    """A sequence of frames along the propagation axis, read lazily one at a time.

    Subclasses implement ``__len__``, ``height``, ``width``, ``dtype`` and ``read``, and call
    ``super().__init__(...)`` once ``dtype`` works (it sets up the intensity mapping);
    ``read_rgb`` and the contrast handling come from here. Reading is thread-safe in the
    sources of this package.

    Attributes:
        metadata (dict): JSON-friendly facts about the source, e.g. ``kind``, ``path``, ``axes``,
            ``axis``, ``index``, ``channel``, ``fps``, ``intensity`` and, once known,
            ``contrast_limits``.
    """

    def __init__(
        self,
        *,
        contrast_limits: Sequence[float] | None = None,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._intensity = Intensity(self.dtype, contrast_limits, percentiles)
        self._limits_lock = threading.Lock()
        self.metadata["intensity"] = self._intensity.source
        self.metadata["percentiles"] = list(self._intensity.percentiles)
        if self._intensity.source != "percentiles":
            self.metadata["contrast_limits"] = list(self.contrast_limits)

    @abstractmethod
    def __len__(self) -> int:
        """The number of frames along the propagation axis."""

    @property
    @abstractmethod
    def height(self) -> int:
        """Frame height in pixels at the source's resolution (masks come back at it)."""

    @property
    @abstractmethod
    def width(self) -> int:
        """Frame width in pixels at the source's resolution."""

    @property
    @abstractmethod
    def dtype(self) -> np.dtype:
        """The dtype of the raw frames."""

    @abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Raw frame ``index``: ``(H, W)`` gray or ``(H, W, 3)`` colour, in ``dtype``.

        The array is the caller's to keep or modify. Raises ``IndexError`` outside
        ``0..len-1`` and ``FrameReadError`` when the data cannot be read.
        """

    def read_rgb(self, index: int) -> np.ndarray:
        """Frame ``index`` ready for display or ``to_model_input``: ``(H, W, 3)``.

        uint8 data comes back unchanged (uint8); anything else is mapped through the contrast
        limits to float32 in [0, 1], with NaN and inf set to 0. Gray is replicated to 3 channels.
        A float frame with no finite value at all comes back black, with a
        ``FrameSourceWarning`` naming it (a video with no finite value in any sampled frame is
        refused with ``FrameSourceError`` when the contrast limits are estimated).
        """
        frame = self.read(index)
        if frame.dtype.kind == "f" and not np.isfinite(frame).any():
            _ = self.contrast_limits  # a video with no finite value at all is refused here
            where = self.metadata.get("path") or self.metadata.get("kind", "the video")
            warnings.warn(
                f"frame {index} of {where} holds only NaN or infinite values: the model sees "
                "a black frame there (replace the values, or leave the frame out)",
                FrameSourceWarning,
                stacklevel=2,
            )
        return self._intensity.to_rgb(frame, len(self), self.read)

    @property
    def contrast_limits(self) -> tuple[float, float]:
        """The ``(low, high)`` intensities mapped to 0 and 1 by ``read_rgb``: the given limits,
        ``(0, 255)`` for uint8, or percentiles estimated (on first use) from up to 16 evenly
        spaced frames."""
        with self._limits_lock:
            limits = self._intensity.limits(len(self), self.read)
        self.metadata["contrast_limits"] = list(limits)
        return limits

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of a frame."""
        return self.height, self.width

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release open files. Sources without open files do nothing."""

    def _check_index(self, index: int) -> int:
        """``index`` as an int in ``0..len-1``, else ``IndexError``."""
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"frame index must be an integer, got {index!r}") from None
        n = len(self)
        if not 0 <= i < n:
            raise IndexError(
                f"frame index {i} is out of range for a source of {n} frames (0..{n - 1})"
            )
        return i

    def __getitem__(self, index: int) -> np.ndarray:
        return self.read(index)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.read(i)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = self.metadata.get("kind", "frames")
        where = self.metadata.get("path")
        at = f" {where!r}" if where else ""
        return (
            f"<{type(self).__name__} {kind}{at}: {len(self)} frames of "
            f"{self.height}x{self.width} {self.dtype}>"
        )
