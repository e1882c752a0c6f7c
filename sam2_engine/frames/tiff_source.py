"""Frames from a TIFF or OME-TIFF file: read with one positioned read per page when the data is
stored contiguously and uncompressed, otherwise page by page. The file is never read whole.

Opening checks that the file holds every page its metadata declares (a truncated copy or an
interrupted write is refused, naming the first missing frame) and decides, by a stated rule,
whether a samples axis is colour or frames (see :func:`samples_axis_rule`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .array_source import ArraySource
from .errors import FrameReadError, FrameSourceError, FrameSourceWarning
from .layout import axes_from_names
from .paged import PagedArray

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")


@contextlib.contextmanager
def tifffile_quiet() -> Iterator[None]:
    """tifffile logs what it finds wrong in a file (bad page offsets, series that do not
    reshape) as errors; while a file is opened they are left to our own checks."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _import_tifffile() -> Any:
    try:
        import tifffile
    except ImportError as error:  # pragma: no cover - tifffile is a test dependency
        raise FrameSourceError("reading TIFF files needs the tifffile package") from error
    return tifffile


class TiffSource(ArraySource):
    """Frames of one series of a TIFF / OME-TIFF / ImageJ hyperstack.

    The series' full-resolution level is used; its axes come from the file's metadata
    (OME or ImageJ; a plain page sequence is ``T``; tifffile's samples axis ``S`` is colour,
    frames or refused by the rule of :func:`samples_axis_rule`) unless ``axes`` is given.
    ``metadata["tiff_access"]`` says ``"contiguous"`` or ``"pages"``. A file that lacks pages
    its metadata declares, or whose data runs past its end, is refused when opened
    (``FrameSourceError`` naming the missing frames); a page that cannot be decoded raises
    ``FrameReadError`` naming the frame when it is read.

    Arguments:
        path: the TIFF file.
        series: which series of a multi-series file (default the first).
        **layout: ``axes``, ``axis``, ``index``, ``channel``, ``contrast_limits``,
            ``percentiles`` as for ``ArraySource``.
    """

    def __init__(self, path: str | Path, *, series: int = 0, **layout: Any) -> None:
        with tifffile_quiet():  # a damaged file gets our one message, not tifffile's log lines
            self._open(Path(path), series, layout)

    def _open(self, path: Path, series: int, layout: dict[str, Any]) -> None:
        tifffile = _import_tifffile()
        self.path = path
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
            _check_complete(self.path, tif, tiff_series, series)
            file_axes = samples_axis_rule(self.path, tiff_series, given=layout.get("axes"))
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
            super().__init__(array, file_axes=file_axes, metadata=info, **layout)
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
            try:
                return pages[k].asarray()
            except Exception as error:  # a damaged compressed page, a bad tile
                raise FrameReadError(
                    f"page {k} is damaged and cannot be decoded ({error}); the file is "
                    "corrupt: copy or export it again (the original may be intact)"
                ) from error

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


# --------------------------------------------------------------------------- completeness


def _next_ifd_offset(tif: Any, page: Any) -> int | None:
    """The "next page" offset stored after ``page``'s tag directory; None if unreadable."""
    fmt, fh = tif.tiff, tif.filehandle
    try:
        fh.seek(page.offset)
        raw = fh.read(fmt.tagnosize)
        (count,) = struct.unpack(fmt.byteorder + fmt.tagnoformat[-1], raw)
        fh.seek(page.offset + fmt.tagnosize + count * fmt.tagsize)
        raw = fh.read(fmt.offsetsize)
        if len(raw) != fmt.offsetsize:
            return None
        (offset,) = struct.unpack(fmt.byteorder + fmt.offsetformat[-1], raw)
    except (OSError, struct.error):
        return None
    return int(offset)


def _declared_pages(
    tif: Any, series: int, page_shape: tuple[int, ...]
) -> tuple[int, str, bool] | None:
    """What the file's own metadata declares for ``series`` (tifffile's shaped description, or
    ImageJ's image count), independent of how many pages tifffile could read: the page count,
    the words to say so, and whether one page is one frame."""
    page_size = math.prod(page_shape)
    if getattr(tif, "is_shaped", False) and page_size:
        described = tif.shaped_metadata or ()
        if series < len(described) and "shape" in described[series]:
            shape = tuple(int(n) for n in described[series]["shape"])
            lead = len(shape) - len(page_shape)
            return max(1, math.prod(shape) // page_size), f"shape {shape}", lead <= 1
    if series == 0 and getattr(tif, "is_imagej", False):
        header = tif.imagej_metadata or {}
        if header.get("images"):
            images = int(header["images"])
            axes = sum(int(header.get(k, 1)) > 1 for k in ("channels", "slices", "frames"))
            return images, f"images={images} in its ImageJ header", axes <= 1
    return None


def _frames_text(first: int, total: int, noun: str) -> str:
    """``frames 4..5`` or ``frame 5``."""
    if first == total - 1:
        return f"{noun} {first} is"
    return f"{noun}s {first}..{total - 1} are"


def _check_complete(path: Path, tif: Any, tiff_series: Any, series: int) -> None:
    """Refuse a file that lacks pages its metadata declares, or whose data runs past its end.

    Three facts are compared with the file's size: where each page's data ends, the page count
    that the metadata declares (tifffile's shaped description, ImageJ's ``images=``), and the
    "next page" pointer after the last page tifffile found (it points past the end when the
    file was cut short). A file that fails any of them is truncated or damaged; reading it
    anyway would silently give fewer frames (often one) or blank ones.
    """
    size = os.path.getsize(path)
    pages = list(tiff_series.pages)
    advice = "Nothing was read: copy or export the file again (the original may be intact)."
    if not pages or pages[0] is None:
        raise FrameSourceError(f"{path} is damaged: series {series} has no first page. {advice}")
    page_shape = tuple(pages[0].shape)
    page_size = math.prod(page_shape)
    shape = tuple(tiff_series.shape)
    total = max(1, math.prod(shape) // page_size) if page_size else 1
    noun = "frame" if len(shape) - len(page_shape) <= 1 else "page"
    declared = _declared_pages(tif, series, page_shape)
    if declared is not None and declared[0] > total:
        # tifffile fell back to fewer pages than declared: count the file's pages instead
        total, noun = declared[0], "frame" if declared[2] else "page"
        pages = list(tif.pages)

    if tiff_series.dataoffset is not None and pages[0].is_contiguous:
        # uncompressed, in one block: count the whole pages the file still holds
        page_bytes = page_size * np.dtype(tiff_series.dtype).itemsize
        complete = min(total, max(0, (size - int(tiff_series.dataoffset)) // max(1, page_bytes)))
    else:
        complete = next(
            (
                k
                for k, page in enumerate(pages)
                if page is None
                or (
                    getattr(page, "parent", tif) is tif  # pages of other files: their own check
                    and any(
                        o + n > size
                        for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)
                    )
                )
            ),
            len(pages),
        )
        complete = min(complete, len(tif.pages))
    if complete < total:
        if declared is not None:
            what = f"declares {total} {noun}s ({declared[1]})"
        else:
            what = f"has {total} {noun}s"
        raise FrameSourceError(
            f"{path} is truncated or damaged: it {what} but only {complete} "
            f"{'is' if complete == 1 else 'are'} complete; "
            f"{_frames_text(complete, total, noun)} missing or cut short (the file has "
            f"{size} bytes). {advice}"
        )

    found = len(tif.pages)
    following = _next_ifd_offset(tif, tif.pages[found - 1])
    if following is None or following >= size:
        where = "that cannot be read" if following is None else f"at byte {following}"
        raise FrameSourceError(
            f"{path} is truncated or damaged: after page {found - 1} it points to another "
            f"page {where}, beyond its end ({size} bytes), so the pages from {found} on are "
            f"missing. {advice}"
        )


# --------------------------------------------------------------------------- samples


#: tifffile's PHOTOMETRIC values that mean colour pixels (RGB; YCbCr is decoded to RGB).
_COLOUR_PHOTOMETRIC = (2, 6)


def samples_axis_rule(path: Path, tiff_series: Any, given: str | None) -> str | None:
    """The axes of ``tiff_series`` in our letters, with tifffile's samples axis ``S`` resolved.

    TIFF stores several values per pixel ("samples") for colour images, but ``tifffile.imwrite``
    also stores a ``(3, H, W)`` or ``(4, H, W)`` stack as one page of 3 or 4 *planar* samples
    (axes ``SYX``), which is really 3 or 4 frames. The rule, applied when ``axes`` is not given:

    - colour (``C``, read as RGB): 3 or 4 samples with RGB photometric, stored interleaved
      (``...YXS``, how cameras and image editors write colour, any bit depth), or stored planar
      in 8 bits (``SYX`` uint8; announced with a ``FrameSourceWarning``, since an 8-bit
      ``(3, H, W)`` stack written by tifffile looks the same);
    - frames (``T``): planar samples of any other kind (``SYX``, e.g. a ``(4, 96, 128)`` uint16
      stack) when the page is the whole series; announced with a ``FrameSourceWarning`` that
      says how to read them as channels instead (``axes="CYX"``);
    - channels (``C``): samples of an OME-TIFF, whose metadata declares them as channels;
    - anything else (interleaved samples that are not RGB, planar samples beside other axes):
      ``FrameSourceError`` asking for ``axes=``.
    """
    axes = tiff_series.axes
    if given is not None or "S" not in axes:
        return axes_from_names(list(axes))
    page = tiff_series.pages[0]
    samples = tiff_series.shape[axes.index("S")]
    dtype = np.dtype(tiff_series.dtype)
    photometric = int(getattr(page, "photometric", 0) or 0)
    planar = axes.index("S") < axes.index("Y")
    rgb = samples in (3, 4) and photometric in _COLOUR_PHOTOMETRIC
    what = (
        f"{path} stores {samples} {'planar' if planar else 'interleaved'} samples per pixel "
        f"({dtype}, photometric {photometric}, axes {axes!r})"
    )
    as_channels = axes_from_names(list(axes)) or axes.replace("S", "C")
    as_frames = as_channels.replace("C", "Z" if "T" in as_channels else "T")
    if getattr(tiff_series, "kind", "") == "ome" and "C" not in axes:
        return axes_from_names(list(axes.replace("S", "C")))
    if rgb and not planar:
        return axes_from_names(list(axes))
    if rgb and dtype == np.uint8:
        warnings.warn(
            f"{what}: read as one RGB image per page. If these are {samples} frames (a "
            f"(3, H, W) stack written by tifffile.imwrite looks the same), pass "
            f"axes={as_frames!r} (--axes {as_frames} on the command line).",
            FrameSourceWarning,
            stacklevel=5,
        )
        return axes_from_names(list(axes))
    others = [a for a in axes if a not in "SYX"]
    if planar and not others:
        warnings.warn(
            f"{what}: not an 8-bit RGB image, so the {samples} samples are read as {samples} "
            f"frames along T (how tifffile.imwrite stores a small stack). Pass "
            f"axes={as_channels!r} (--axes {as_channels}) to read them as channels of one image "
            "instead.",
            FrameSourceWarning,
            stacklevel=5,
        )
        return axes.replace("S", "T")
    raise FrameSourceError(
        f"{what}: it is not clear whether the samples are colour channels or frames. Pass "
        f"axes= with one letter per dimension of shape {tuple(tiff_series.shape)}: "
        f"axes={as_channels!r} reads them as channels (channel= picks which), "
        f"axes={as_frames!r} as frames (--axes and --channel on the command line)."
    )
