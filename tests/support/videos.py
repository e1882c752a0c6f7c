"""Small video files written by the tests themselves (PyAV): frames whose content encodes their
index, so a decoded frame can be matched to the frame that was written."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

HEIGHT, WIDTH, FPS = 48, 64, 25


def make_frames(n: int) -> list[np.ndarray]:
    """Frame ``i`` (HEIGHT, WIDTH, 3) uint8: a background level and a bright block whose place
    and colour both encode ``i`` (distinct for up to 40 frames)."""
    frames = []
    for i in range(n):
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = (i * 37) % 180 + 30
        row, col = divmod(i % 12, 4)
        frame[row * 16 : row * 16 + 16, col * 16 : col * 16 + 16] = (250, 20 + 5 * i, 240 - 4 * i)
        frames.append(frame)
    return frames


def write_video(path: Path, codec: str, pix_fmt: str, frames, options=None, **context) -> Path:
    """Encode RGB ``frames`` with ``codec`` at FPS; ``context`` sets codec-context fields
    (``gop_size``, ``max_b_frames``, ...), ``options`` are encoder options."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        for name, value in context.items():
            setattr(stream.codec_context, name, value)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
