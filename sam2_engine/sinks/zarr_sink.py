"""Label stacks as a zarr array (``.zarr``), one chunk per frame."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.constants import INFO_KEY, software
from sam2_engine.sinks.base import _check_shape
from sam2_engine.sinks.file_sink import FileSink
from sam2_engine.sinks.registry import SinkFormat, register_format


class ZarrSink(FileSink):
    """Writes label images into a new zarr array at ``path``, one chunk per frame by default.

    The array is created (filled with 0) at ``<path>.partial`` and moved to ``path`` by
    :meth:`LabelSink.close`; frames never written read as 0 (their chunks are never stored).
    Axis names ``("t", "y", "x")`` are recorded (``dimension_names`` in zarr 3,
    ``_ARRAY_DIMENSIONS`` in zarr 2), and :attr:`info` in the array's attributes. To write into
    an existing zarr array, open it and use :class:`ArraySink`.

    Arguments:
        path: the zarr store (a directory) to create, e.g. ``"labels.zarr"``.
        shape (tuple[int, int, int]): (T, H, W).
        chunks (tuple[int, int, int] | None): default (1, H, W).
        dtype: an integer label dtype (default uint16: ids up to 65535).
        zarr_format (int): 3 (default) or 2.
        threshold, overwrite, inputs, info: see :class:`TiffSink`.
    """

    folder = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        chunks: Sequence[int] | None = None,
        dtype: Any = np.uint16,
        *,
        zarr_format: int = 3,
        threshold: float = 0.0,
        overwrite: bool = False,
        inputs: Iterable[Any] = (),
        info: dict[str, Any] | None = None,
    ) -> None:
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
        self.zarr_format = zarr_format
        self._chunks = chunks
        self._array: Any = None
        super().__init__(
            path, shape, dtype, threshold=threshold, overwrite=overwrite, inputs=inputs, info=info
        )

    def _create(self) -> None:
        import zarr

        self.chunks = (1, *self.shape[1:]) if self._chunks is None else _check_shape(self._chunks)
        names = ("t", "y", "x")
        extra: dict[str, Any] = (
            {"dimension_names": names}
            if self.zarr_format == 3
            else {"attributes": {"_ARRAY_DIMENSIONS": list(names)}}
        )
        self._array = zarr.create_array(
            store=str(self.partial_path),
            shape=self.shape,
            chunks=self.chunks,
            dtype=self.dtype,
            fill_value=0,
            zarr_format=self.zarr_format,
            **extra,
        )

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        self._array[frame_idx] = labels  # a local store writes the chunk(s) synchronously

    def _flush(self) -> None:
        self._array = None

    def _write_info(self) -> None:
        import zarr

        array = zarr.open_array(str(self.partial_path), mode="r+")
        array.attrs[INFO_KEY] = {"software": software(), **self.info}

    @staticmethod
    def read_info(path: Path) -> dict[str, Any] | None:
        import zarr

        value = zarr.open_array(str(path), mode="r").attrs.get(INFO_KEY)
        return value if isinstance(value, dict) else None


def _open_zarr(path: Path) -> Any:
    import zarr

    return zarr.open_array(str(path), mode="r")


register_format(
    SinkFormat(
        name="zarr",
        suffixes=(".zarr",),
        sink=ZarrSink,
        open_labels=_open_zarr,
        description="zarr array (format 3), one chunk per frame",
    )
)
