"""The tracking session behind the napari plugin: objects, prompts, results, undo (Qt-free).

:class:`TrackingController` is the model of the plugin's model/view split (napari-animation's
pattern): widgets and layers call its methods and listen to its psygnal signals; it never
imports Qt or napari. It owns

- the image choice (:class:`~napari_sam2._image_spec.ImageSpec`) and the model choice;
- the objects (id == label value, name, colour) and the active one;
- the prompts per (frame, object) (a :class:`~napari_sam2._prompt_book.PromptBook`, which
  also knows which of them the engine has yet to see);
- the frames painted by hand (protected from propagation unless the user asks);
- the settings, the per-frame object scores and an undo stack of prompt edits and results;
- the engine (:class:`~napari_sam2._engine_link.EngineLink`), driven through *plans*.

Engine work happens in jobs (its side of the controller is :class:`~napari_sam2._jobs.EngineJobs`):
the view asks for a plan on the main thread while no job runs (``sync_plan``,
``propagation_plan``), runs ``run`` in a worker thread, and hands every yielded
:class:`FrameResult` back to :meth:`TrackingController.accept` on the main thread, which writes
the label store and records what it replaced for undo (:mod:`napari_sam2._label_updates`).
Per-image state, its parking and the session file's view of it are
:mod:`napari_sam2._image_state`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from psygnal import Signal

from napari_sam2._engine_link import EngineLink
from napari_sam2._history import UndoEntry, UndoHistory
from napari_sam2._image_spec import ImageSpec
from napari_sam2._image_state import (
    ImageState,
    apply_session,
    capture,
    restore,
    revert,
    session_of,
    snapshot,
)
from napari_sam2._jobs import EngineJobs
from napari_sam2._label_updates import accept_result
from napari_sam2._object_list import ObjectEdits
from napari_sam2._prompt_book import PromptBook
from napari_sam2._records import (
    FrameResult,
    LabelStore,
    ObjectInfo,
    PluginInputError,
    PromptKey,
    Settings,
)
from napari_sam2.lineage import DivisionEvent, Lineage
from napari_sam2.session import FramePrompt, Session
from napari_sam2.tracking.models import ModelChoice
from sam2_engine.constants import DIRECTIONS
from sam2_engine.options import OptionsError, PredictorOptions


# ---------------------------------------------------------------------- the controller
class TrackingController(EngineJobs, ObjectEdits):
    """One tracking session (one per viewer, see :func:`controller_for`)."""

    image_changed = Signal()
    model_changed = Signal()
    objects_changed = Signal()
    active_changed = Signal(object)
    prompts_changed = Signal()
    protected_changed = Signal()
    scores_changed = Signal()
    settings_changed = Signal()
    history_changed = Signal()
    #: the lineage or the list of divisions found changed
    lineage_changed = Signal()
    #: prompts were edited by the user: the job runner sends them to the engine
    sync_requested = Signal()

    def __init__(self) -> None:
        self.engine = EngineLink()
        self.image: ImageSpec | None = None
        self.labels: LabelStore | None = None
        self.model = ModelChoice()
        self.options = PredictorOptions()
        self.settings = Settings()
        self.objects: list[ObjectInfo] = []
        self.active: int | None = None
        self.protected: set[int] = set()
        #: object id -> frame -> object-score logit
        self.scores: dict[int, dict[int, float]] = {}
        #: frames a propagation left alone because they were painted by hand
        self.skipped_protected: list[int] = []
        self._book = PromptBook()
        self.history = UndoHistory()
        self.lineage = Lineage()
        #: divisions found while propagating, for the user to accept or dismiss
        self.division_events: list[DivisionEvent] = []
        self._parked: dict[str, ImageState] = {}

    # ------------------------------------------------------------------ image and model
    def set_image(self, image: ImageSpec | None) -> None:
        """Track ``image`` (its layout choices may differ from the last one's)."""
        self.image = image
        self._clamp_range()
        self.image_changed.emit()

    def _clamp_range(self) -> None:
        if self.image is not None:
            last = self.image.num_frames - 1
            if self.settings.last_frame is None or self.settings.last_frame > last:
                self.settings.last_frame = last
            self.settings.first_frame = min(self.settings.first_frame, last)

    def switch_image(self, image: ImageSpec | None) -> bool:
        """Track another image (a different layer): this image's objects, prompts, painted
        frames, scores, undo history and frame range are parked, and the new image's come
        back if it was tracked before. Returns whether they came back.

        The engine drops the old prompts at the next job.
        """
        if self.image is not None:
            state = capture(self)
            if not state.is_empty:
                self._parked[self.image.name] = state
        parked = None if image is None else self._parked.pop(image.name, None)
        if parked is not None and parked.shape != tuple(image.data.shape):
            parked = None  # another image under the same name: start afresh
        restore(self, parked or ImageState(shape=()))
        self.set_image(image)
        self.emit_all()
        return parked is not None

    def parked(self) -> list[str]:
        """The names of the images whose state is parked."""
        return list(self._parked)

    def emit_all(self) -> None:
        """Tell every view that the whole state may have changed."""
        for signal in (
            self.objects_changed,
            self.prompts_changed,
            self.protected_changed,
            self.scores_changed,
            self.settings_changed,
            self.history_changed,
            self.lineage_changed,
        ):
            signal.emit()
        self.active_changed.emit(self.active)

    def set_model(self, choice: ModelChoice) -> None:
        """Choose the model; it loads at the next job (a running job keeps the old one)."""
        if choice != self.model:
            self.model = choice
            self.model_changed.emit()

    def use_model(self, model: Any, name: str = "injected") -> None:
        """Use a model built elsewhere (tests, scripts, notebooks): no loading, no download.

        Call it while no job runs.
        """
        choice = ModelChoice(name=name, injected=True)
        self.options = self.options.updated(device=str(model.device))
        self.engine.inject(model, choice, self.options)
        self.set_model(choice)

    def update_options(self, **changes: Any) -> None:
        """Change how the model runs (device, precision...); used from the next job.

        Raises:
            PluginInputError: an unknown option or a value it cannot take.
        """
        try:
            options = self.options.updated(**changes)
        except OptionsError as err:
            raise PluginInputError(str(err)) from None
        if options != self.options:
            self.options = options
            self.model_changed.emit()

    def release_video(self) -> None:
        """Let the engine close the image's video state (its files, threads, spilled outputs);
        it opens again at the next job. Call it while no job runs."""
        self.engine.close_state()

    def engine_ready(self) -> bool:
        """The engine has this image open with this model and options."""
        return self.image is not None and self._engine_ready()

    def feature_cache(self) -> tuple[int, int, int]:
        """Frames encoded for quick clicks, their bytes, and the cache's budget."""
        info = self.engine.cache_info()
        return info.frames, info.nbytes, info.max_bytes

    def loaded_model(self) -> str | None:
        """What the engine has loaded, for the dock (None: nothing yet)."""
        return self.engine.describe()

    def take_engine_notes(self) -> list[str]:
        """What the last model load had to say (each line once)."""
        notes, self.engine.notes[:] = list(self.engine.notes), []
        return notes

    # ------------------------------------------------------------------ prompts
    @property
    def prompts(self) -> list[FramePrompt]:
        """All prompts, in the order they were last edited."""
        return self._book.prompts

    def prompt(self, frame: int, obj: int) -> FramePrompt | None:
        return self._book.get((frame, obj))

    def update_layer_prompts(
        self,
        clicks: dict[PromptKey, tuple[list[list[float]], list[int]]],
        boxes: dict[PromptKey, list[float]],
    ) -> None:
        """Take the clicks and boxes currently in the prompt layers (one user edit).

        ``clicks`` maps (frame, object) to ((x, y) points, 1/0 labels); ``boxes`` to
        ``[x0, y0, x1, y1]``, in frame pixels. Mask prompts are not in the layers: they stay
        unless clicks or a box replace them on their frame.
        """
        changes = self._book.changes_from_layers(clicks, boxes, set(self.object_ids))
        if changes:
            self._edit_prompts(changes, "edit prompts")

    def use_labels_as_prompt(self, frame: int, obj: int | None = None) -> str | None:
        """Make the object's painted pixels on ``frame`` its mask prompt there (protects it).

        Returns a note for the user when the mask replaces the object's clicks or box on that
        frame (undo brings them back, with the frame's score), else None.
        """
        if self.labels is None or self.image is None:
            raise PluginInputError("pick an image first")
        obj = self.active if obj is None else obj
        if obj is None:
            raise PluginInputError("add an object first")
        mask = np.asarray(self.labels.read(frame)) == obj
        if not mask.any():
            raise PluginInputError(
                f"object {obj} has no pixels on frame {frame}: paint it with label {obj} "
                "in the labels layer first"
            )
        replaced = self._book.get((frame, obj))
        self._edit_prompts(
            {(frame, obj): FramePrompt(frame, obj, mask=mask)},
            f"use labels of object {obj} on frame {frame} as prompt",
            protect={frame},
            scores=True,
        )
        if replaced is None or (not replaced.points and replaced.box is None):
            return None
        kinds = [k for k, v in (("clicks", replaced.points), ("box", replaced.box)) if v]
        return (
            f"the painted mask replaces the {' and '.join(kinds)} of object {obj} on frame "
            f"{frame} (Undo brings them back)"
        )

    def _edit_prompts(
        self,
        changes: dict[PromptKey, FramePrompt | None],
        label: str,
        protect: Iterable[int] = (),
        scores: bool = False,
    ) -> None:
        protect = set(protect) - self.protected
        entry = self._record(label, prompts=True, protected=bool(protect), scores=scores)
        self._book.edit(changes, entry.token)
        if protect:
            self.protected |= protect
            self.protected_changed.emit()
        self.prompts_changed.emit()
        self.sync_requested.emit()

    # ------------------------------------------------------------------ protected frames
    def mark_painted(self, frames: Iterable[int]) -> None:
        """Frames the user painted by hand: propagation keeps them unless told otherwise."""
        new = {int(f) for f in frames} - self.protected
        if new:
            self.protected |= new
            self.protected_changed.emit()

    def unprotect(self, frames: Iterable[int] | None = None) -> None:
        """Let propagation overwrite these frames again (all when None)."""
        gone = set(self.protected) if frames is None else self.protected & set(frames)
        if gone:
            self._record("unprotect frames", protected=True)
            self.protected -= gone
            self.protected_changed.emit()

    # ------------------------------------------------------------------ settings
    def update_settings(self, **changes: Any) -> None:
        unknown = set(changes) - set(Settings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}")
        if "direction" in changes and changes["direction"] not in DIRECTIONS:
            raise PluginInputError(f"direction must be one of {DIRECTIONS}")
        new = replace(self.settings, **changes)
        if new != self.settings:
            self.settings = new
            self.settings_changed.emit()

    # ------------------------------------------------------------------ results (main thread)
    def accept(self, result: FrameResult) -> None:
        """Write a job's result into the label store and the score table."""
        if self.image is None or result.image_key != self.image.key:
            return  # the image changed since the job started
        if accept_result(self, result):
            self.scores_changed.emit()

    # ------------------------------------------------------------------ scores
    def lost_frames(self, obj: int) -> list[int]:
        """Frames where the object is probably lost (object score below the threshold)."""
        threshold = self.settings.lost_below
        return sorted(f for f, s in self.scores.get(obj, {}).items() if s < threshold)

    # ------------------------------------------------------------------ undo
    @property
    def undo_label(self) -> str | None:
        """What :meth:`undo` would take back (None: nothing)."""
        return self.history.label

    def undo(self) -> str | None:
        """Undo the last action (prompt edit, accepted results, object change, load)."""
        entry = self.history.pop()
        if entry is None:
            return None
        revert(self, entry)
        self.history_changed.emit()
        return entry.label

    def _record(
        self,
        label: str,
        *,
        objects: bool = False,
        prompts: bool = False,
        protected: bool = False,
        scores: bool = False,
    ) -> UndoEntry:
        """Open an undo entry holding copies of what the action is about to change."""
        parts = snapshot(self, objects=objects, prompts=prompts, protected=protected, scores=scores)
        entry = self.history.open(label, **parts)
        self.history_changed.emit()
        return entry

    # ------------------------------------------------------------------ sessions
    def to_session(self) -> Session:
        """The session as saved to a file (``napari_sam2.session``)."""
        return session_of(self)

    def load_session(self, session: Session) -> None:
        """Replace objects, prompts, protected frames, settings and predictor options with a
        session's (undoable).

        The image's layout must already follow the session's (see
        :meth:`ImageSpec.with_source`); labels already in the layer stay.

        Raises:
            SessionError: the session was made for an image of another size, or its prompts
                or settings do not fit this image.
        """
        apply_session(self, session)


# ---------------------------------------------------------------------- one per viewer
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def controller_for(viewer: Any) -> TrackingController:
    """The tracking session of a viewer, created on first use (state per viewer, never a
    process-wide singleton; dock widgets of the same viewer share it)."""
    viewer = getattr(viewer, "__wrapped__", viewer)  # napari hands plugins a proxy
    controller = _CONTROLLERS.get(viewer)
    if controller is None:
        controller = _CONTROLLERS[viewer] = TrackingController()
    return controller
