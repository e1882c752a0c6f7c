"""Frames from a TIFF or OME-TIFF file: memory-mapped when the data is stored contiguously and
uncompressed, otherwise read page by page. The file is never read whole."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .array_source import ArraySource
from .errors import FrameReadError, FrameSourceError
from .layout import axes_from_names
from .paged import PagedArray

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")


def _import_tifffile() -> Any:
    try:
        import tifffile
    except ImportError as error:  # pragma: no cover - tifffile is a test dependency
        raise FrameSourceError("reading TIFF files needs the tifffile package") from error
    return tifffile


class TiffSource(ArraySource):
    """Frames of one series of a TIFF / OME-TIFF / ImageJ hyperstack.

    The series' full-resolution level is used; its axes come from the file's metadata
    (OME or ImageJ; tifffile's ``S`` samples become ``C``, a plain page sequence ``T``) unless
    ``axes`` is given. ``metadata["tiff_access"]`` says ``"contiguous"`` or ``"pages"``.

    Arguments:
        path: the TIFF file.
        series: which series of a multi-series file (default the first).
        **layout: ``axes``, ``axis``, ``index``, ``channel``, ``contrast_limits``,
            ``percentiles`` as for ``ArraySource``.
    """

    def __init__(self, path: str | Path, *, series: int = 0, **layout: Any) -> None:
        tifffile = _import_tifffile()
        self.path = Path(path)
        self._tif = None
        self._file = None
        try:
            tif = tifffile.TiffFile(self.path)
        except Exception as error:
            raise FrameSourceError(f"{self.path} is not a readable TIFF file: {error}") from error
        try:
            if not tif.series:
                raise FrameSourceError(f"{self.path} is not a readable TIFF file: no image data")
            if not 0 <= series < len(tif.series):
                raise FrameSourceError(
                    f"series={series} is out of range: {self.path} has {len(tif.series)} series"
                )
            tiff_series = tif.series[series]
            shape, axes = tuple(tiff_series.shape), tiff_series.axes
            array, access = self._contiguous(tifffile, series, tiff_series, shape)
            if array is None:
                array, access = self._pages(tiff_series, shape), "pages"
                self._tif = tif
            info = {
                "kind": "tiff",
                "path": str(self.path),
                "tiff_access": access,
                "tiff_axes": axes,
                "series": series,
                "n_series": len(tif.series),
                "ome": bool(tif.is_ome),
            }
            super().__init__(array, file_axes=axes_from_names(list(axes)), metadata=info, **layout)
        except BaseException:
            tif.close()
            raise
        if self._tif is None:
            tif.close()

    def _contiguous(
        self, tifffile: Any, series: int, tiff_series: Any, shape: tuple[int, ...]
    ) -> tuple[Any, str]:
        """Uncompressed data stored in one block: read each page with one positioned read.

        The file is not kept memory-mapped: pages of a mapping stay resident once read, so a
        long propagation would grow the process by every frame it had read.
        """
        try:
            mapped = tifffile.memmap(self.path, series=series, mode="r")
        except Exception:  # compressed, tiled or scattered data: read page by page
            return None, ""
        offset, dtype, found = mapped.offset, mapped.dtype, tuple(mapped.shape)
        del mapped
        page_shape = tuple(tiff_series.pages[0].shape)
        n_lead = len(shape) - len(page_shape)
        if found != shape or n_lead < 0 or shape[n_lead:] != page_shape:
            return None, ""
        page_bytes = math.prod(page_shape) * dtype.itemsize
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        fd = self._file.fileno()

        def read_page(k: int) -> np.ndarray:
            data = bytearray(os.pread(fd, page_bytes, offset + k * page_bytes))
            if len(data) != page_bytes:
                raise FrameReadError(f"{self.path}: page {k} is truncated")
            return np.frombuffer(data, dtype).reshape(page_shape).astype(dtype.newbyteorder("="))

        array = PagedArray(
            shape[:n_lead],
            page_shape,
            dtype.newbyteorder("="),
            read_page,
            describe=lambda k: f"page {k} of {self.path}",
        )
        return array, "contiguous"

    def _pages(self, tiff_series: Any, shape: tuple[int, ...]) -> PagedArray:
        pages = tiff_series.pages
        page_shape = tuple(pages[0].shape)
        n_lead = len(shape) - len(page_shape)
        lead_shape = shape[:n_lead]
        if n_lead < 0 or shape[n_lead:] != page_shape or math.prod(lead_shape) != len(pages):
            raise FrameSourceError(
                f"{self.path}: series of shape {shape} is not stored as whole pages of shape "
                f"{page_shape}, which this reader needs"
            )

        def read_page(k: int) -> Any:
            return pages[k].asarray()

        return PagedArray(
            lead_shape,
            page_shape,
            tiff_series.dtype,
            read_page,
            describe=lambda k: f"page {k} of {self.path}",
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tif is not None:
            self._tif.close()
            self._tif = None
