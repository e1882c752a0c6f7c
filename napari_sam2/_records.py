"""The plain records the plugin's controller, job runner and widgets pass around (Qt-free).

Objects and settings (saved with a session), the label store interface, the plans jobs carry
out and the results they yield.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from napari_sam2._image_spec import ImageSpec
from napari_sam2.lineage.detect import DivisionEvent, DivisionSettings
from napari_sam2.lineage.model import Lineage
from napari_sam2.session import FramePrompt
from napari_sam2.tracking.models import ModelChoice
from napari_sam2.tracking.plan import Pass, frame_count
from napari_sam2.tracking.redetect import Redetect, detection_frames
from sam2_engine.options import PredictorOptions

PromptKey = tuple[int, int]  # (frame, object id)


class PluginInputError(ValueError):
    """The user asked for something the data does not allow; the message says what to do."""


def default_threads() -> int:
    """Torch threads for engine jobs: all cores but one, which stays with napari."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class ObjectInfo:
    """A tracked object: ``id`` is its label value, ``color`` a ``#rrggbb`` string."""

    id: int
    name: str
    color: str


@dataclass
class Settings:
    """Propagation settings, saved with the session.

    Attributes:
        direction: ``both``, ``forward`` or ``backward`` from the current frame (see
            :mod:`napari_sam2.tracking.plan`).
        first_frame, last_frame: the frame range (last None: the last frame).
        overwrite_protected: let propagation replace frames painted by hand.
        torch_threads: CPU threads for engine jobs.
        lost_below: object-score logit under which a frame counts as "object probably lost".
        redetect_every: while propagating forward, look for new objects every this many
            frames (None: never; see :mod:`napari_sam2.tracking.redetect`).
        find_divisions: while propagating forward, list objects whose mask splits (see
            :mod:`napari_sam2.lineage.detect`) for the user to accept or dismiss.
    """

    direction: str = "both"
    first_frame: int = 0
    last_frame: int | None = None
    overwrite_protected: bool = False
    torch_threads: int = field(default_factory=default_threads)
    lost_below: float = 0.0
    redetect_every: int | None = None
    find_divisions: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class LabelStore(Protocol):
    """Where label frames live: a napari Labels layer, or an array (tests, scripts)."""

    def read(self, frame: int) -> np.ndarray:
        """The (H, W) labels of a frame (a copy or a view; never modified by the caller)."""

    def write(self, frame: int, labels: np.ndarray) -> None:
        """Replace the (H, W) labels of a frame."""


class ArrayLabelStore:
    """A :class:`LabelStore` over a ``(frames, H, W)`` array."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def read(self, frame: int) -> np.ndarray:
        return self.array[frame]

    def write(self, frame: int, labels: np.ndarray) -> None:
        self.array[frame] = labels


@dataclass
class SyncItem:
    """One (frame, object) whose prompts go to the engine in a job."""

    frame: int
    obj: int
    prompt: FramePrompt | None
    keep_object: bool
    token: int | None
    write: bool


@dataclass
class Plan:
    """Everything a job needs, fixed on the main thread before it starts.

    ``runs`` are the propagation passes; ``encode`` the frames to encode ahead of the user's
    clicks; a ``background`` job loads a model only if its weights are on disk and stops
    quietly otherwise; a ``concurrent`` one only encodes frames, beside the other jobs (it
    never changes the engine's state); ``notes`` are messages for the user about this plan
    (prompts outside the range...).
    """

    image: ImageSpec
    model: ModelChoice
    options: PredictorOptions
    threads: int
    items: list[SyncItem] = field(default_factory=list)
    runs: list[Pass] = field(default_factory=list)
    overwrite: bool = False
    token: int | None = None
    notes: list[str] = field(default_factory=list)
    encode: list[int] = field(default_factory=list)
    background: bool = False
    concurrent: bool = False
    segment: SegmentRequest | None = None
    redetect: Redetect | None = None
    lineage: Lineage | None = None
    divisions: DivisionSettings | None = None

    @property
    def total_frames(self) -> int:
        searches = 0
        if self.redetect is not None:
            searches = len(detection_frames(self.runs, self.redetect.every))
        return frame_count(self.runs) + searches


@dataclass
class SegmentRequest:
    """Segment everything on ``frame`` (``options``: ``AutomaticMaskGenerator`` keywords)."""

    frame: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DivisionsFound:
    """Objects seen splitting while propagating (yielded by a job; the user decides)."""

    image_key: tuple
    events: list[DivisionEvent]


@dataclass
class ObjectsFound:
    """New objects with their masks on a frame, yielded by a job: segment everything
    (``sent`` False: the masks are prompts still to send) or objects found while propagating
    (``sent`` True: the engine already tracks them)."""

    frame: int
    image_key: tuple
    masks: dict[int, np.ndarray]
    sent: bool


@dataclass
class FramesReady:
    """A frame was encoded ahead of a click; the cache now holds ``frames`` frames in
    ``nbytes`` of its ``max_bytes`` budget (yielded by background jobs)."""

    frame: int
    frames: int
    nbytes: int
    max_bytes: int


@dataclass
class JobStatus:
    """A line for the busy indicator (yielded by jobs)."""

    text: str


@dataclass
class FrameResult:
    """A frame's new masks, yielded by a job and accepted on the main thread.

    A ``prompt`` result carries one object's mask (None: its prompts were removed); a
    ``propagate`` result carries the merged labels of every tracked object.
    """

    kind: str
    frame: int
    image_key: tuple
    token: int | None
    write: bool
    obj: int | None = None
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    obj_ids: tuple[int, ...] = ()
    scores: dict[int, float | None] = field(default_factory=dict)
    overwrite: bool = False
