"""Frame-exact random access to a video file with PyAV.

Opening demuxes the video stream once, without decoding, to list every frame's presentation
timestamp and which frames are keyframes; frame ``i`` is the ``i``-th timestamp in presentation
order. That gives the exact frame count, also for variable frame rate and for containers whose
header has no count (mkv, webm). Reading frame ``i``:

* sequential reads (``i`` just after the last decoded frame) keep decoding, never seek;
* a jump seeks to the last keyframe at or before ``i`` and decodes forward to exactly ``i``,
  matching frames by timestamp (frames before that keyframe, which an open GOP may emit
  broken, are skipped); if the demuxer lands too late, an earlier keyframe is tried, and last
  the file is decoded from its start;
* a small cache, bounded in bytes, keeps the last frames decoded up to ``i``, so reading
  backwards (reverse propagation) does not seek for every frame.

Files whose packets lack timestamps are decoded once when opened to count their frames (a
warning says so); if their frames lack timestamps too, or carry timestamps that no packet had,
frames are counted in decoding order instead and a jump backwards decodes from the start.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FrameReadError, FrameSourceError, FrameSourceWarning

#: Default bound on the decoded-frame cache (about 40 frames of 1080p RGB).
DEFAULT_CACHE_BYTES = 256 << 20


def _import_av() -> Any:
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is a test dependency
        raise FrameSourceError("reading video files needs PyAV (pip install av)") from error
    return av


class VideoReader:
    """Decodes frames of the first video stream of a file on demand, as ``(H, W, 3)`` uint8 RGB.

    Arguments:
        path: the video file.
        cache_bytes: bound on the memory of the decoded-frame cache.

    Attributes:
        n_frames (int): the exact number of frames.
        height, width (int): decoded frame size.
        fps (float | None): the average frame rate from the container.
        info (dict): JSON-friendly facts (codec, header frame count, how frames were counted).
        stats (dict): counters ``seeks``, ``decoded``, ``cache_hits``, ``restarts``.
    """

    def __init__(self, path: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._av = _import_av()
        self.path = Path(path)
        self._lock = threading.RLock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_bytes = int(cache_bytes)
        self.stats = {"seeks": 0, "decoded": 0, "cache_hits": 0, "restarts": 0}
        self._container: Any = None
        self._decoder: Iterator[Any] | None = None
        self._last = -1  # index of the last frame the decoder produced (-1: at the start)
        self._reorder_depth = 0
        self._capacity = 2  # until the frame size is known
        self._open()
        try:
            self._build_index()
            first = self._first_frame()
        except BaseException:
            self.close()
            raise
        self.height, self.width = first.shape[:2]
        self._capacity = max(2, self._cache_bytes // max(1, first.nbytes))

    # -- opening and indexing -------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._container = self._av.open(str(self.path))
        except Exception as error:
            raise FrameSourceError(f"{self.path} is not a readable video file: {error}") from error
        if not self._container.streams.video:
            self._container.close()
            raise FrameSourceError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._decoder, self._last = self._container.decode(self._stream), -1

    def _reopen(self) -> None:
        self._container.close()
        self._open()
        self.stats["restarts"] += 1

    def _build_index(self) -> None:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.info: dict[str, Any] = {
            "codec": stream.codec_context.name,
            "fps": self.fps,
            "header_frames": int(stream.frames),
            "time_base": str(stream.time_base),
        }
        if stream.duration is not None and stream.time_base is not None:
            self.info["duration_s"] = float(stream.duration * stream.time_base)
        try:
            packets = [
                (p.pts, p.dts, bool(p.is_keyframe))
                for p in self._container.demux(stream)
                if p.size and not p.is_discard
            ]
        except self._av.error.FFmpegError as error:
            raise FrameSourceError(f"{self.path} is corrupt: {error}") from error
        pts = [p[0] for p in packets]
        if packets and None not in pts and len(set(pts)) == len(pts):
            packets.sort(key=lambda p: p[0])
            self._set_index(
                [p[0] for p in packets],
                [i for i, p in enumerate(packets) if p[2]],
                [p[1] if p[1] is not None else p[0] for p in packets],
            )
            self.info["frame_count_method"] = "packets"
        else:
            self._index_by_decoding()
        self._reopen()
        self.stats["restarts"] = 0
        if self.n_frames == 0:
            raise FrameSourceError(f"{self.path} has zero video frames")
        header = self.info["header_frames"]
        if header and header != self.n_frames:
            warnings.warn(
                f"{self.path}: the header says {header} frames but the stream holds "
                f"{self.n_frames}; using {self.n_frames}",
                FrameSourceWarning,
                stacklevel=2,
            )

    def _set_index(self, pts: list[int], keyframes: list[int], dts: list[int]) -> None:
        self.n_frames = len(pts)
        self._pts_to_index: dict[int, int] | None = {p: i for i, p in enumerate(pts)}
        self._keyframes = keyframes or [0]
        # Demuxers index keyframes by pts (mp4, mkv) or by dts (avi): seek by pts first and
        # switch to dts for good if a pts seek lands after the keyframe asked for.
        self._seek_ts = {"pts": pts, "dts": dts}
        self._seek_by = self.info["seek_by"] = "pts"

    def _index_by_decoding(self) -> None:
        """Count frames (and collect their timestamps) by decoding the whole stream once."""
        warnings.warn(
            f"{self.path}: the container does not give frame timestamps; decoding the whole "
            "video once to count its frames",
            FrameSourceWarning,
            stacklevel=2,
        )
        self._reopen()
        frames = []
        try:
            for frame in self._container.decode(self._stream):
                frames.append((frame.pts, bool(frame.key_frame)))
        except self._av.error.FFmpegError as error:
            raise FrameSourceError(f"{self.path} is corrupt: {error}") from error
        pts = [f[0] for f in frames]
        if frames and None not in pts and pts == sorted(set(pts)):
            self._set_index(pts, [i for i, f in enumerate(frames) if f[1]], pts)
            self.info["frame_count_method"] = "decoding"
        else:
            self.n_frames, self._pts_to_index = len(frames), None
            self._keyframes, self._seek_ts, self._seek_by = [0], {}, "pts"
            self.info["frame_count_method"] = "decoding (no timestamps: slow random access)"

    def _first_frame(self) -> np.ndarray:
        frame = self.frame(0)
        self._reorder_depth = self._stream.codec_context.reorder_depth
        return frame

    # -- reading ----------------------------------------------------------------------------

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, 3)`` uint8 RGB (a cached array: do not modify it)."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} is out of range for {self.n_frames} frames")
        with self._lock:
            if i in self._cache:
                self._cache.move_to_end(i)
                self.stats["cache_hits"] += 1
                return self._cache[i]
            for start in self._plans(i):
                if start and start > 0 and self._pts_to_index is None:
                    continue  # timestamps were given up on while trying: only a restart is safe
                found = self._decode_to(i, start)
                landed_late = found is None and start and start > 0 and self._last > i
                if landed_late and self._seek_by == "pts" and self._pts_to_index is not None:
                    # the demuxer indexes keyframes by dts
                    self._seek_by = self.info["seek_by"] = "dts"
                    found = self._decode_to(i, start)
                if found is not None:
                    return found
        raise FrameReadError(f"could not decode frame {i} of {self.path}")

    def _plans(self, i: int) -> Iterator[int | None]:
        """Ways to reach frame ``i``, cheapest first: ``None`` keeps decoding from the current
        position; an int seeks to that keyframe; ``-1`` restarts from the beginning."""
        k = bisect.bisect_right(self._keyframes, i) - 1
        key = self._keyframes[max(k, 0)]
        if self._decoder is not None and self._last < i and key <= self._last + 1:
            yield None
        if self._pts_to_index is not None:
            earlier = [kf for kf in self._keyframes[: max(k, 0) + 1] if kf > 0][::-1]
            yield from earlier[:3]
        yield -1

    def _position(self, start: int | None) -> int:
        """Put the decoder where ``start`` says; return the first frame index to accept."""
        if start is None:
            return self._last + 1
        if start <= 0:
            self._reopen()
            return 0
        timestamp = self._seek_ts[self._seek_by][start]
        self._container.seek(timestamp, backward=True, stream=self._stream)
        self._stream.codec_context.reorder_depth = self._reorder_depth
        self.stats["seeks"] += 1
        self._decoder, self._last = self._container.decode(self._stream), -1
        return start

    def _decode_to(self, i: int, start: int | None) -> np.ndarray | None:
        """Decode up to frame ``i``; None when this plan went past it (try the next plan)."""
        accept_from = self._position(start)
        if self._decoder is None:  # past the end: nothing more to decode from here
            return None
        keep_from = i - self._capacity + 1
        count = self._last if start is None else accept_from - 1
        try:
            for frame in self._decoder:
                self.stats["decoded"] += 1
                if self._pts_to_index is None:
                    count += 1
                    index = count
                else:
                    index = self._pts_to_index.get(frame.pts, -1) if frame.pts is not None else -1
                    if index < 0:
                        self._give_up_timestamps(frame.pts)
                        return None
                if index < accept_from:
                    continue  # a leading frame of an open GOP: may reference a previous GOP
                self._last = index
                if index > i:
                    return None
                if index >= keep_from:
                    self._remember(index, frame.to_ndarray(format="rgb24"))
                if index == i:
                    return self._cache[i]
        except self._av.error.FFmpegError as error:
            self._decoder = None
            raise FrameReadError(f"could not decode frame {i} of {self.path}: {error}") from error
        self._decoder = None  # end of stream
        return None

    def _give_up_timestamps(self, pts: int | None) -> None:
        """A decoded frame's timestamp is not among the packets': from now on count frames in
        decoding order from the start (always right, slower for jumps backwards)."""
        warnings.warn(
            f"{self.path}: a decoded frame has timestamp {pts}, which no packet had; "
            "counting frames from the start instead (random access gets slower)",
            FrameSourceWarning,
            stacklevel=2,
        )
        self._pts_to_index, self._decoder = None, None
        self._cache.clear()
        self.info["frame_count_method"] += " (frame timestamps differ: counting frames)"

    def _remember(self, index: int, data: np.ndarray) -> None:
        self._cache[index] = data
        self._cache.move_to_end(index)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    def close(self) -> None:
        """Close the file and drop the cache."""
        with self._lock:
            self._cache.clear()
            self._decoder = None
            if self._container is not None:
                self._container.close()
                self._container = None
