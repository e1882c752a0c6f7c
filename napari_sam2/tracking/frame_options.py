"""How frames are read from an input: one options object for the API, batch jobs and the dock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: The option names, as ``sam2_engine.frames.open_frames`` takes them and sessions record them.
FRAME_OPTION_NAMES = ("axes", "axis", "index", "channel", "contrast_limits")


@dataclass(frozen=True)
class FrameOptions:
    """Which axes an input has and which frames, positions and channels the model sees.

    Attributes:
        axes: one letter of ``TZCYX`` per dimension (None: the file's metadata, else a guess).
        axis: the axis to track along, ``T`` or ``Z`` (None: T, else Z).
        index: the position on each other non-image axis, e.g. ``{"T": 3}``.
        channel: one channel (gray) or three (RGB).
        contrast_limits: (low, high) mapped to black and white for non-8-bit data.
    """

    axes: str | None = None
    axis: str | None = None
    index: Mapping[str, int] | None = None
    channel: int | tuple[int, ...] | None = None
    contrast_limits: tuple[float, float] | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> FrameOptions:
        """Options from a session's ``source`` entry or a job's ``frame_options`` (other keys
        are ignored; lists become tuples)."""
        values = values or {}
        channel = values.get("channel")
        limits = values.get("contrast_limits")
        index = values.get("index")
        return cls(
            axes=values.get("axes"),
            axis=values.get("axis"),
            index=dict(index) if index else None,
            channel=tuple(int(c) for c in channel) if isinstance(channel, list) else channel,
            contrast_limits=None if limits is None else (float(limits[0]), float(limits[1])),
        )

    def or_else(self, fallback: FrameOptions) -> FrameOptions:
        """These options, with the ones not given taken from ``fallback`` (e.g. what a
        session recorded)."""
        return FrameOptions(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(fallback, f.name)
                for f in fields(self)
            }
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The options given, as keyword arguments of ``open_frames`` / ``init_state``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}
