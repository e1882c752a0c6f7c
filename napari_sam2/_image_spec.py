"""Which image is tracked, and napari's view of how its array maps to frames.

How an N-D array maps to frames (the propagation axis, the position on the other axes, the
channel(s) the model sees) is the engine's :class:`~sam2_engine.frames.layout.FrameLayout`;
:class:`ImageSpec` wraps one and adds only what napari needs: the layer, an RGB layer's colour
axis (shown as colour, not as a slider), the dimensions napari displays, and the mapping
between napari positions and prompt coordinates. Nothing here imports torch, napari or Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sam2_engine.frames.errors import FrameSourceError
from sam2_engine.frames.layout import (
    AXIS_LETTERS,
    FrameLayout,
    axes_from_names,
    guess_axes,
    resolve_layout,
)


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
    (``t``, ``z``, ``c``, ``y``, ``x``, ``time``...); else the engine's guess from the shape
    (:func:`~sam2_engine.frames.layout.guess_axes`, the one guess every part of the project
    makes).
    """
    shape = tuple(int(n) for n in shape)
    named = axes_from_names(axis_labels) if len(axis_labels) == len(shape) else None
    for candidate in (metadata_axes, named):
        if candidate and _fits(candidate.upper(), shape, rgb):
            return candidate.upper()
    try:
        axes = guess_axes(shape)
    except FrameSourceError as err:
        raise ImageSpecError(f"{err}; type the axes in") from None
    if len(axes) < 2:
        raise ImageSpecError(f"an image needs at least two dimensions, got shape {shape}")
    return axes


def _fits(axes: str, shape: tuple[int, ...], rgb: bool) -> bool:
    try:
        resolve_layout(shape, axes=axes)
    except FrameSourceError:
        return False
    return not rgb or axes.endswith("C")


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
            without a channel axis (default: RGB for an RGB layer, else channel 0).
        rgb: napari shows the last axis as colour (an RGB layer).
        contrast_limits: intensity mapped to 0..1 for non-8-bit data (the layer's).
        path: the file the layer came from, if any.
        sample: the napari sample it came from, as (plugin, sample name), if any.
        layout: the engine's frame layout these choices make (set on creation).
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
    sample: tuple[str, str] | None = None
    layout: FrameLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shape = tuple(self.data.shape)
        axes = str(self.axes).upper()
        if self.rgb and not axes.endswith("C"):
            raise ImageSpecError("an RGB layer's last axis is its colour: the axes must end in C")
        if self.axis is not None and str(self.axis).upper() not in ("T", "Z"):
            raise ImageSpecError(f"the propagation axis must be T or Z, got {self.axis!r}")
        channel = self.channel
        if "C" in axes and channel is None:
            channel = (0, 1, 2) if self.rgb else 0
        try:
            self.layout = resolve_layout(
                shape,
                axes=axes,
                axis=self.axis,
                index=self.index,
                channel=channel if "C" in axes else None,
            )
        except FrameSourceError as err:
            raise ImageSpecError(
                f"{err} (the image {self.name!r} has shape {shape}; axes use the letters "
                f"{AXIS_LETTERS})"
            ) from None
        self.axes = self.layout.axes
        self.axis = self.layout.axis
        self.index = dict(self.layout.index)
        self.channel = self.layout.channel

    # ------------------------------------------------------------------ sizes
    def size(self, letter: str) -> int:
        return int(self.layout.shape[self.axes.index(letter)])

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
        return self.layout.read(self.data, frame)

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
            "sample": None if self.sample is None else list(self.sample),
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

    def check_made_for(self, source: dict[str, Any]) -> None:
        """Raise if a session's ``source`` entry was recorded for an image of another shape,
        naming the image it belongs to."""
        shape = source.get("array_shape")
        if shape and tuple(int(n) for n in shape) != tuple(self.data.shape):
            name = source.get("layer") or source.get("path") or "another image"
            raise ImageSpecError(
                f"this session belongs to '{name}' ({_shape_text(shape)}), but '{self.name}' "
                f"is {_shape_text(self.data.shape)}: pick '{name}' in the image section first"
            )

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


def _shape_text(shape: Sequence[int]) -> str:
    return " x ".join(str(int(n)) for n in shape)
