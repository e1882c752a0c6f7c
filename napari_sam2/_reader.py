"""npe2 reader: video files (mp4, m4v, avi, mov, mkv, webm) as lazy, dask-backed Image layers.

Opening a file lists its frames (PyAV demuxes the packets without decoding them) and decodes
frame 0 only; every other frame is decoded when napari (or anyone) computes its chunk. The dask
array has one chunk per frame, each read through ``sam2_engine``'s frame-exact
``VideoSource``: frame ``i`` of the layer is exactly the ``i``-th frame in presentation order,
also after random jumps, and sequential playback never seeks.

Colour videos become ``(T, Y, X, 3)`` uint8 RGB layers; videos stored with a gray pixel format
(``gray``, ``gray16le``, ...) become ``(T, Y, X)`` uint8. The layer's metadata carry ``path``,
``fps``, ``n_frames``, ``pix_fmt``, ``axes`` and the source's own facts under ``"video"``.

This module imports neither torch nor the engine at import time (napari imports it to ask
whether it can read a path); the engine's frame sources load when a video is actually opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sam2_engine.frames import VideoSource

__all__ = ["VIDEO_SUFFIXES", "get_reader", "read_video", "video_to_dask"]

#: File name suffixes this reader claims (lower case).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm")

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | Sequence[str]


def _is_video_path(path: Any) -> bool:
    return isinstance(path, (str, Path)) and Path(path).suffix.lower() in VIDEO_SUFFIXES


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """npe2 ``get_reader`` hook: :func:`read_video` when every path is a video file, else None.

    Only the file names are looked at here (cheap: napari asks every reader plugin).
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(_is_video_path(p) for p in paths):
        return read_video
    return None


def read_video(path: PathOrPaths) -> list[LayerData]:
    """Read one or several video files as lazy Image layers (one LayerData tuple each).

    Raises ``sam2_engine.frames.FrameSourceError`` (a ``ValueError``) with the file's name for
    a file that is not a readable video.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return [_video_layer(Path(p)) for p in paths]


def _video_layer(path: Path) -> LayerData:
    data, info = video_to_dask(path)
    rgb = data.ndim == 4
    kwargs: dict[str, Any] = {
        "name": path.stem,
        "rgb": rgb,
        "contrast_limits": [0, 255],  # uint8: napari must not scan the video for a range
        "multiscale": False,
        "metadata": info,
    }
    if _layer_axis_labels_supported():
        kwargs["axis_labels"] = ("t", "y", "x")
    return data, kwargs, "image"


def video_to_dask(path: str | Path, *, gray: bool | None = None) -> tuple[Any, dict[str, Any]]:
    """A video file as a lazy dask array with one chunk per frame, and facts about it.

    Arguments:
        path: the video file.
        gray: ``(T, Y, X)`` (True) or ``(T, Y, X, 3)`` RGB (False); None: gray only for videos
            stored with a gray pixel format.

    Returns:
        ``(array, info)``: a uint8 dask array ``(T, Y, X, 3)`` or ``(T, Y, X)`` and a
        JSON-friendly dict with ``path``, ``fps``, ``n_frames``, ``pix_fmt``, ``axes``,
        ``rgb`` and ``video`` (the ``VideoSource`` metadata: codec, how frames were counted...).
    """
    import dask.array as da
    from dask.base import tokenize

    from sam2_engine.frames.video_source import VideoSource

    path = Path(path)
    pix_fmt = _pixel_format(path)
    if gray is None:
        gray = pix_fmt is not None and pix_fmt.startswith(("gray", "ya", "mono"))
    source = VideoSource(path, **({"channel": 0} if gray else {}))
    frames = _VideoFrames(source)
    stat = path.stat()
    name = "video-" + tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size, gray)
    chunks = (1, *frames.shape[1:])
    array = da.from_array(
        frames,
        chunks=chunks,
        name=name,
        lock=False,
        asarray=True,
        meta=np.empty((0,) * frames.ndim, frames.dtype),
    )
    info = {
        "path": str(path),
        "fps": source.fps,
        "n_frames": len(source),
        "pix_fmt": pix_fmt,
        "axes": "TYX" if gray else "TYXC",
        "rgb": not gray,
        "video": dict(source.metadata),
    }
    return array, info


class _VideoFrames:
    """The frames of a ``VideoSource`` as an array-like for ``dask.array.from_array``: indexing
    with slices reads only the frames the first key selects."""

    def __init__(self, source: VideoSource) -> None:
        self.source = source
        self.dtype = np.dtype(source.dtype)
        frame_shape = source.read(0).shape  # decoded anyway when the source opened
        self.shape = (len(source), *frame_shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(first, slice):
            frames = [self.source.read(i) for i in range(*first.indices(self.shape[0]))]
            if not frames:
                return np.empty((0, *self.shape[1:]), self.dtype)[(slice(None), *rest)]
            return np.stack(frames)[(slice(None), *rest)]
        return self.source.read(int(first))[rest]


def _pixel_format(path: Path) -> str | None:
    """The first video stream's pixel format (``yuv420p``, ``gray``...), from the header only;
    None when PyAV cannot tell (the engine then reports what is wrong with the file)."""
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fmt = stream.codec_context.pix_fmt or stream.format.name
            return str(fmt) if fmt else None
    except Exception:  # noqa: BLE001 - any failure here is reported by VideoSource
        return None


def _layer_axis_labels_supported() -> bool:
    """Layer-level ``axis_labels`` (napari >= 0.6); older napari rejects the keyword."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(p) for p in version("napari").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (0, 6)
