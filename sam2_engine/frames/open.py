"""``open_frames``: anything that holds a video, as a ``FrameSource``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .array_source import ArraySource, is_array_like
from .base import FrameSource
from .errors import FrameFileNotFoundError, FrameSourceError
from .folder_source import IMAGE_SUFFIXES, FolderSource
from .intensity import DEFAULT_PERCENTILES
from .layout import Channel
from .tiff_source import TIFF_SUFFIXES, TiffSource
from .video_source import VIDEO_SUFFIXES, VideoSource
from .zarr_source import ZarrSource, is_zarr_path

SUPPORTED = (
    "a numpy or dask array, a zarr array or group, a TIFF/OME-TIFF file, a zarr/OME-Zarr "
    f"store, a folder of images ({', '.join(IMAGE_SUFFIXES)}), a single image, or a video file "
    f"({', '.join(VIDEO_SUFFIXES)})"
)


def open_frames(
    video: Any,
    *,
    axes: str | None = None,
    axis: str | None = None,
    index: Mapping[str, int] | None = None,
    channel: Channel | Sequence[int] | None = None,
    contrast_limits: tuple[float, float] | None = None,
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    missing_chunks: str | None = None,
) -> FrameSource:
    """Open ``video`` as a lazy ``FrameSource``; nothing is read until a frame is asked for.

    Arguments:
        video: a ``FrameSource`` (returned as is); a numpy, dask or zarr array (a napari
            layer's data); a path to a TIFF/OME-TIFF file, a zarr or OME-Zarr store, a folder
            of images, a single image, or a video file (.mp4 .m4v .avi .mov .mkv .webm).
        axes: one letter of ``TZCYX`` per dimension, e.g. ``"TCYX"``; default: the file's own
            axes metadata, else a guess (recorded in ``metadata["axes_source"]``).
        axis: the axis frames are taken along (the propagation axis): default ``T``, else
            ``Z`` (a 3-D stack is a video along z).
        index: the position on each other non-image axis, e.g. ``{"T": 3}`` for
            ``axes="TZYX", axis="Z"``; default 0.
        channel: one channel index (shown to the model as gray) or three (as RGB); default
            the three colour channels when there are 3 or 4, else channel 0.
        contrast_limits: ``(low, high)`` mapped to 0 and 1 for non-8-bit data (napari's
            contrast limits); default: robust percentiles over up to 16 sampled frames.
        percentiles: the percentiles used when ``contrast_limits`` is None.
        missing_chunks: zarr only: ``"warn"`` (default), ``"error"`` or ``"fill"``, what a
            frame touching a chunk missing from the store does (see ``ZarrSource``).

    Raises:
        FrameSourceError (a ``ValueError``): naming the argument or file that does not fit.
        FrameFileNotFoundError (also a ``FileNotFoundError``): the path does not exist.
    """
    options: dict[str, Any] = {
        "axes": axes,
        "axis": axis,
        "index": index,
        "channel": channel,
        "contrast_limits": contrast_limits,
        "percentiles": percentiles,
    }
    if isinstance(video, FrameSource):
        changed = [k for k, v in options.items() if k != "percentiles" and v is not None]
        if tuple(percentiles) != tuple(DEFAULT_PERCENTILES):
            changed.append("percentiles")
        if missing_chunks is not None:
            changed.append("missing_chunks")
        if changed:
            raise FrameSourceError(
                f"video is already a FrameSource; {', '.join(changed)} cannot be applied to it "
                "(open the underlying data with these options instead)"
            )
        return video
    zarr_options = {} if missing_chunks is None else {"missing_chunks": missing_chunks}
    if isinstance(video, (str, Path)):
        source = _open_path(Path(video), options, zarr_options)
    elif _is_zarr_group(video) or _is_zarr_array(video):
        source = ZarrSource(video, **zarr_options, **options)
    elif is_array_like(video):
        source = ArraySource(video, **options)
    else:
        raise FrameSourceError(
            f"video of type {type(video).__name__} is not supported; give {SUPPORTED}"
        )
    if zarr_options and not isinstance(source, ZarrSource):
        source.close()
        raise FrameSourceError(
            f"missing_chunks={missing_chunks!r} applies to zarr stores only; this video is "
            f"{source.metadata.get('kind', type(source).__name__)}"
        )
    return source


def _is_zarr_group(obj: Any) -> bool:
    return type(obj).__module__.startswith("zarr") and type(obj).__name__ == "Group"


def _is_zarr_array(obj: Any) -> bool:
    return type(obj).__module__.startswith("zarr") and hasattr(obj, "nchunks_initialized")


def _open_path(path: Path, options: dict[str, Any], zarr_options: dict[str, Any]) -> FrameSource:
    if not path.exists():
        raise FrameFileNotFoundError(f"video {str(path)!r} does not exist")
    if path.is_dir():
        if is_zarr_path(path):
            return ZarrSource(path, **zarr_options, **options)
        return FolderSource(path, **options)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return TiffSource(path, **options)
    if suffix in VIDEO_SUFFIXES:
        return VideoSource(path, **options)
    if suffix in IMAGE_SUFFIXES:
        return FolderSource([path], **options)
    raise FrameSourceError(f"{path} is not a supported file type; give {SUPPORTED}")
