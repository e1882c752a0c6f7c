"""Sinks writing new files: ``<path>.partial`` while writing, renamed to ``<path>`` at close."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.sinks.base import LabelSink, _check_shape

#: Above this many bytes of image data a TIFF is written as BigTIFF (tifffile's own limit: 4 GiB
#: less 32 MiB kept for the page directories).
BIGTIFF_THRESHOLD = 2**32 - 2**25

#: Dtypes an ImageJ hyperstack can hold that make sense for labels (8 and 16 bit).
_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))

PARTIAL_SUFFIX = ".partial"


class _FileSink(LabelSink):
    """A sink writing ``<path>.partial`` and renaming it to ``<path>`` on a successful close."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any,
        *,
        threshold: float,
        overwrite: bool,
    ) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__} needs an integer label dtype, got {dtype}")
        super().__init__(shape, dtype, threshold=threshold)
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.overwrite = bool(overwrite)
        for existing in (self.path, self.partial_path):
            if existing.exists() and not self.overwrite:
                raise FileExistsError(
                    f"{existing} already exists; remove it or pass overwrite=True"
                )
        _remove(self.partial_path)

    @property
    def location(self) -> Path:
        """Where the data are now: ``partial_path`` until a successful close, then ``path``."""
        return self.path if self._state == "closed" else self.partial_path

    def _kept_where(self) -> str:
        return (
            f"{self.partial_path} (readable as is; {self.path} was not touched; "
            f"sink.close() publishes them under it)"
        )

    def _publish(self) -> None:
        """Move ``partial_path`` to ``path`` (replacing an older one only with ``overwrite``)."""
        if self.path.exists() or self.path.is_symlink():
            if not self.overwrite:
                raise FileExistsError(
                    f"{self.path} appeared while writing; the labels are in {self.partial_path}"
                )
            if self.path.is_dir() and not self.path.is_symlink():
                old = self.path.with_name(self.path.name + ".old")
                _remove(old)
                os.replace(self.path, old)
                os.replace(self.partial_path, self.path)
                _remove(old)
                return
        os.replace(self.partial_path, self.path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class ZarrSink(_FileSink):
    """Writes label images into a new zarr array at ``path``, one chunk per frame by default.

    The array is created (filled with 0) at ``<path>.partial`` and moved to ``path`` by
    :meth:`LabelSink.close`; frames never written read as 0 (their chunks are never stored).
    Axis names ``("t", "y", "x")`` are recorded (``dimension_names`` in zarr 3,
    ``_ARRAY_DIMENSIONS`` in zarr 2). To write into an existing zarr array, open it and use
    :class:`ArraySink`.

    Arguments:
        path: the zarr store (a directory) to create, e.g. ``"labels.zarr"``.
        shape (tuple[int, int, int]): (T, H, W).
        chunks (tuple[int, int, int] | None): default (1, H, W).
        dtype: an integer label dtype (default uint16: ids up to 65535).
        zarr_format (int): 3 (default) or 2.
        threshold (float): logit threshold of :meth:`LabelSink.write`.
        overwrite (bool): replace an existing ``path`` (only at a successful close) and a
            leftover ``<path>.partial``; otherwise either raises ``FileExistsError``.
    """

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
    ) -> None:
        import zarr

        super().__init__(path, shape, dtype, threshold=threshold, overwrite=overwrite)
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
        self.chunks = (1, *self.shape[1:]) if chunks is None else _check_shape(chunks)
        names = ("t", "y", "x")
        extra: dict[str, Any] = (
            {"dimension_names": names}
            if zarr_format == 3
            else {"attributes": {"_ARRAY_DIMENSIONS": list(names)}}
        )
        self._array: Any = zarr.create_array(
            store=str(self.partial_path),
            shape=self.shape,
            chunks=self.chunks,
            dtype=self.dtype,
            fill_value=0,
            zarr_format=zarr_format,
            **extra,
        )

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        self._array[frame_idx] = labels  # a local store writes the chunk(s) synchronously

    def _release(self, complete: bool) -> None:
        self._array = None
        if complete:
            self._publish()


class TiffSink(_FileSink):
    """Writes label images into a new uncompressed multi-page TIFF, page by page, in any order.

    The file is laid out at creation (``tifffile.imwrite`` with no data: every page directory
    and a zero-filled, usually sparse, data area), then each frame's bytes are written in place
    at its page's offset, so frames can arrive in any order (reverse propagation) and memory and
    file handles stay flat. Frames never written read as 0. The file is ``<path>.partial``
    until :meth:`LabelSink.close` renames it.

    Arguments:
        path: the TIFF to create, e.g. ``"labels.tif"``.
        shape (tuple[int, int, int]): (T, H, W).
        dtype: an integer label dtype (default uint16: ids up to 65535).
        bigtiff (bool | None): None: BigTIFF only when the data exceed ~4 GB
            (:data:`BIGTIFF_THRESHOLD`); True / False: always / never.
        imagej (bool | None): write an ImageJ hyperstack with axes ``TYX``. None: when possible
            (uint8, uint16 or int16, and not BigTIFF); otherwise tifffile's own metadata
            records the axes ``TYX`` (read back by tifffile, Bio-Formats sees a plain stack).
        threshold (float): logit threshold of :meth:`LabelSink.write`.
        overwrite (bool): replace an existing ``path`` (only at a successful close) and a
            leftover ``<path>.partial``; otherwise either raises ``FileExistsError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any = np.uint16,
        bigtiff: bool | None = None,
        *,
        imagej: bool | None = None,
        threshold: float = 0.0,
        overwrite: bool = False,
    ) -> None:
        import tifffile

        super().__init__(path, shape, dtype, threshold=threshold, overwrite=overwrite)
        frames, height, width = self.shape
        self._file_dtype = self.dtype.newbyteorder("<")
        self._frame_bytes = height * width * self._file_dtype.itemsize
        if bigtiff is None:
            bigtiff = frames * self._frame_bytes > BIGTIFF_THRESHOLD
        if imagej is None:
            imagej = self.dtype in _IMAGEJ_DTYPES and not bigtiff
        elif imagej and self.dtype not in _IMAGEJ_DTYPES:
            raise ValueError(
                f"an ImageJ TIFF cannot hold {self.dtype} labels (uint8, uint16 or int16 only)"
            )
        elif imagej and bigtiff:
            raise ValueError("ImageJ cannot read BigTIFF hyperstacks: pass imagej=False")
        self.bigtiff, self.imagej = bool(bigtiff), bool(imagej)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. about the empty data
            result = tifffile.imwrite(
                self.partial_path,
                data=None,
                shape=self.shape,
                dtype=self._file_dtype,
                byteorder="<",
                bigtiff=self.bigtiff,
                imagej=self.imagej,
                photometric="minisblack",
                metadata={"axes": "TYX"},
                returnoffset=True,
            )
        with tifffile.TiffFile(self.partial_path) as tif:  # the pages must be one block
            offset = tif.series[0].dataoffset
        if result is None or offset is None or offset != result[0]:
            _remove(self.partial_path)
            raise RuntimeError(f"tifffile did not write {self.path}'s pages as one block")
        self._offset: int = int(offset)
        self._file: Any = open(self.partial_path, "r+b")  # noqa: SIM115 - held until close

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        data = np.ascontiguousarray(labels, dtype=self._file_dtype)
        self._file.seek(self._offset + frame_idx * self._frame_bytes)
        self._file.write(memoryview(data).cast("B"))
        self._file.flush()  # into the OS now: an interrupted run keeps this frame

    def _release(self, complete: bool) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
                self._file = None
        if complete:
            self._publish()
