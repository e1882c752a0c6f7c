"""What the dock keeps per image, and the session file's view of it (Qt-free).

:class:`ImageState` is everything that belongs to one image: its objects, prompts, frames
painted by hand, object scores, undo history and frame range. The controller parks it while
another image is tracked and brings it back unchanged (undo included) when the user returns.
:func:`session_of` and :func:`apply_session` turn the controller's state into a saved session
and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_sam2._history import UndoEntry, UndoHistory
from napari_sam2._label_updates import write_frame
from napari_sam2._palette import object_color
from napari_sam2._prompt_book import PromptBook
from napari_sam2._records import ObjectInfo, PluginInputError, Settings
from napari_sam2.lineage.detect import DivisionEvent
from napari_sam2.lineage.model import Lineage
from napari_sam2.session import Session, SessionError, SessionObject
from napari_sam2.tracking.models import ModelChoice
from sam2_engine.options import OptionsError, PredictorOptions

if TYPE_CHECKING:
    from napari_sam2._controller import TrackingController

#: Largest object id in the dock: its labels layers are uint16.
MAX_OBJECT_ID = 2**16 - 1
#: The fields of the controller that belong to its image.
PER_IMAGE = ("objects", "active", "_book", "protected", "scores", "history", "lineage",
             "division_events")  # fmt: skip


@dataclass
class ImageState:
    """One image's share of a tracking session.

    Attributes:
        shape: the image's array shape when parked (it comes back only to the same shape).
        frame_range: the settings' first and last frame.
    """

    shape: tuple[int, ...]
    objects: list[ObjectInfo] = field(default_factory=list)
    active: int | None = None
    _book: PromptBook = field(default_factory=PromptBook)
    protected: set[int] = field(default_factory=set)
    scores: dict[int, dict[int, float]] = field(default_factory=dict)
    history: UndoHistory = field(default_factory=UndoHistory)
    lineage: Lineage = field(default_factory=Lineage)
    division_events: list[DivisionEvent] = field(default_factory=list)
    frame_range: tuple[int, int | None] = (0, None)

    @property
    def is_empty(self) -> bool:
        return not self.objects and not self._book.prompts and not self.history


def capture(ctrl: TrackingController) -> ImageState:
    """The controller's per-image state (handed over, not copied)."""
    return ImageState(
        shape=tuple(ctrl.image.data.shape),
        frame_range=(ctrl.settings.first_frame, ctrl.settings.last_frame),
        **{name: getattr(ctrl, name) for name in PER_IMAGE},
    )


def restore(ctrl: TrackingController, state: ImageState) -> None:
    """Make ``state`` the controller's (no signals: the caller emits them)."""
    for name in PER_IMAGE:
        setattr(ctrl, name, getattr(state, name))
    ctrl.settings.first_frame, ctrl.settings.last_frame = state.frame_range
    ctrl.skipped_protected = []


def snapshot(
    ctrl: TrackingController, *, objects: bool, prompts: bool, protected: bool, scores: bool
) -> dict[str, Any]:
    """Copies of the parts an action is about to change, for its undo entry."""
    parts: dict[str, Any] = {}
    if objects:
        parts["objects"] = [replace(obj) for obj in ctrl.objects]
        parts["active"] = ctrl.active
        parts["lineage"] = ctrl.lineage
    if prompts:
        parts["prompts"] = ctrl._book.snapshot()
    if protected:
        parts["protected"] = set(ctrl.protected)
    if scores:
        parts["scores"] = {obj: dict(frames) for obj, frames in ctrl.scores.items()}
    return parts


def revert(ctrl: TrackingController, entry: UndoEntry) -> None:
    """Put back what an undo entry recorded, label frames included, and say so."""
    if entry.lineage is not None:  # before the objects: the object list shows the tree
        ctrl.lineage = entry.lineage
        ctrl.lineage_changed.emit()
    if entry.objects is not None:
        ctrl.objects = entry.objects
        ctrl.objects_changed.emit()
        if ctrl.active != entry.active:
            ctrl.active = entry.active
            ctrl.active_changed.emit(entry.active)
    if entry.prompts is not None:
        ctrl._book.restore(entry.prompts)
        ctrl.prompts_changed.emit()
    if entry.protected is not None:
        ctrl.protected = entry.protected
        ctrl.protected_changed.emit()
    if entry.scores is not None:
        ctrl.scores = entry.scores
        ctrl.scores_changed.emit()
    if ctrl.labels is not None:
        for frame, old in entry.frames.items():
            ctrl.labels.write(frame, old)


def session_of(ctrl: TrackingController) -> Session:
    """The session as saved to a file (``napari_sam2.session``)."""
    if ctrl.image is None:
        raise PluginInputError("pick an image first: a session belongs to an image")
    options = {k: v for k, v in ctrl.options.to_json().items() if k != "device"}
    return Session(
        source=ctrl.image.describe(),
        model=ctrl.model.describe(),
        settings={**ctrl.settings.to_json(), **options},
        objects=[SessionObject(o.id, o.name, o.color) for o in ctrl.objects],
        prompts=ctrl.prompts,
        protected_frames=sorted(ctrl.protected),
        lineage=ctrl.lineage,
        painted={}
        if ctrl.labels is None
        else {f: np.asarray(ctrl.labels.read(f)) for f in sorted(ctrl.protected)},
    )


def apply_session(ctrl: TrackingController, session: Session) -> None:
    """Replace objects, prompts, protected frames, settings and options with a session's
    (undoable; see :meth:`TrackingController.load_session`)."""
    if ctrl.image is None:
        raise PluginInputError("pick the image the session was made for first")
    session.check_source(ctrl.image.num_frames, ctrl.image.frame_shape)
    recorded = {k: v for k, v in session.settings.items() if k != "device"}
    try:
        options = PredictorOptions.from_json(
            {**ctrl.options.to_json(), **recorded}, ignore_unknown=True
        )
    except OptionsError as err:
        raise SessionError(f"the session's settings do not fit: {err}") from None
    if any(o.id > MAX_OBJECT_ID for o in session.objects):
        raise SessionError(f"object ids above {MAX_OBJECT_ID} are not supported")
    painted = _painted_for(ctrl, session)
    entry = ctrl._record("load session", objects=True, prompts=True, protected=True, scores=True)
    ctrl.objects = [
        ObjectInfo(o.id, o.name or f"object {o.id}", o.color or object_color(o.id))
        for o in session.objects
    ]
    ctrl._book.load(session.prompts)
    ctrl.lineage = session.lineage
    ctrl.division_events = []
    ctrl.protected = set(session.protected_frames)
    ctrl.scores = {}
    ctrl.settings = Settings.from_json({**ctrl.settings.to_json(), **session.settings})
    ctrl.options = options
    name = session.model.get("name")
    if name and name != ctrl.model.name:
        choice = ModelChoice(name, session.model.get("checkpoint"), ctrl.model.allow_download)
        ctrl.set_model(choice)
    else:
        ctrl.model_changed.emit()  # the options may have changed
    ctrl.active = ctrl.objects[0].id if ctrl.objects else None
    for frame, labels in painted.items():  # what the user painted comes back (undoable)
        write_frame(ctrl, frame, labels, entry.token)
    ctrl._clamp_range()
    ctrl.emit_all()


def _painted_for(ctrl: TrackingController, session: Session) -> dict[int, np.ndarray]:
    """The session's painted frames, checked against the image and the label dtype."""
    height, width = ctrl.image.frame_shape
    for frame, labels in session.painted.items():
        if not 0 <= frame < ctrl.image.num_frames or labels.shape != (height, width):
            raise SessionError(
                f"the painted labels of frame {frame} ({labels.shape[0]} x {labels.shape[1]}) "
                f"do not fit this image ({ctrl.image.num_frames} frames of {height} x {width})"
            )
        if labels.size and labels.max() > MAX_OBJECT_ID:
            raise SessionError(f"painted label values above {MAX_OBJECT_ID} are not supported")
    return session.painted
