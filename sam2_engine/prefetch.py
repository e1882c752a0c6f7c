"""Reading and preprocessing the next frames in the background while the model works."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from .frames import FrameSource, to_model_input


class FramePrefetcher:
    """Prepares model inputs (3, S, S) of upcoming frames in one background thread.

    Only decoding and resizing happen in the background (cheap, I/O bound); the model runs on
    the caller's thread. At most ``depth`` frames are prepared ahead, so memory stays bounded.
    """

    def __init__(self, frames: FrameSource, image_size: int, depth: int = 2) -> None:
        self.frames = frames
        self.image_size = image_size
        self.depth = depth
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _prepare(self, index: int) -> torch.Tensor:
        frame = self.frames.read_rgb(index)
        height, width = self.frames.height, self.frames.width
        if frame.shape[:2] != (height, width):
            from .errors import VideoStateError

            raise VideoStateError(
                f"frame {index} has shape {frame.shape[:2]}, but the video's frames are "
                f"{(height, width)}: all frames must have one size"
            )
        return to_model_input(frame, self.image_size)

    def get(self, index: int) -> torch.Tensor:
        """The model input of frame ``index``: prepared in advance if scheduled, else now."""
        with self._lock:
            future = self._pending.pop(index, None)
        if future is not None:
            return future.result()  # re-raises a read error of that frame
        return self._prepare(index)

    def schedule(self, indices: Iterable[int]) -> None:
        """Start preparing up to ``depth`` of ``indices`` (in order) not already pending."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sam2-prefetch")
            for index in indices:
                if len(self._pending) >= self.depth:
                    break
                if index not in self._pending:
                    self._pending[index] = self._pool.submit(self._prepare, index)

    def discard(self) -> None:
        """Drop prepared frames that were not used (e.g. after a cancelled propagation)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.cancel()

    def close(self) -> None:
        self.discard()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
