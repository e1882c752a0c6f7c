"""Frames from a folder of image files (png, jpg, jpeg, tif, tiff, bmp), one file per frame.

Files are sorted naturally (``img2`` before ``img10``); other files and hidden files are ignored.
Opening reads only the files' headers to check that all frames have the same size and kind;
each read decodes one file and checks its shape again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .array_source import ArraySource
from .errors import FrameReadError, FrameSourceError
from .paged import PagedArray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_TIFF = (".tif", ".tiff")
#: PIL modes read as 8-bit gray; everything 8-bit that is not gray becomes RGB.
_GRAY_8BIT = {"1": "L", "L": "L", "LA": "L"}
#: PIL modes with more than 8 bits, read as one gray channel of this dtype.
_GRAY_DEEP = {"I;16": np.uint16, "I;16L": np.uint16, "I;16B": np.uint16, "I": np.int32}
_GRAY_DEEP["F"] = np.float32


def natural_key(name: str) -> tuple:
    """Sort key putting ``img2`` before ``img10`` (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts), name


def list_images(folder: Path) -> list[Path]:
    """The image files of ``folder`` in natural order (hidden files skipped)."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def _probe(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Frame shape and dtype of an image file from its header, without decoding pixels."""
    try:
        if path.suffix.lower() in _TIFF:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, dtype = tuple(series.shape), np.dtype(series.dtype)
            if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4))):
                raise FrameSourceError(
                    f"{path} holds an image of shape {shape}; a folder frame must be one 2-D "
                    "gray or RGB image"
                )
            return (shape[0], shape[1], 3) if len(shape) == 3 else shape, dtype
        with Image.open(path) as image:
            width, height, mode = image.width, image.height, image.mode
    except FrameSourceError:
        raise
    except Exception as error:
        raise FrameSourceError(f"{path} is not a readable image: {error}") from error
    if mode in _GRAY_8BIT:
        return (height, width), np.dtype(np.uint8)
    if mode in _GRAY_DEEP:
        return (height, width), np.dtype(_GRAY_DEEP[mode])
    return (height, width, 3), np.dtype(np.uint8)


def _decode(path: Path) -> np.ndarray:
    """The pixels of one image file: ``(H, W)`` or ``(H, W, 3)`` (alpha dropped)."""
    if path.suffix.lower() in _TIFF:
        import tifffile

        data = tifffile.imread(path, series=0)
        return data[..., :3] if data.ndim == 3 else data
    with Image.open(path) as image:
        mode = image.mode
        if mode in _GRAY_8BIT:
            image = image.convert("L") if mode != "L" else image
        elif mode not in _GRAY_DEEP and mode != "RGB":
            image = image.convert("RGB")
        data = np.asarray(image)
    return data.astype(data.dtype.newbyteorder("="), copy=False)


class FolderSource(ArraySource):
    """One frame per image file of a folder (or of a given list of files), read on demand.

    8-bit gray and colour files may be mixed: gray frames are then replicated to RGB. Files must
    otherwise agree in size and bit depth; the first disagreement (checked from headers when
    opening, and again per read) raises ``FrameSourceError`` naming both files.

    Arguments:
        folder: a directory, or a sequence of image files in frame order.
        **layout: ``channel``, ``contrast_limits``, ``percentiles`` (``axes`` is ``TYX`` or
            ``TYXC``).
    """

    def __init__(self, folder: str | Path | Sequence[str | Path], **layout: Any) -> None:
        if isinstance(folder, (str, Path)):
            self.folder: Path | None = Path(folder)
            self.paths = list_images(self.folder)
            if not self.paths:
                raise FrameSourceError(
                    f"folder {self.folder} has no images ({', '.join(IMAGE_SUFFIXES)})"
                )
        else:
            self.folder, self.paths = None, [Path(p) for p in folder]
            if not self.paths:
                raise FrameSourceError("the list of image files is empty")
        page_shape, dtype = self._check_headers()
        pages = PagedArray(
            (len(self.paths),),
            page_shape,
            dtype,
            self._read_file,
            describe=lambda k: f"image {self.paths[k]}",
        )
        info = {
            "kind": "folder",
            "path": str(self.folder if self.folder is not None else self.paths[0].parent),
            "n_files": len(self.paths),
        }
        super().__init__(pages, metadata=info, **layout)

    def _check_headers(self) -> tuple[tuple[int, ...], np.dtype]:
        first = self.paths[0]
        shape, dtype = _probe(first)
        color = len(shape) == 3
        for path in self.paths[1:]:
            other_shape, other_dtype = _probe(path)
            mixed_8bit = dtype == other_dtype == np.uint8 and other_shape[:2] == shape[:2]
            if other_shape != shape and mixed_8bit:
                color = True
            elif other_shape != shape or other_dtype != dtype:
                raise FrameSourceError(
                    f"images in the folder differ: {first.name} is {shape} {dtype} but "
                    f"{path.name} is {other_shape} {other_dtype} (all frames must match)"
                )
        self._color = color
        return (shape[0], shape[1], 3) if color else shape[:2], dtype

    def _read_file(self, k: int) -> np.ndarray:
        path = self.paths[k]
        try:
            data = _decode(path)
        except Exception as error:
            raise FrameReadError(f"could not read image {path}: {error}") from error
        if self._color and data.ndim == 2:
            data = np.repeat(data[:, :, None], 3, axis=2)
        return data
