"""Divisions found in label frames as they are tracked (opt-in).

A division is reported when an object's mask splits into two or more connected parts (4-
connected; at most ``max_parts``), each of at least ``min_area`` pixels, on ``frames``
consecutive frames of a forward pass. The event's frame is the first of those frames, its parts
the parts seen there. Frames that do not follow the previous one (a backward pass, a jump)
start the count again, so a backward pass, where a split would be a merge in time, reports
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_sam2.lineage.parts import DEFAULT_MIN_AREA, label_parts

#: Consecutive frames a split must last before it counts as a division.
DEFAULT_FRAMES = 3
#: Most daughters of one division; a mask broken into more parts is not taken for one.
DEFAULT_MAX_PARTS = 4


@dataclass(frozen=True)
class DivisionSettings:
    """How divisions are found.

    Attributes:
        min_area: smallest part, in pixels, that counts as a daughter (default 20); smaller
            fragments are ignored.
        frames: consecutive frames the split must last (default 3; 1 reports at once).
        max_parts: most daughters (default 4): a mask in more parts is a broken mask, not a
            division.
    """

    min_area: int = DEFAULT_MIN_AREA
    frames: int = DEFAULT_FRAMES
    max_parts: int = DEFAULT_MAX_PARTS

    def __post_init__(self) -> None:
        if isinstance(self.max_parts, (int, np.integer)) and self.max_parts < 2:
            raise ValueError(f"division max_parts must be at least 2, got {self.max_parts}")
        for name in ("min_area", "frames", "max_parts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"division {name} must be a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class DivisionEvent:
    """An object seen split into parts from ``frame`` on.

    Attributes:
        parent: the label that split.
        frame: the first frame of the split (the daughters' first frame).
        parts: (H, W) uint16, part ``i`` (1-based, largest first) where the value is ``i``.
        areas: each part's pixels.
    """

    parent: int
    frame: int
    parts: np.ndarray = field(repr=False, compare=False)
    areas: tuple[int, ...] = ()


@dataclass
class _Run:
    start: int
    count: int
    parts: np.ndarray
    areas: list[int]


class DivisionDetector:
    """Looks at label frames one by one and reports divisions (see the module docstring).

    ``update(frame, labels)`` returns the events confirmed by that frame; the detector keeps
    only the parts of the objects split now (one (H, W) image each), never past frames.
    """

    def __init__(self, settings: DivisionSettings | None = None) -> None:
        self.settings = settings or DivisionSettings()
        self._runs: dict[int, _Run] = {}
        self._last: int | None = None

    def update(self, frame: int, labels: np.ndarray) -> list[DivisionEvent]:
        """The divisions confirmed on ``frame`` (an (H, W) label image)."""
        from scipy import ndimage

        if self._last is None or frame != self._last + 1:
            self._runs.clear()
        self._last = frame
        labels = np.asarray(labels)
        runs: dict[int, _Run] = {}
        events = []
        for index, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            crop, areas = label_parts(labels[box] == index, self.settings.min_area)
            if not 2 <= len(areas) <= self.settings.max_parts:
                continue
            run = self._runs.get(index) or _Run(frame, 0, _placed(crop, box, labels.shape), areas)
            run.count += 1
            if run.count >= self.settings.frames:
                events.append(DivisionEvent(index, run.start, run.parts, tuple(run.areas)))
            else:
                runs[index] = run
        self._runs = runs
        return events


def _placed(crop: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    full = np.zeros(shape, crop.dtype)
    full[box] = crop
    return full
