"""Frames from a video file (mp4, avi, mov, mkv, webm, ...) decoded on demand with PyAV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .array_source import ArraySource
from .paged import PagedArray
from .video_reader import DEFAULT_CACHE_BYTES, VideoReader

VIDEO_SUFFIXES = (".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm")


class VideoSource(ArraySource):
    """The frames of a video file as ``(H, W, 3)`` uint8 RGB, with frame-exact random access.

    ``read_rgb`` returns the decoded values unchanged. ``channel=`` picks one colour channel as
    gray or reorders three. See ``VideoReader`` for how frames are counted, sought and cached.

    Arguments:
        path: the video file.
        cache_bytes: bound on the decoded-frame cache (default 256 MiB).
        **layout: ``channel``, ``contrast_limits``, ``percentiles`` as for ``ArraySource``.

    Attributes:
        fps (float | None): the average frame rate.
        stats (dict): decoder counters ``seeks``, ``decoded``, ``cache_hits``, ``restarts``.
    """

    def __init__(
        self, path: str | Path, *, cache_bytes: int = DEFAULT_CACHE_BYTES, **layout: Any
    ) -> None:
        self.path = Path(path)
        self._reader = VideoReader(self.path, cache_bytes=cache_bytes)
        reader = self._reader
        frames = PagedArray(
            (reader.n_frames,),
            (reader.height, reader.width, 3),
            "uint8",
            reader.frame,
            describe=lambda k: f"frame {k} of {self.path}",
        )
        info = {"kind": "video", "path": str(self.path), **reader.info}
        try:
            super().__init__(frames, file_axes="TYXC", metadata=info, **layout)
        except BaseException:
            reader.close()
            raise

    def read(self, index: int) -> np.ndarray:
        frame = super().read(index)
        if "seek_by" in self._reader.info:  # learnt while seeking: pts (mp4, mkv) or dts (avi)
            self.metadata["seek_by"] = self._reader.info["seek_by"]
        return frame

    @property
    def fps(self) -> float | None:
        return self._reader.fps

    @property
    def stats(self) -> dict[str, int]:
        return self._reader.stats

    def close(self) -> None:
        self._reader.close()
