"""Label stacks as one multi-page TIFF (``.tif``, ``.tiff``), written page by page."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.constants import INFO_KEY, software
from sam2_engine.sinks.file_sink import FileSink
from sam2_engine.sinks.registry import SinkFormat, register_format

#: Above this many bytes of image data a TIFF is written as BigTIFF (tifffile's own limit: 4 GiB
#: less 32 MiB kept for the page directories).
BIGTIFF_THRESHOLD = 2**32 - 2**25

#: Dtypes an ImageJ hyperstack can hold that make sense for labels (8 and 16 bit).
IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))


class TiffSink(FileSink):
    """Writes label images into a new uncompressed multi-page TIFF, page by page, in any order.

    The file is laid out at creation (``tifffile.imwrite`` with no data: every page directory
    and a zero-filled, usually sparse, data area), then each frame's bytes are written in place
    at its page's offset, so frames can arrive in any order (reverse propagation) and memory and
    file handles stay flat. Frames never written read as 0. The file is ``<path>.partial``
    until :meth:`LabelSink.close` renames it; :attr:`info` goes into its description.

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
        overwrite (bool): replace an existing ``path`` written by napari-sam2 (only at a
            successful close) and a leftover ``<path>.partial``; otherwise either raises
            ``FileExistsError``.
        inputs: the run's inputs, never overwritten.
        info: provenance recorded in the file (see :meth:`read_info`).
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
        inputs: Iterable[Any] = (),
        info: dict[str, Any] | None = None,
    ) -> None:
        self._layout = (bigtiff, imagej)
        self._file: Any = None
        super().__init__(
            path, shape, dtype, threshold=threshold, overwrite=overwrite, inputs=inputs, info=info
        )

    def _create(self) -> None:
        import tifffile

        bigtiff, imagej = self._layout
        frames, height, width = self.shape
        self._file_dtype = self.dtype.newbyteorder("<")
        self._frame_bytes = height * width * self._file_dtype.itemsize
        if bigtiff is None:
            bigtiff = frames * self._frame_bytes > BIGTIFF_THRESHOLD
        if imagej is None:
            imagej = self.dtype in IMAGEJ_DTYPES and not bigtiff
        elif imagej and self.dtype not in IMAGEJ_DTYPES:
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
            raise RuntimeError(f"tifffile did not write {self.path}'s pages as one block")
        self._offset: int = int(offset)
        self._file = open(self.partial_path, "r+b")  # noqa: SIM115 - held until close

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        data = np.ascontiguousarray(labels, dtype=self._file_dtype)
        self._file.seek(self._offset + frame_idx * self._frame_bytes)
        self._file.write(memoryview(data).cast("B"))
        self._file.flush()  # into the OS now: an interrupted run keeps this frame

    def _flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
                self._file = None

    def _write_info(self) -> None:
        stamp_tiff(self.partial_path, {"software": software(), **self.info})

    @staticmethod
    def read_info(path: Path) -> dict[str, Any] | None:
        return read_tiff_info(path)


def stamp_tiff(path: Path, info: dict[str, Any]) -> None:
    """Add ``info`` to a TIFF's description: a ``napari_sam2={json}`` line for ImageJ files,
    a key of tifffile's JSON description otherwise."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        description = tif.pages.first.description
        imagej = tif.is_imagej
    if imagej:
        kept = [line for line in description.splitlines() if not line.startswith(f"{INFO_KEY}=")]
        text = "\n".join([*kept, f"{INFO_KEY}={json.dumps(info)}"]) + "\n"
    else:
        meta = json.loads(description) if description.startswith("{") else {}
        text = json.dumps({**meta, INFO_KEY: info})
    tifffile.tiffcomment(path, text)


def read_tiff_info(path: Path) -> dict[str, Any] | None:
    """The provenance a TIFF written by napari-sam2 records, or None (a damaged file is left
    to the frame reader to describe: nothing is logged here)."""
    import tifffile

    from ..frames.tiff_source import tifffile_quiet

    with tifffile_quiet(), tifffile.TiffFile(path) as tif:
        if tif.is_imagej:
            value = (tif.imagej_metadata or {}).get(INFO_KEY)
            return None if value is None else json.loads(value)
        description = tif.pages.first.description
    if not description.startswith("{"):
        return None
    value = json.loads(description).get(INFO_KEY)
    return value if isinstance(value, dict) else None


def _open_tiff(path: Path) -> Any:
    import tifffile

    labels = tifffile.memmap(path, mode="r")
    return labels[None] if labels.ndim == 2 else labels  # a one-frame stack is still (1, H, W)


register_format(
    SinkFormat(
        name="tiff",
        suffixes=(".tif", ".tiff"),
        sink=TiffSink,
        open_labels=_open_tiff,
        description="multi-page TIFF (ImageJ hyperstack TYX for 8/16-bit labels)",
    )
)
