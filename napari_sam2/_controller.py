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

Engine work happens in jobs: the view asks for a plan on the main thread while no job runs
(:meth:`TrackingController.sync_plan`, :meth:`TrackingController.propagation_plan`), runs
:meth:`TrackingController.run` in a worker thread (what a job does is :mod:`napari_sam2._jobs`),
and hands every yielded :class:`FrameResult` back to :meth:`TrackingController.accept` on the
main thread, which writes the label store and records what it replaced for undo.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
from psygnal import Signal

from napari_sam2._engine_link import DownloadProgress, EngineLink
from napari_sam2._history import UndoEntry, UndoHistory
from napari_sam2._image_spec import ImageSpec
from napari_sam2._jobs import propagation_notes, propagation_range, run_plan
from napari_sam2._label_updates import with_object_mask, with_tracked_labels
from napari_sam2._palette import object_color
from napari_sam2._prompt_book import PromptBook
from napari_sam2._records import (
    FrameResult,
    JobStatus,
    LabelStore,
    ObjectInfo,
    Plan,
    PluginInputError,
    PromptKey,
    Settings,
)
from napari_sam2.session import FramePrompt, Session, SessionError, SessionObject
from napari_sam2.tracking.models import ModelChoice
from napari_sam2.tracking.plan import plan as plan_passes
from sam2_engine.constants import DIRECTIONS
from sam2_engine.options import OptionsError, PredictorOptions

#: Largest object id: labels are stored as uint16.
MAX_OBJECT_ID = 2**16 - 1


# ---------------------------------------------------------------------- the controller
class TrackingController:
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

    def clear(self) -> None:
        """Forget objects, prompts, protected frames, scores and history (another image).

        The engine drops the old prompts at the next job.
        """
        self._book.clear()
        self.objects = []
        self.active = None
        self.protected = set()
        self.scores = {}
        self.skipped_protected = []
        self.history.clear()
        for signal in (
            self.objects_changed,
            self.prompts_changed,
            self.protected_changed,
            self.scores_changed,
            self.history_changed,
        ):
            signal.emit()
        self.active_changed.emit(None)

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

    def loaded_model(self) -> str | None:
        """What the engine has loaded, for the dock (None: nothing yet)."""
        return self.engine.describe()

    # ------------------------------------------------------------------ objects
    def object(self, obj_id: int) -> ObjectInfo:
        for obj in self.objects:
            if obj.id == obj_id:
                return obj
        raise KeyError(f"no object with id {obj_id}")

    @property
    def object_ids(self) -> list[int]:
        return [obj.id for obj in self.objects]

    def add_object(self, name: str | None = None, color: str | None = None) -> ObjectInfo:
        """A new object with the next free id (label value), made active."""
        obj_id = max(self.object_ids, default=0) + 1
        if obj_id > MAX_OBJECT_ID:
            raise PluginInputError(f"at most {MAX_OBJECT_ID} objects can be tracked")
        self._record("add object", objects=True)
        info = ObjectInfo(obj_id, name or f"object {obj_id}", color or object_color(obj_id))
        self.objects.append(info)
        self.objects_changed.emit()
        self.set_active(obj_id)
        return info

    def remove_object(self, obj_id: int) -> None:
        """Remove an object, its prompts and its labels (all undoable)."""
        self.object(obj_id)
        entry = self._record(f"remove object {obj_id}", objects=True, prompts=True, scores=True)
        self.objects = [obj for obj in self.objects if obj.id != obj_id]
        self.scores.pop(obj_id, None)
        self._book.remove_object(obj_id, entry.token)
        if self.labels is not None and self.image is not None:
            for frame in range(self.image.num_frames):
                old = self.labels.read(frame)
                if (old == obj_id).any():
                    self._write(frame, np.where(old == obj_id, 0, old), entry.token)
        if self.active == obj_id:
            self.active = self.objects[-1].id if self.objects else None
            self.active_changed.emit(self.active)
        self.objects_changed.emit()
        self.prompts_changed.emit()
        self.scores_changed.emit()
        self.sync_requested.emit()

    def rename_object(self, obj_id: int, name: str) -> None:
        obj = self.object(obj_id)
        if name and name != obj.name:
            self._record(f"rename object {obj_id}", objects=True)
            obj.name = name
            self.objects_changed.emit()

    def recolor_object(self, obj_id: int, color: str) -> None:
        obj = self.object(obj_id)
        if color != obj.color:
            self._record(f"recolour object {obj_id}", objects=True)
            obj.color = color
            self.objects_changed.emit()

    def set_active(self, obj_id: int | None) -> None:
        if obj_id is not None:
            self.object(obj_id)
        if obj_id != self.active:
            self.active = obj_id
            self.active_changed.emit(obj_id)

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

    def use_labels_as_prompt(self, frame: int, obj: int | None = None) -> None:
        """Make the object's painted pixels on ``frame`` its mask prompt there (protects it)."""
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
        self._edit_prompts(
            {(frame, obj): FramePrompt(frame, obj, mask=mask)},
            f"use labels of object {obj} on frame {frame} as prompt",
            protect={frame},
        )

    def _edit_prompts(
        self,
        changes: dict[PromptKey, FramePrompt | None],
        label: str,
        protect: Iterable[int] = (),
    ) -> None:
        protect = set(protect) - self.protected
        entry = self._record(label, prompts=True, protected=bool(protect))
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

    # ------------------------------------------------------------------ plans (main thread)
    def sync_plan(self) -> Plan | None:
        """A job that sends edited prompts to the engine; None when there is nothing to do."""
        self._check_ready()
        if not self._book.has_pending and self._engine_ready():
            return None
        return self._plan()

    def load_plan(self) -> Plan:
        """A job that loads the model and opens the image (and sends pending prompts)."""
        self._check_ready()
        return self._plan()

    def propagation_plan(self, start: int) -> Plan:
        """A job that sends pending prompts, then propagates from ``start`` (the current frame)
        over the frame range in the chosen direction(s).

        Raises:
            PluginInputError: no prompts, a single-frame image, or ``start`` outside the range.
        """
        self._check_ready()
        if self.image.axis is None:
            raise PluginInputError(
                "this image has a single frame (no time or z axis): there is nothing to "
                "propagate; clicks and boxes give masks directly"
            )
        if not self.prompts:
            raise PluginInputError("add a point, a box or a painted mask for an object first")
        first, last = propagation_range(self.settings, self.image.num_frames, start)
        plan = self._plan()
        direction = self.settings.direction
        plan.runs = plan_passes(direction, first, last, start)
        plan.overwrite = self.settings.overwrite_protected
        plan.token = self._record(f"propagate {direction} from frame {start}", scores=True).token
        plan.notes = propagation_notes(self.prompts, self.object_ids, first, last)
        self.skipped_protected = []
        return plan

    def finish(self, plan: Plan, completed: bool, done: set[PromptKey]) -> None:
        """A job ended. Prompts it did not get to send (cancelled, failed) are pending again;
        the undo entry of a propagation that changed nothing is dropped."""
        if not completed:
            self._book.requeue(plan.items, done)
        if self.history.discard_if_unused(plan.token):
            self.history_changed.emit()
        self.skipped_protected = sorted(set(self.skipped_protected))

    def _check_ready(self) -> None:
        if self.image is None:
            raise PluginInputError("pick an image layer first")
        if self.labels is None:
            raise PluginInputError("there is no labels layer to write to")

    def _plan(self) -> Plan:
        items = self._book.take_pending(resend_all=not self._engine_ready())
        return Plan(self.image, self.model, self.options, self.settings.torch_threads, items)

    def _engine_ready(self) -> bool:
        return self.engine.matches(self.model, self.options, self.image)

    # ------------------------------------------------------------------ jobs (worker thread)
    def run(self, plan: Plan) -> Iterator[FrameResult | JobStatus | DownloadProgress | None]:
        """Carry out a plan: load the model, send prompts, propagate. Runs in a worker.

        Touches only the engine and the plan, never the controller's other state; yields
        results for :meth:`accept`, status lines and download progress. A generator function,
        as napari's generator workers require.
        """
        yield from run_plan(self.engine, plan)

    # ------------------------------------------------------------------ results (main thread)
    def accept(self, result: FrameResult) -> None:
        """Write a job's result into the label store and the score table."""
        if self.image is None or result.image_key != self.image.key:
            return  # the image changed since the job started
        known = set(self.object_ids)
        changed_scores = False
        for obj, score in result.scores.items():
            if obj in known and score is not None:
                self.scores.setdefault(obj, {})[result.frame] = score
                changed_scores = True
        if self.labels is not None and result.write:
            if result.kind == "prompt":
                self._write_object(result)
            elif result.frame in self.protected and not result.overwrite:
                self.skipped_protected.append(result.frame)
            else:
                self._write_tracked(result, known)
        if changed_scores:
            self.scores_changed.emit()

    def _write_object(self, result: FrameResult) -> None:
        if result.obj in self.object_ids:
            old = np.asarray(self.labels.read(result.frame))
            new = with_object_mask(old, result.obj, result.mask)
            self._write(result.frame, new, result.token)

    def _write_tracked(self, result: FrameResult, known: set[int]) -> None:
        old = np.asarray(self.labels.read(result.frame))
        new = with_tracked_labels(old, result.labels, result.obj_ids, known)
        self._write(result.frame, new, result.token)

    def _write(self, frame: int, new: np.ndarray, token: int | None) -> None:
        old = np.asarray(self.labels.read(frame))
        if np.array_equal(old, new):
            return
        entry = self.history.find(token)
        if entry is not None and frame not in entry.frames:
            entry.frames[frame] = old.copy()
        self.labels.write(frame, new)

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
        if entry.objects is not None:
            self.objects = entry.objects
            self.objects_changed.emit()
            if self.active != entry.active:
                self.active = entry.active
                self.active_changed.emit(entry.active)
        if entry.prompts is not None:
            self._book.restore(entry.prompts)
            self.prompts_changed.emit()
        if entry.protected is not None:
            self.protected = entry.protected
            self.protected_changed.emit()
        if entry.scores is not None:
            self.scores = entry.scores
            self.scores_changed.emit()
        if self.labels is not None:
            for frame, old in entry.frames.items():
                self.labels.write(frame, old)
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
        snapshot: dict[str, Any] = {}
        if objects:
            snapshot["objects"] = [replace(obj) for obj in self.objects]
            snapshot["active"] = self.active
        if prompts:
            snapshot["prompts"] = self._book.snapshot()
        if protected:
            snapshot["protected"] = set(self.protected)
        if scores:
            snapshot["scores"] = {obj: dict(frames) for obj, frames in self.scores.items()}
        entry = self.history.open(label, **snapshot)
        self.history_changed.emit()
        return entry

    # ------------------------------------------------------------------ sessions
    def to_session(self) -> Session:
        """The session as saved to a file (``napari_sam2.session``)."""
        if self.image is None:
            raise PluginInputError("pick an image first: a session belongs to an image")
        return Session(
            source=self.image.describe(),
            model=self.model.describe(),
            settings={**self.settings.to_json(), **self._recorded_options()},
            objects=[SessionObject(o.id, o.name, o.color) for o in self.objects],
            prompts=self.prompts,
            protected_frames=sorted(self.protected),
        )

    def _recorded_options(self) -> dict[str, Any]:
        """The predictor options a session records (not the device: that is the machine's)."""
        return {k: v for k, v in self.options.to_json().items() if k != "device"}

    def load_session(self, session: Session) -> None:
        """Replace objects, prompts, protected frames and settings with a session's (undoable).

        The image's layout must already follow the session's (see
        :meth:`ImageSpec.with_source`); labels already in the layer stay.

        Raises:
            SessionError: the session was made for an image of another size, or its prompts
                do not fit this image.
        """
        if self.image is None:
            raise PluginInputError("pick the image the session was made for first")
        session.check_source(self.image.num_frames, self.image.frame_shape)
        recorded = {k: v for k, v in session.settings.items() if k != "device"}
        try:
            options = PredictorOptions.from_json(
                {**self.options.to_json(), **recorded}, ignore_unknown=True
            )
        except OptionsError as err:
            raise SessionError(f"the session's settings do not fit: {err}") from None
        if any(o.id > MAX_OBJECT_ID for o in session.objects):
            raise SessionError(f"object ids above {MAX_OBJECT_ID} are not supported")
        self._record("load session", objects=True, prompts=True, protected=True, scores=True)
        self.objects = [
            ObjectInfo(o.id, o.name or f"object {o.id}", o.color or object_color(o.id))
            for o in session.objects
        ]
        self._book.load(session.prompts)
        self.protected = set(session.protected_frames)
        self.scores = {}
        settings = Settings.from_json({**self.settings.to_json(), **session.settings})
        self.settings = settings
        self.options = options
        name = session.model.get("name")
        if name and name != self.model.name:
            self.set_model(
                ModelChoice(
                    name=name,
                    checkpoint=session.model.get("checkpoint"),
                    allow_download=self.model.allow_download,
                )
            )
        else:
            self.model_changed.emit()  # the options may have changed
        self.active = self.objects[0].id if self.objects else None
        self._clamp_range()
        for signal in (
            self.objects_changed,
            self.prompts_changed,
            self.protected_changed,
            self.scores_changed,
            self.settings_changed,
        ):
            signal.emit()
        self.active_changed.emit(self.active)


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
