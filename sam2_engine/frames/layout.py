"""Axes of an N-D array and how one frame is cut out of it.

Axis letters: ``T`` time, ``Z`` depth, ``C`` channel, ``Y`` rows, ``X`` columns. A layout names
one letter per array dimension (``"TCYX"``), the axis frames are taken along (the propagation
axis: ``T``, else ``Z``), the position on every other non-image axis, and which channel(s) make
the frame: one channel (a gray frame ``(H, W)``) or three (an RGB frame ``(H, W, 3)``).

Frames are read with basic indexing only (integers and slices), which numpy, dask, zarr and the
paged readers all treat the same way and which never copies more than one frame's data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import FrameSourceError

AXIS_LETTERS = "TZCYX"
#: Channel sizes read as colour (RGB, RGBA) when no channel is chosen.
COLOR_CHANNELS = (3, 4)
#: Three chosen channels further apart than this are read one at a time.
_MAX_CHANNEL_SPAN = 4

Channel = int | tuple[int, int, int]


def guess_axes(shape: Sequence[int]) -> str:
    """Axes for an array whose axes nobody named.

    2-D is one gray frame ``YX``; a last dimension of size 3 or 4 is colour (``YXC``, ``TYXC``,
    ``TZYXC``); other 3-D arrays are ``TYX``; 4-D is ``TCYX`` when the second dimension is small
    (at most 4), else ``TZYX``; 5-D follows OME order ``TCZYX`` (``TZCYX`` when only the third
    dimension is small).
    """
    ndim = len(shape)
    color_last = ndim >= 3 and shape[-1] in COLOR_CHANNELS
    if ndim == 2:
        return "YX"
    if ndim == 3:
        return "YXC" if color_last else "TYX"
    if ndim == 4:
        if color_last:
            return "TYXC"
        return "TCYX" if shape[1] <= 4 else "TZYX"
    if ndim == 5:
        if color_last:
            return "TZYXC"
        return "TZCYX" if shape[2] <= 4 < shape[1] else "TCZYX"
    raise FrameSourceError(
        f"cannot guess the axes of a {ndim}-D array of shape {tuple(shape)}; pass axes= "
        f"(one letter of {AXIS_LETTERS} per dimension)"
    )


def axes_from_names(names: Sequence[str]) -> str | None:
    """Our axis letters for axis names found in file metadata, or None if they do not map.

    Understands OME names (``t c z y x``), tifffile's codes (``S`` samples is ``C``; ``I`` and
    ``Q``, a generic image sequence, are ``T``, or ``Z`` when ``T`` is taken) and common words
    (``time``, ``channel``, ``depth``).
    """
    words = {"time": "T", "channel": "C", "channels": "C", "depth": "Z", "s": "C", "sample": "C"}
    letters = []
    for name in names:
        key = str(name).strip().lower()
        letter = words.get(key, key.upper())
        letters.append(letter)
    for i, letter in enumerate(letters):
        if letter in ("I", "Q"):
            letters[i] = "T" if "T" not in letters else "Z"
    axes = "".join(letters)
    if len(axes) != len(names) or len(set(axes)) != len(axes):
        return None
    if any(a not in AXIS_LETTERS for a in axes) or "Y" not in axes or "X" not in axes:
        return None
    return axes


def _check_axes(axes: Any, shape: tuple[int, ...]) -> str:
    if not isinstance(axes, str):
        raise FrameSourceError(f"axes={axes!r} must be a string such as 'TYX' or 'TCYX'")
    letters = axes.upper()
    for letter in letters:
        if letter not in AXIS_LETTERS:
            raise FrameSourceError(
                f"axes={axes!r}: unknown axis letter {letter!r} (use {', '.join(AXIS_LETTERS)})"
            )
    if len(letters) != len(shape):
        raise FrameSourceError(
            f"axes={axes!r} has {len(letters)} letters but the data has {len(shape)} "
            f"dimensions (shape {shape})"
        )
    if len(set(letters)) != len(letters):
        raise FrameSourceError(f"axes={axes!r} repeats a letter")
    if "Y" not in letters or "X" not in letters:
        raise FrameSourceError(f"axes={axes!r} must contain both Y and X")
    return letters


@dataclass(frozen=True)
class FrameLayout:
    """Where the frames of an N-D array are and how one is read.

    Attributes:
        axes (str): one letter per dimension of the data, e.g. ``"TCYX"``.
        shape (tuple[int, ...]): the data's shape.
        axis (str | None): the axis frames are taken along; None when the data is one frame.
        index (dict[str, int]): the position on every other non-image axis.
        channel (int | tuple[int, int, int] | None): the channel read as gray, or the three
            channels read as RGB; None when the data has no channel axis.
        axes_source (str): ``"given"``, ``"file"`` (from file metadata) or ``"guessed"``.
    """

    axes: str
    shape: tuple[int, ...]
    axis: str | None
    index: dict[str, int] = field(default_factory=dict)
    channel: Channel | None = None
    axes_source: str = "given"

    def __len__(self) -> int:
        return 1 if self.axis is None else self.shape[self.axes.index(self.axis)]

    @property
    def height(self) -> int:
        return self.shape[self.axes.index("Y")]

    @property
    def width(self) -> int:
        return self.shape[self.axes.index("X")]

    @property
    def is_rgb(self) -> bool:
        """True when frames come out as ``(H, W, 3)``."""
        return isinstance(self.channel, tuple)

    def describe(self) -> dict[str, Any]:
        """The layout as plain JSON-friendly values, for a source's metadata."""
        channel = list(self.channel) if isinstance(self.channel, tuple) else self.channel
        return {
            "axes": self.axes,
            "axes_source": self.axes_source,
            "shape": list(self.shape),
            "axis": self.axis,
            "index": dict(self.index),
            "channel": channel,
        }

    def read(self, array: Any, i: int) -> np.ndarray:
        """Frame ``i`` of ``array``: ``(H, W)`` or ``(H, W, 3)``, in the array's dtype.

        ``array`` is anything with numpy-style basic indexing (numpy, dask, zarr, the paged
        readers); only frame ``i``'s data is touched. The result is a fresh, C-contiguous array.
        """
        channel = self.channel
        if isinstance(channel, tuple):
            low, high = min(channel), max(channel)
            if high - low < _MAX_CHANNEL_SPAN:
                block = self._fetch(array, i, slice(low, high + 1))  # (H, W, span)
                frame = block[..., [c - low for c in channel]]
            else:
                frame = np.stack([self._fetch(array, i, c) for c in channel], axis=-1)
        else:
            frame = self._fetch(array, i, channel)
        frame = np.ascontiguousarray(frame)
        if not frame.flags.owndata:
            frame = frame.copy()
        return frame

    def _fetch(self, array: Any, i: int, channel: int | slice | None) -> np.ndarray:
        key: list[int | slice] = []
        for letter in self.axes:
            if letter == self.axis:
                key.append(i)
            elif letter in "YX":
                key.append(slice(None))
            elif letter == "C":
                key.append(slice(None) if channel is None else channel)
            else:
                key.append(self.index[letter])
        data = array[tuple(key)]
        if hasattr(data, "compute"):  # dask: compute only this frame's chunks
            data = data.compute()
        data = np.asarray(data)
        kept = "".join(a for a, k in zip(self.axes, key, strict=True) if isinstance(k, slice))
        order = [kept.index(a) for a in "YXC" if a in kept]
        return data.transpose(order)


def resolve_layout(
    shape: Sequence[int],
    *,
    axes: str | None = None,
    axis: str | None = None,
    index: Mapping[str, int] | None = None,
    channel: Channel | Sequence[int] | None = None,
    file_axes: str | None = None,
) -> FrameLayout:
    """Check the caller's layout arguments against the data's shape and fill in defaults.

    Arguments:
        shape: the data's shape.
        axes: one letter per dimension; None uses ``file_axes``, else ``guess_axes(shape)``.
        axis: the axis to take frames along; default ``T``, else ``Z``, else one frame.
        index: position on each other non-image axis (default 0), e.g. ``{"T": 3}``.
        channel: one channel index (gray) or three (RGB); default: the three colour channels
            when the channel axis has 3 or 4 entries, else channel 0.
        file_axes: axes read from the file's own metadata, used when ``axes`` is None.

    Raises:
        FrameSourceError: naming the argument that does not fit.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        raise FrameSourceError(
            f"the data has shape {shape}; a frame source needs at least 2 dimensions (Y, X)"
        )
    if axes is not None:
        letters, source = _check_axes(axes, shape), "given"
    elif file_axes is not None and len(file_axes) == len(shape):
        letters, source = _check_axes(file_axes, shape), "file"
    else:
        letters, source = guess_axes(shape), "guessed"
    sizes = dict(zip(letters, shape, strict=True))
    for letter in "YX":
        if sizes[letter] == 0:
            raise FrameSourceError(f"the data has size 0 along {letter} (shape {shape})")

    frame_axis = _resolve_axis(axis, letters)
    if frame_axis is not None and sizes[frame_axis] == 0:
        raise FrameSourceError(
            f"the data has zero frames along axis {frame_axis!r} (shape {shape}, axes {letters!r})"
        )
    fixed = _resolve_index(index, letters, sizes, frame_axis)
    chosen = _resolve_channel(channel, letters, sizes)
    return FrameLayout(letters, shape, frame_axis, fixed, chosen, source)


def _resolve_axis(axis: str | None, letters: str) -> str | None:
    if axis is None:
        return next((a for a in "TZ" if a in letters), None)
    if not isinstance(axis, str) or len(axis) != 1 or axis.upper() not in AXIS_LETTERS:
        raise FrameSourceError(
            f"axis={axis!r}: unknown axis letter (use one of {', '.join(AXIS_LETTERS)})"
        )
    upper = axis.upper()
    if upper not in letters:
        raise FrameSourceError(f"axis={axis!r} is not one of the data's axes {letters!r}")
    if upper in "YXC":
        raise FrameSourceError(f"axis={axis!r}: frames can only be taken along T or Z")
    return upper


def _resolve_index(
    index: Mapping[str, int] | None, letters: str, sizes: dict[str, int], frame_axis: str | None
) -> dict[str, int]:
    given = {}
    for key, value in (index or {}).items():
        letter = str(key).upper()
        if letter not in AXIS_LETTERS:
            raise FrameSourceError(f"index={dict(index)!r}: unknown axis letter {key!r}")
        if letter not in letters:
            raise FrameSourceError(
                f"index={dict(index)!r}: axis {key!r} is not one of the data's axes {letters!r}"
            )
        if letter in "YX" or letter == frame_axis:
            raise FrameSourceError(
                f"index={dict(index)!r}: {key!r} is an image axis or the frame axis; "
                "index only fixes the other axes"
            )
        if letter == "C":
            raise FrameSourceError(f"index={dict(index)!r}: choose channels with channel=")
        position = int(value)
        if not 0 <= position < sizes[letter]:
            raise FrameSourceError(
                f"index={dict(index)!r}: {letter}={value} is out of range "
                f"(axis {letter} has {sizes[letter]} entries)"
            )
        given[letter] = position
    others = [a for a in letters if a not in "YXC" and a != frame_axis]
    return {a: given.get(a, 0) for a in others}


def _resolve_channel(
    channel: Channel | Sequence[int] | None, letters: str, sizes: dict[str, int]
) -> Channel | None:
    if "C" not in letters:
        if channel is not None:
            raise FrameSourceError(
                f"channel={channel!r} was given but the data has no channel axis "
                f"(axes {letters!r}); pass axes= with a C if it has one"
            )
        return None
    count = sizes["C"]
    if count == 0:
        raise FrameSourceError(f"the data has zero channels (axes {letters!r})")
    if channel is None:
        return (0, 1, 2) if count in COLOR_CHANNELS else 0
    if isinstance(channel, (int, np.integer)):
        chosen: tuple[int, ...] = (int(channel),)
    elif isinstance(channel, Sequence) and len(channel) == 3:
        chosen = tuple(int(c) for c in channel)
    else:
        raise FrameSourceError(
            f"channel={channel!r} must be one channel index (gray) or three (RGB)"
        )
    for c in chosen:
        if not 0 <= c < count:
            raise FrameSourceError(
                f"channel={channel!r} is out of range: the data has {count} channels "
                f"(0..{count - 1})"
            )
    return chosen[0] if len(chosen) == 1 else (chosen[0], chosen[1], chosen[2])
