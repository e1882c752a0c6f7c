"""Codecs, containers and writers behind :mod:`napari_sam2.video_export` (PyAV).

The tables say which output each kind of export can be written to; :func:`available_codecs`
checks them against the FFmpeg build PyAV ships here (VP9 alpha by a real round trip). Writers
take one frame at a time: :class:`VideoWriter` (one video stream in a container) and
:class:`PngWriter` (a folder of numbered PNG images, 8 or 16 bit). Where they write (a
partial, published when complete) is :mod:`sam2_engine.publish`'s business.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

#: A folder output (an image sequence) is keyed by the empty suffix.
FOLDER = ""

CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".avi": "avi",
    ".webm": "webm",
}
OPAQUE = {
    ".mp4": ("libx264",),
    ".m4v": ("libx264",),
    ".mov": ("libx264", "prores_ks", "qtrle"),
    ".mkv": ("ffv1", "libx264"),
    ".avi": ("ffv1",),
}
#: kind -> output suffix (FOLDER for an image sequence) -> codecs, the default first.
OUTPUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "masks": {FOLDER: ("png",)},
    "matte": OPAQUE,
    "cutout": {
        ".mov": ("prores_ks", "qtrle"),
        ".mkv": ("ffv1",),
        ".webm": ("libvpx-vp9",),
        FOLDER: ("png",),
    },
    "background": OPAQUE,
    "overlay": OPAQUE,
}
#: What each kind's frames hold: a gray alpha, RGB or RGBA.
LAYOUT = {
    "masks": "gray",
    "matte": "gray",
    "cutout": "rgba",
    "background": "rgb",
    "overlay": "rgb",
}
#: The kinds of output :func:`napari_sam2.video_export.export_video` makes.
KINDS = tuple(OUTPUTS)
#: PyAV's ndarray formats for 8- and 16-bit frames of each layout.
FRAME_FORMAT = {
    ("gray", False): "gray",
    ("rgb", False): "rgb24",
    ("rgba", False): "rgba",
    ("rgb", True): "rgb48le",
    ("rgba", True): "rgba64le",
}


class ExportError(ValueError):
    """An output that cannot be made: unknown kind or codec, a codec missing here, or labels
    that do not fit the video."""


@dataclass(frozen=True)
class Codec:
    """An encoder and the pixel formats it gets for each layout (8-bit and, if any, 16-bit)."""

    name: str
    pix_fmt: dict[str, str]
    deep_pix_fmt: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bit_rate: int | None = None


CODECS = {
    # visually lossless, widely playable H.264 (4:4:4 only when a size is odd)
    "libx264": Codec("libx264", {"gray": "yuv420p", "rgb": "yuv420p"}, options={"crf": "15"}),
    # ProRes 4444 (the profile follows the 4:4:4 pixel formats), 10-bit, alpha for cut-outs
    "prores_ks": Codec(
        "prores_ks",
        {"gray": "yuv444p10le", "rgb": "yuv444p10le", "rgba": "yuva444p10le"},
        {"rgb": "yuv444p10le", "rgba": "yuva444p10le"},
    ),
    # QuickTime Animation: lossless 8-bit RGB(A)
    "qtrle": Codec("qtrle", {"gray": "rgb24", "rgb": "rgb24", "rgba": "argb"}),
    # FFV1: lossless, up to 16 bits
    "ffv1": Codec(
        "ffv1",
        {"gray": "gray", "rgb": "bgr0", "rgba": "bgra"},
        {"rgb": "gbrp16le", "rgba": "gbrap16le"},
        options={"level": "3"},
    ),
    # VP9 in constant-quality mode; WebM keeps alpha as a second stream of block additions
    "libvpx-vp9": Codec(
        "libvpx-vp9", {"rgba": "yuva420p"}, options={"crf": "15", "row-mt": "1"}, bit_rate=0
    ),
    "png": Codec(
        "png",
        {"gray": "gray", "rgb": "rgb24", "rgba": "rgba"},
        {"rgb": "rgb48be", "rgba": "rgba64be"},
    ),
}


# --------------------------------------------------------------------------------------------
# What this PyAV can encode
# --------------------------------------------------------------------------------------------


def available_codecs(kind: str) -> dict[str, tuple[str, ...]]:
    """The outputs of ``kind`` that this installation can write: suffix (``""`` for a folder of
    PNG images) -> codecs, the default first. VP9 with alpha is checked by encoding and decoding
    two small frames once per process."""
    outputs = outputs_of(kind)
    found = {
        suffix: tuple(c for c in codecs if codec_available(c, LAYOUT[kind]))
        for suffix, codecs in outputs.items()
    }
    return {suffix: codecs for suffix, codecs in found.items() if codecs}


def outputs_of(kind: str) -> dict[str, tuple[str, ...]]:
    """``OUTPUTS[kind]``, or an :class:`ExportError` listing the kinds."""
    try:
        return OUTPUTS[kind]
    except (KeyError, TypeError):
        raise ExportError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}") from None


def describe(outputs: Mapping[str, Sequence[str]]) -> str:
    """E.g. ``".mov (prores_ks, qtrle), a folder (png)"``; ``"nothing"`` when empty."""
    parts = [
        f"{'a folder' if suffix == FOLDER else suffix} ({', '.join(codecs)})"
        for suffix, codecs in outputs.items()
    ]
    return ", ".join(parts) or "nothing"


def describe_available(kind: str) -> str:
    """``describe`` of what ``kind`` can be written to here, noting what this PyAV lacks."""
    here = available_codecs(kind)
    missing = {
        suffix: [c for c in codecs if c not in here.get(suffix, ())]
        for suffix, codecs in OUTPUTS[kind].items()
    }
    missing = {suffix: codecs for suffix, codecs in missing.items() if codecs}
    if not missing:
        return describe(here)
    return f"{describe(here)}; this PyAV/FFmpeg cannot write {describe(missing)}"


def codec_available(name: str, layout: str) -> bool:
    """Whether PyAV here has the encoder ``name`` (and, for VP9 with alpha, a working round
    trip)."""
    import av

    try:
        av.codec.Codec(name, "w")
    except av.codec.codec.UnknownCodecError:
        return False
    if name == "libvpx-vp9" and layout == "rgba":
        return vp9_alpha_round_trip()
    return True


@functools.cache
def vp9_alpha_round_trip() -> bool:
    """Whether VP9 with alpha survives a WebM round trip here (encoded as yuva420p, read back
    with the libvpx-vp9 decoder)."""
    import av

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:12, 4:12] = 255
    try:
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="webm") as container:
            stream = container.add_stream("libvpx-vp9", rate=10)
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuva420p"
            for _ in range(2):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")))
            container.mux(stream.encode())
        buffer.seek(0)
        decoded = decode_frames(buffer, "rgba")
    except (av.FFmpegError, ValueError, OSError):
        return False
    return len(decoded) == 2 and np.abs(decoded[:, :, :, 3].astype(int) - rgba[..., 3]).max() < 32


def decode_frames(file: str | os.PathLike | io.IOBase, fmt: str = "rgb24") -> np.ndarray:
    """Every frame of a video file as ``(T, H, W, C)`` (or ``(T, H, W)`` for gray formats).

    ``fmt`` is a PyAV ndarray format (``"rgb24"``, ``"rgba"``, ``"gray"``, ``"rgba64le"``...).
    VP9 is decoded with ``libvpx-vp9`` so that a WebM's alpha comes back. For checks and
    previews of short clips: the whole video is held in memory.
    """
    import av

    with av.open(file if isinstance(file, io.IOBase) else str(file)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            frames = [f for packet in container.demux(stream) for f in decoder.decode(packet)]
        else:
            frames = list(container.decode(stream))
    return np.stack([f.to_ndarray(format=fmt) for f in frames])


def output_suffix(output: Path, kind: str) -> str:
    """The output's container suffix (lower case), or FOLDER for a path without a suffix."""
    outputs = outputs_of(kind)
    suffix = output.suffix.lower()
    if suffix not in outputs:
        raise ExportError(
            f"cannot write {kind!r} to {output.name!r}: give {describe_available(kind)}"
        )
    return suffix


def choose_codec(kind: str, suffix: str, codec: str | None) -> Codec:
    """The codec to use, checked against the container and this installation."""
    allowed = OUTPUTS[kind][suffix]
    where = "a folder" if suffix == FOLDER else f"{suffix} files"
    if codec is not None and codec not in allowed:
        raise ExportError(
            f"codec {codec!r} cannot write {kind!r} to {where}; choose one of "
            f"{', '.join(allowed)} (all {kind!r} outputs: {describe_available(kind)})"
        )
    usable = available_codecs(kind).get(suffix, ())
    wanted = [codec] if codec is not None else list(allowed)
    for name in wanted:
        if name in usable:
            return CODECS[name]
    missing = "with alpha " if LAYOUT[kind] == "rgba" else ""
    raise ExportError(
        f"this PyAV/FFmpeg cannot encode {' or '.join(wanted)} {missing}for {kind!r} {where}; "
        f"available here: {describe(available_codecs(kind))}"
    )


# --------------------------------------------------------------------------------------------
# Writers and the temporary output
# --------------------------------------------------------------------------------------------


def open_writer(
    path: Path,
    suffix: str,
    codec: Codec,
    layout: str,
    deep: bool,
    shape: tuple[int, int],
    rate: Fraction,
) -> VideoWriter | PngWriter:
    """The writer for ``suffix`` (FOLDER: PNG images), with the codec's pixel format."""
    height, width = shape
    pix_fmt = (codec.deep_pix_fmt if deep else codec.pix_fmt)[layout]
    if codec.name == "libx264" and (height % 2 or width % 2):
        pix_fmt = "yuv444p"  # 4:2:0 needs even sizes; 4:4:4 keeps the frame size exactly
    if suffix == FOLDER:
        return PngWriter(path, pix_fmt, shape)
    return VideoWriter(path, CONTAINERS[suffix], codec, pix_fmt, shape, rate)


class VideoWriter:
    """Encodes frames into one video stream of a new container file."""

    def __init__(
        self,
        path: Path,
        container: str,
        codec: Codec,
        pix_fmt: str,
        shape: tuple[int, int],
        rate: Fraction,
    ) -> None:
        import av

        self._file = av.open(str(path), "w", format=container)
        try:
            self._stream = self._file.add_stream(codec.name, rate=rate)
            self._stream.height, self._stream.width = shape
            self._stream.pix_fmt = pix_fmt
            self._stream.options = dict(codec.options)
            if codec.bit_rate is not None:
                self._stream.bit_rate = codec.bit_rate
        except BaseException:
            self._file.close()
            raise

    def write(self, frame: np.ndarray, fmt: str) -> None:
        import av

        self._file.mux(self._stream.encode(av.VideoFrame.from_ndarray(frame, format=fmt)))

    def close(self) -> None:
        self._file.mux(self._stream.encode())  # flush the encoder's delayed frames
        self._file.close()

    def abort(self) -> None:
        """Close after an error; the file is discarded, so a failure here is not reported."""
        with contextlib.suppress(Exception):  # the caller re-raises the first error
            self._file.close()


class PngWriter:
    """Writes frames as ``frame_000000.png``, ``frame_000001.png``... into a new folder."""

    def __init__(self, folder: Path, pix_fmt: str, shape: tuple[int, int]) -> None:
        import av

        folder.mkdir()
        self._folder = folder
        self._encoder = av.CodecContext.create("png", "w")
        self._encoder.height, self._encoder.width = shape
        self._encoder.pix_fmt = pix_fmt
        self._count = 0

    def write(self, frame: np.ndarray, fmt: str) -> None:
        import av

        self._save(self._encoder.encode(av.VideoFrame.from_ndarray(frame, format=fmt)))

    def _save(self, packets: list[Any]) -> None:
        for packet in packets:  # one packet = one complete PNG file, in frame order
            (self._folder / f"frame_{self._count:06d}.png").write_bytes(bytes(packet))
            self._count += 1

    def close(self) -> None:
        self._save(self._encoder.encode(None))

    def abort(self) -> None:
        """Nothing to release: the caller removes the folder."""
