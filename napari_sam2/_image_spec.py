"""Which image is tracked, and how its array maps to frames, rows and columns.

A napari Image layer's data is one array; the engine needs to know which dimension is the
propagation axis (``T`` or ``Z``), where the other non-image axes stand, and which channel(s)
the model sees. :class:`ImageSpec` records those choices with napari's view of the same array
(an RGB layer shows its colour axis as colour, not as a slider), so that prompt layers and the
Labels layer can be built with the right number of dimensions. Nothing here imports torch,
napari or Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

AXIS_LETTERS = "TZCYX"


class ImageSpecError(ValueError):
    """The axis, channel or index choices do not fit the image."""


def propose_axes(
    shape: Sequence[int],
    *,
    rgb: bool = False,
    metadata_axes: str | None = None,
    axis_labels: Sequence[str] = (),
) -> str:
    """A first guess at one ``TZCYX`` letter per array dimension, for the user to confirm.

    In order: axes recorded in the layer's metadata (``metadata["axes"]``, as the plugin's
    samples and many readers set them); napari's ``axis_labels`` when they are axis names
    (``t``, ``z``, ``c``, ``y``, ``x``); else a guess from the shape: the last two dimensions
    are Y and X (after the colour axis of an RGB layer), the one before them T, then Z before
    that (``TZYX``) or C when a 4-D image has at most 4 entries there (``TCYX``).
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    for candidate in (metadata_axes, "".join(str(a) for a in axis_labels)):
        if candidate and _valid(candidate.upper(), ndim, rgb):
            return candidate.upper()
    spatial = ndim - 1 if rgb else ndim
    if spatial < 2:
        raise ImageSpecError(f"an image needs at least two dimensions, got shape {shape}")
    lead = {0: "", 1: "T", 2: "TZ", 3: "TZC"}.get(spatial - 2)
    if lead is None:
        raise ImageSpecError(f"cannot guess the axes of a {ndim}-D image; type them in")
    if spatial == 4 and not rgb and shape[1] <= 4:
        lead = "TC"
    return lead + "YX" + ("C" if rgb else "")


def _valid(axes: str, ndim: int, rgb: bool) -> bool:
    """True when ``axes`` names ``ndim`` distinct known axes, with Y and X (and C last if RGB)."""
    return (
        len(axes) == ndim
        and set(axes) <= set(AXIS_LETTERS)
        and len(set(axes)) == ndim
        and {"Y", "X"} <= set(axes)
        and (not rgb or axes.endswith("C"))
    )


@dataclass
class ImageSpec:
    """The tracked image and the layout choices for it.

    Attributes:
        name: the napari layer's name.
        data: the layer's array (numpy, dask, zarr; never copied).
        axes: one letter of ``TZCYX`` per dimension of ``data``.
        axis: the propagation axis, ``"T"`` or ``"Z"``; None for a single 2-D frame.
        index: the position on every other non-image axis (``{"Z": 5}`` for ``TZYX`` along T).
        channel: the channel shown to the model as gray, three channels shown as RGB, or None
            without a channel axis.
        rgb: napari shows the last axis as colour (an RGB layer).
        contrast_limits: intensity mapped to 0..1 for non-8-bit data (the layer's).
        path: the file the layer came from, if any.
    """

    name: str
    data: Any
    axes: str
    axis: str | None
    index: dict[str, int] = field(default_factory=dict)
    channel: int | tuple[int, int, int] | None = None
    rgb: bool = False
    contrast_limits: tuple[float, float] | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.data.shape)
        axes = self.axes.upper()
        if not _valid(axes, len(shape), rgb=False):
            raise ImageSpecError(
                f"axes {self.axes!r} must name each of the {len(shape)} dimensions of the image "
                f"(shape {shape}) once, with letters from {AXIS_LETTERS}, Y and X included"
            )
        if self.rgb and axes[-1] != "C":
            raise ImageSpecError("an RGB layer's last axis is its colour: the axes must end in C")
        self.axes = axes
        if self.axis is not None:
            self.axis = self.axis.upper()
            if self.axis not in ("T", "Z") or self.axis not in axes:
                raise ImageSpecError(
                    f"the propagation axis must be T or Z and one of the axes {axes!r}, "
                    f"got {self.axis!r}"
                )
        others = [a for a in axes if a not in "YXC" and a != self.axis]
        index = {a.upper(): int(v) for a, v in self.index.items()}
        for letter in others:
            position = index.get(letter, 0)
            if not 0 <= position < self.size(letter):
                raise ImageSpecError(
                    f"{letter} = {position} is outside the image ({letter} has "
                    f"{self.size(letter)} entries)"
                )
            index[letter] = position
        self.index = {a: index[a] for a in others}
        if "C" in axes:
            channels = self.channel if isinstance(self.channel, tuple) else (self.channel or 0,)
            if any(not 0 <= c < self.size("C") for c in channels):
                raise ImageSpecError(
                    f"channel {self.channel!r} does not exist (the image has "
                    f"{self.size('C')} channels)"
                )
        else:
            self.channel = None

    # ------------------------------------------------------------------ sizes
    def size(self, letter: str) -> int:
        return int(self.data.shape[self.axes.index(letter)])

    @property
    def num_frames(self) -> int:
        return 1 if self.axis is None else self.size(self.axis)

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of one frame."""
        return self.size("Y"), self.size("X")

    # ------------------------------------------------------------------ napari's view
    @property
    def display_axes(self) -> str:
        """The axes napari shows as dimensions (an RGB layer's colour axis is not one)."""
        return self.axes[:-1] if self.rgb else self.axes

    @property
    def labels_shape(self) -> tuple[int, ...]:
        """Shape of a Labels layer that overlays the image (one label per displayed pixel)."""
        return tuple(self.size(a) for a in self.display_axes)

    def frame_key(self, frame: int, channel: int | slice = 0) -> tuple[int | slice, ...]:
        """Index into a labels-shaped array selecting one frame (Y, X remain)."""
        key: list[int | slice] = []
        for letter in self.display_axes:
            if letter == self.axis:
                key.append(int(frame))
            elif letter in "YX":
                key.append(slice(None))
            elif letter == "C":
                key.append(channel)
            else:
                key.append(self.index[letter])
        return tuple(key)

    def dim(self, letter: str) -> int | None:
        """Position of an axis among the displayed dimensions (None if absent)."""
        return self.display_axes.index(letter) if letter in self.display_axes else None

    def read_frame(self, frame: int) -> np.ndarray:
        """The raw pixels of a frame: ``(H, W)``, or ``(H, W, 3)`` for three channels."""
        key: list[int | slice] = []
        for letter in self.axes:
            if letter == self.axis:
                key.append(int(frame))
            elif letter in "YX" or (letter == "C" and not isinstance(self.channel, int)):
                key.append(slice(None))
            elif letter == "C":
                key.append(self.channel)
            else:
                key.append(self.index[letter])
        data = self.data[tuple(key)]
        data = np.asarray(data.compute() if hasattr(data, "compute") else data)
        kept = [a for a, k in zip(self.axes, key, strict=True) if isinstance(k, slice)]
        data = data.transpose([kept.index(a) for a in "YXC" if a in kept])
        if isinstance(self.channel, tuple):
            data = data[..., list(self.channel)]
        return data

    # ------------------------------------------------------------------ prompt positions
    # napari puts pixel centres at integer positions, SAM 2 at half-integers: a prompt's
    # (x, y) is the napari position + 0.5.
    def frame_at(self, position: Sequence[float]) -> int | str:
        """The frame a napari position lies on, or why it lies on none of the tracked ones."""
        coord = np.asarray(position, dtype=float)
        for letter, fixed in self.index.items():
            here = int(round(coord[self.dim(letter)]))
            if here != fixed:
                return (
                    f"a prompt was placed at {letter} = {here}, but tracking runs at "
                    f"{letter} = {fixed} (change it in the image section)"
                )
        if self.axis is None:
            return 0
        frame = int(round(coord[self.dim(self.axis)]))
        if not 0 <= frame < self.num_frames:
            last = self.num_frames - 1
            return f"a prompt was placed on frame {frame}, outside the image (frames 0-{last})"
        return frame

    def click_at(self, position: Sequence[float]) -> tuple[int, float, float] | str:
        """``(frame, x, y)`` of a point, or why it cannot be a prompt."""
        frame = self.frame_at(position)
        if isinstance(frame, str):
            return frame
        height, width = self.frame_shape
        x = float(position[self.dim("X")]) + 0.5
        y = float(position[self.dim("Y")]) + 0.5
        if not (0 <= x <= width and 0 <= y <= height):
            return f"a point at (x={x - 0.5:.0f}, y={y - 0.5:.0f}) lies outside the image"
        return frame, x, y

    def box_at(self, vertices: np.ndarray) -> tuple[int, list[float]] | str:
        """``(frame, [x0, y0, x1, y1])`` of a shape's bounding box, clipped to the frame, or
        why it cannot be a prompt."""
        frame = self.frame_at(vertices[0])
        if isinstance(frame, str):
            return frame
        height, width = self.frame_shape
        xs = np.clip(vertices[:, self.dim("X")] + 0.5, 0, width)
        ys = np.clip(vertices[:, self.dim("Y")] + 0.5, 0, height)
        if xs.max() - xs.min() < 1 or ys.max() - ys.min() < 1:
            return "a box lies outside the image or has no area"
        return frame, [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]

    def position(self, frame: int, x: float, y: float) -> list[float]:
        """The napari position of a prompt at (x, y) on ``frame`` (inverse of ``click_at``)."""
        position = [0.0] * len(self.display_axes)
        for letter, value in self.index.items():
            position[self.dim(letter)] = value
        if self.axis is not None:
            position[self.dim(self.axis)] = frame
        position[self.dim("X")] = x - 0.5
        position[self.dim("Y")] = y - 0.5
        return position

    # ------------------------------------------------------------------ engine and session
    def frame_options(self) -> dict[str, Any]:
        """Keyword arguments for ``VideoPredictor.init_state`` / ``open_frames``."""
        options: dict[str, Any] = {"axes": self.axes, "axis": self.axis}
        if self.index:
            options["index"] = dict(self.index)
        if self.channel is not None:
            options["channel"] = self.channel
        if self.contrast_limits is not None:
            options["contrast_limits"] = tuple(float(v) for v in self.contrast_limits)
        return options

    def describe(self) -> dict[str, Any]:
        """The session file's ``source`` entry."""
        channel = list(self.channel) if isinstance(self.channel, tuple) else self.channel
        limits = None if self.contrast_limits is None else [float(v) for v in self.contrast_limits]
        return {
            "path": self.path,
            "layer": self.name,
            "shape": [self.num_frames, *self.frame_shape],
            "array_shape": [int(n) for n in self.data.shape],
            "dtype": str(self.data.dtype),
            "axes": self.axes,
            "axis": self.axis,
            "index": dict(self.index),
            "channel": channel,
            "contrast_limits": limits,
        }

    def with_source(self, source: dict[str, Any]) -> ImageSpec:
        """This image with the layout choices of a session's ``source`` entry.

        Raises:
            ImageSpecError: the choices do not fit this image.
        """
        channel = source.get("channel", self.channel)
        if isinstance(channel, list):
            channel = tuple(int(c) for c in channel)
        limits = source.get("contrast_limits")
        return replace(
            self,
            axes=source.get("axes") or self.axes,
            axis=source.get("axis", self.axis),
            index=dict(source.get("index") or {}),
            channel=channel,
            contrast_limits=self.contrast_limits if limits is None else tuple(limits),
        )

    @property
    def key(self) -> tuple:
        """Identifies what the engine sees: a change means a new video state."""
        return (
            id(self.data),
            self.axes,
            self.axis,
            tuple(sorted(self.index.items())),
            self.channel,
            self.contrast_limits,
        )
