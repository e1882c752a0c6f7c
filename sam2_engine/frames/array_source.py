"""Frames from an N-D array-like: numpy (and memory maps), dask (a napari layer's data), zarr,
or one of the paged readers. Only the requested frame is ever indexed and computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .base import FrameSource
from .errors import FrameReadError, FrameSourceError
from .intensity import DEFAULT_PERCENTILES
from .layout import Channel, FrameLayout, resolve_layout


def is_array_like(obj: Any) -> bool:
    """True for objects with ``shape``, ``dtype`` and ``__getitem__`` (numpy, dask, zarr, ...)."""
    return all(hasattr(obj, name) for name in ("shape", "dtype", "__getitem__"))


def array_kind(array: Any) -> str:
    """``"numpy"``, ``"dask"``, ``"zarr"`` or ``"array"``, from the array's type, without
    importing dask or zarr."""
    if isinstance(array, np.ndarray):
        return "numpy"
    module = type(array).__module__.split(".")[0]
    return module if module in ("dask", "zarr") else "array"


class ArraySource(FrameSource):
    """Frames cut out of an N-D array-like, one frame per read.

    Arguments:
        array: numpy, dask or zarr array, or anything with numpy-style basic indexing and
            ``shape``/``dtype``. Never read whole: dask arrays compute one frame's chunks.
        axes, axis, index, channel: the layout (see ``resolve_layout``).
        contrast_limits, percentiles: intensity mapping for non-8-bit data (see ``read_rgb``).
        file_axes: axes from the file's own metadata, used when ``axes`` is None.
        metadata: extra facts to record (``kind``, ``path``, ...).
    """

    def __init__(
        self,
        array: Any,
        *,
        axes: str | None = None,
        axis: str | None = None,
        index: Mapping[str, int] | None = None,
        channel: Channel | Sequence[int] | None = None,
        contrast_limits: Sequence[float] | None = None,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        file_axes: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not is_array_like(array):
            raise FrameSourceError(
                f"video of type {type(array).__name__} is not an array (needs shape, dtype "
                "and indexing)"
            )
        self._array = array
        self._dtype = np.dtype(array.dtype)
        self.layout: FrameLayout = resolve_layout(
            array.shape, axes=axes, axis=axis, index=index, channel=channel, file_axes=file_axes
        )
        info = {"kind": array_kind(array), **(metadata or {}), **self.layout.describe()}
        super().__init__(contrast_limits=contrast_limits, percentiles=percentiles, metadata=info)

    @property
    def array(self) -> Any:
        """The underlying array-like (not a copy)."""
        return self._array

    def __len__(self) -> int:
        return len(self.layout)

    @property
    def height(self) -> int:
        return self.layout.height

    @property
    def width(self) -> int:
        return self.layout.width

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def read(self, index: int) -> np.ndarray:
        i = self._check_index(index)
        where = self.metadata.get("path") or self.metadata["kind"]
        try:
            frame = self.layout.read(self._array, i)
        except IndexError:
            raise
        except FrameReadError as error:  # the reader's own words, with the frame named
            raise FrameReadError(f"frame {i} of {where}: {error}") from error
        except Exception as error:  # a storage or decoding failure deep in the reader
            raise FrameReadError(f"could not read frame {i} of {where}: {error}") from error
        return frame.astype(self._dtype, copy=False)
