"""A sink writing into a (T, H, W) array the caller owns."""

from __future__ import annotations

from typing import Any

import numpy as np

from sam2_engine.sinks.base import LabelSink


class ArraySink(LabelSink):
    """Writes label images into a (T, H, W) array the caller owns.

    Any array with ``.shape`` and ``__setitem__`` works: numpy arrays and memmaps, a napari
    Labels layer's ``data``, a zarr array. Frames never written keep their values. ``close``
    only flushes (``array.flush()`` where there is one) and never frees the array.

    Arguments:
        array: the (T, H, W) destination. An integer (or float) ``array.dtype`` is used for the
            labels and must hold every object id.
        threshold (float): logit threshold of :meth:`LabelSink.write`.

    Raises:
        TypeError: ``array`` has no ``shape`` or no ``__setitem__``.
        ValueError: ``array`` is not 3-D; at a write, a frame of another (H, W) or a frame index
            >= T.
    """

    def __init__(self, array: Any, *, threshold: float = 0.0) -> None:
        if not hasattr(array, "shape") or not hasattr(array, "__setitem__"):
            raise TypeError(
                f"ArraySink needs an array with .shape and __setitem__ (numpy, zarr, napari "
                f"Labels data), got {type(array).__name__}"
            )
        shape = tuple(array.shape)
        if len(shape) != 3:
            raise ValueError(f"ArraySink needs a (T, H, W) array, got shape {shape}")
        dtype = getattr(array, "dtype", None)
        try:
            dtype = None if dtype is None else np.dtype(dtype)
        except TypeError:
            dtype = None
        if dtype is not None and dtype.kind not in "iuf":
            dtype = None  # e.g. bool or object: let the merge choose, the array converts
        super().__init__(shape, dtype, threshold=threshold)
        self.array = array

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        self.array[frame_idx] = labels

    def _release(self, complete: bool) -> None:
        flush = getattr(self.array, "flush", None)
        if callable(flush):
            flush()

    def _kept_where(self) -> str:
        return "the caller's array (other frames untouched)"
