"""Engine jobs of the dock (Qt-free): the plans the controller makes, and the job run.

:class:`EngineJobs` is the controller's engine side: on the main thread it fixes a
:class:`~napari_sam2._records.Plan` (:func:`propagation_range` and :func:`propagation_notes`,
with the pipeline's :func:`~napari_sam2.tracking.plan.plan`, make a propagation's part);
:func:`run_plan` carries it out in a worker thread, touching only the engine and the plan, and
yields what the main thread handles: frame results, status lines and download progress.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Collection, Iterable, Iterator

import numpy as np

from napari_sam2._engine_link import DownloadProgress, EngineLink, engine_key, set_torch_threads
from napari_sam2._records import (
    DivisionsFound,
    FrameResult,
    FramesReady,
    JobStatus,
    ObjectsFound,
    Plan,
    PluginInputError,
    PromptKey,
    SegmentRequest,
    Settings,
)
from napari_sam2.lineage.detect import DivisionDetector, DivisionSettings
from napari_sam2.session import FramePrompt
from napari_sam2.tracking.plan import plan as plan_passes
from napari_sam2.tracking.redetect import Redetect


def propagation_range(settings: Settings, num_frames: int, start: int) -> tuple[int, int]:
    """The (first, last) frames a propagation from ``start`` may write: the settings' frame
    range, clipped to the image's ``num_frames``.

    Raises:
        PluginInputError: the range is empty, or ``start`` lies outside it.
    """
    last_frame = num_frames - 1
    last = last_frame if settings.last_frame is None else settings.last_frame
    first = max(0, settings.first_frame)
    last = min(last, last_frame)
    if first > last:
        raise PluginInputError(f"the frame range {first}-{last} is empty")
    if not first <= start <= last:
        raise PluginInputError(
            f"the current frame {start} is outside the frame range {first}-{last}: move "
            "to a frame inside it, or widen the range"
        )
    return first, last


def propagation_notes(
    prompts: Collection[FramePrompt], object_ids: Iterable[int], first: int, last: int
) -> list[str]:
    """Messages for the user about a propagation over first..last with these prompts."""
    notes = []
    outside = sorted({p.frame for p in prompts if not first <= p.frame <= last})
    if outside:
        notes.append(
            f"prompts on frames {_frames_text(outside)} lie outside the range "
            f"{first}-{last}: they still guide tracking, but those frames are not written"
        )
    untracked = [obj for obj in object_ids if not any(p.object == obj for p in prompts)]
    if untracked:
        notes.append(
            f"objects {', '.join(map(str, untracked))} have no prompts and are not tracked"
        )
    return notes


def run_plan(
    engine: EngineLink, plan: Plan
) -> Iterator[FrameResult | JobStatus | DownloadProgress | None]:
    """Carry out a plan: load the model, send prompts, propagate. Runs in a worker."""
    set_torch_threads(plan.threads)
    if plan.background and not _model_at_hand(engine, plan):
        raise NothingAtHand(plan.model.name)  # quietly: a background job never downloads
    if engine.model is None or engine.model_key != engine_key(plan.model, plan.options):
        yield JobStatus(f"loading {plan.model.name}")
        yield from engine.load(plan.model, plan.options)
    if engine.ensure_state(plan.image):
        yield JobStatus(f"opened {plan.image.name}")
    key = plan.image.key
    for item in plan.items:
        if item.prompt is not None and not engine.frame_is_encoded(item.frame):
            yield JobStatus(f"encoding frame {item.frame}")
        outcome = engine.apply(item.frame, item.obj, item.prompt, item.keep_object)
        scores = {} if outcome.score is None else {item.obj: outcome.score}
        yield FrameResult(
            "prompt", item.frame, key, item.token, item.write, obj=item.obj,
            mask=outcome.mask, scores=scores,
        )  # fmt: skip
    if plan.segment is not None:
        yield JobStatus(f"segmenting everything on frame {plan.segment.frame}")
        labels = engine.segment_everything(plan.segment.frame, plan.segment.options)
        masks = {int(i): labels == i for i in np.unique(labels) if i}
        yield ObjectsFound(plan.segment.frame, key, masks, sent=False)
    detector = None if plan.divisions is None else DivisionDetector(plan.divisions)
    for tracked in engine.propagate(plan.runs, plan.redetect, plan.lineage):
        if isinstance(tracked, tuple):  # new objects entering, already tracked by the engine
            yield ObjectsFound(tracked[0], key, tracked[1], sent=True)
            continue
        yield FrameResult(
            "propagate", tracked.frame, key, plan.token, True, labels=tracked.labels,
            obj_ids=tuple(tracked.obj_ids), scores=tracked.scores, overwrite=plan.overwrite,
        )  # fmt: skip
        events = [] if detector is None else detector.update(tracked.frame, tracked.labels)
        if events:
            yield DivisionsFound(key, events)
    if plan.concurrent:
        lower_thread_priority()  # beside a click's decoder it takes what CPU is left
    for frame in plan.encode:  # one frame per step: any user action stops it in between
        if engine.encode(frame):
            info = engine.cache_info()
            yield FramesReady(frame, info.frames, info.nbytes, info.max_bytes)


def lower_thread_priority() -> None:
    """Run the calling thread at the lowest CPU priority (Linux: a thread's own nice value;
    elsewhere nothing). Only for a thread used by background work alone: the priority cannot
    be raised again without privileges."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _model_at_hand(engine: EngineLink, plan: Plan) -> bool:
    """Whether the plan's model is loaded, given, or has its weights on disk."""
    if plan.model.injected or plan.model.checkpoint is not None:
        return True
    if engine.model is not None and engine.model_key == engine_key(plan.model, plan.options):
        return True
    from sam2_engine.weights import find_checkpoint

    return find_checkpoint(plan.model.name) is not None


def _frames_text(frames: list[int], limit: int = 8) -> str:
    text = ", ".join(map(str, frames[:limit]))
    return text + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


#: Frames encoded ahead of the user's clicks: the shown frame and its neighbours.
PREFETCH_FRAMES = 5


class NothingAtHand(Exception):
    """A background job found no model at hand (no weights on disk): it stops, unsaid."""


class EngineJobs:
    """The controller's engine side (a base of
    :class:`~napari_sam2._controller.TrackingController`, whose state it reads): the plans
    of prompt syncs, model loads and propagations, what happens when a job ends, and the job
    run itself."""

    engine: EngineLink

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
        plan.lineage = self.lineage
        if self.settings.find_divisions:
            plan.divisions = DivisionSettings()
        every = self.settings.redetect_every
        if every is not None:
            plan.redetect = Redetect(every, first_id=max(self.object_ids, default=0) + 1)
        self.skipped_protected = []
        return plan

    def segment_plan(self, frame: int, options: dict | None = None) -> Plan:
        """A job that segments everything on ``frame``: each mask becomes a new object with
        that mask as its prompt there (``options``: ``AutomaticMaskGenerator`` keywords)."""
        self._check_ready()
        if not 0 <= frame < self.image.num_frames:
            last = self.image.num_frames - 1
            raise PluginInputError(f"frame {frame} is outside the image (frames 0-{last})")
        plan = self._plan()
        plan.segment = SegmentRequest(frame, dict(options or {}))
        return plan

    def prefetch_plan(self, center: int, count: int = PREFETCH_FRAMES) -> Plan | None:
        """A background job preparing clicks around frame ``center``: when the model and the
        image are not open yet, a quiet job in the queue that opens them (and sends the
        prompts); else a job beside the queue encoding ``center`` and its nearest neighbours
        (up to ``count`` frames) that are not encoded yet. None: nothing to do, no image."""
        if self.image is None or self.labels is None:
            return None
        if not self._engine_ready():
            plan = self._plan()
            plan.background = True
            return plan
        info = self.engine.cache_info()
        if info.frames:  # never more than the cache holds: it would evict what it encodes
            capacity = info.max_bytes // max(1, info.nbytes // info.frames)
            count = max(1, min(count, capacity - 1))
        last = self.image.num_frames - 1
        near = sorted(range(max(0, center - count), min(last, center + count) + 1),
                      key=lambda f: (abs(f - center), f))  # fmt: skip
        near = [f for f in near if not self.engine.frame_is_encoded(f)][:count]
        if not near:
            return None
        plan = Plan(self.image, self.model, self.options, self.settings.torch_threads)
        plan.encode, plan.background, plan.concurrent = near, True, True
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
