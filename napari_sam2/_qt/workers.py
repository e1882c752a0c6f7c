"""Engine jobs in napari generator workers, with progress and cancel.

The controller plans a job on the main thread and runs it as a generator
(:meth:`~napari_sam2._controller.TrackingController.run`); :class:`JobRunner` runs that
generator in a ``napari.qt.threading`` worker and handles what it yields on the main thread:
frame results go to the controller (which writes the labels), status lines to napari's progress
bar and the dock's busy line. Every ``yield`` is a point where Cancel takes effect, so a
cancelled propagation keeps every finished frame and touches no other.

The jobs the user asks for never overlap (they change the engine's state): one submitted while
another runs waits in a queue, and its plan is made only when its turn comes, so it sees the
latest prompts. Queued prompt syncs coalesce into one. Background jobs prepare frames ahead of
clicks: one that needs the model loaded runs in that queue too (quietly); one that only
encodes frames (``Plan.concurrent``) runs beside the others, reading the engine's state but
never changing it, and stops at its next frame when the user asks for anything, so a click
never waits for it.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import cancelable_progress, progress
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal
from qtpy.QtCore import QThreadPool

from napari_sam2._controller import TrackingController
from napari_sam2._engine_link import DownloadProgress
from napari_sam2._records import (
    DivisionsFound,
    FrameResult,
    FramesReady,
    JobStatus,
    ObjectsFound,
    Plan,
    PluginInputError,
)
from napari_sam2.session import SessionError

log = logging.getLogger(__name__)

#: What the dock says from Cancel until the job has stopped (the current frame finishes first).
CANCELLING = "cancelling: the current frame finishes first, then the job stops..."

#: Exceptions whose message is written for users (shown as is, without a traceback).
USER_ERRORS = (PluginInputError, SessionError, ValueError, FileNotFoundError)


@dataclass
class Job:
    """A job waiting for its turn: ``prepare`` makes its plan on the main thread (None: nothing
    to do) and may raise :class:`PluginInputError`."""

    kind: str
    prepare: Callable[[], Plan | None]
    title: str


@dataclass
class _Running:
    job: Job
    plan: Plan
    worker: GeneratorWorker
    bar: progress | None = None
    done: set[tuple[int, int]] = field(default_factory=set)
    frames: int = 0
    cancelled: bool = False
    failed: bool = False
    started: float = field(default_factory=time.monotonic)
    #: when the first frame arrived (the ETA counts from there: loading is not tracking)
    first_frame_at: float | None = None

    @property
    def background(self) -> bool:
        """A job the user did not ask for (preparing frames ahead): quiet, first to give way."""
        return self.plan.background

    def eta(self) -> float | None:
        """Seconds left, from the pace since the first frame (None before two frames)."""
        total = self.plan.total_frames
        if self.first_frame_at is None or self.frames < 2 or total <= self.frames:
            return None
        pace = (time.monotonic() - self.first_frame_at) / (self.frames - 1)
        return pace * (total - self.frames)


class _ClosingWorker(GeneratorWorker):
    """A generator worker that closes its generator in the worker thread when it stops."""

    def work(self):  # noqa: D102 (GeneratorWorker's)
        try:
            return super().work()
        finally:
            self._gen.close()


class _CancelableBar(cancelable_progress):
    """napari's cancelable progress bar, whose Cancel button stops the job at once."""

    def cancel(self) -> None:
        super().cancel()
        if self.cancel_callback is not None:
            self.cancel_callback()


class JobRunner:
    """Runs a controller's jobs in napari workers: the user's one at a time, background
    encoding beside them.

    Signals:
        busy_changed(bool): a job the user asked for started (True), or none is left (False).
        status(str): a line for the dock's busy indicator.
        progress(int, int, object): frames done, frames in all, seconds left (or None) of a
            propagation.
        frames_ready(int, int, int): frames encoded ahead of clicks, their bytes, the budget.
        job_finished(str, bool, float): the job kind, whether it completed (not failed or
            cancelled), and its duration in seconds.
    """

    busy_changed = Signal(bool)
    status = Signal(str)
    progress = Signal(int, int, object)
    frames_ready = Signal(int, int, int)
    job_finished = Signal(str, bool, float)

    def __init__(self, controller: TrackingController) -> None:
        self.controller = controller
        controller.sync_requested.connect(self._on_sync_requested)
        self._queue: deque[Job] = deque()
        self._running: _Running | None = None  # a job of the queue
        self._beside: _Running | None = None  # background encoding, beside the queue's job
        self._inbox: deque[tuple[str, _Running, object]] = deque()
        self._draining = False
        self._was_busy = False
        # background encoding runs on a thread of its own, at a low priority (see run_plan)
        self._background_pool = QThreadPool()
        self._background_pool.setMaxThreadCount(1)

    @property
    def busy(self) -> bool:
        """A job the user asked for runs or waits (background work does not count)."""
        running = self._running is not None and not self._running.background
        return running or any(j.kind != "prefetch" for j in self._queue)

    @property
    def running_kind(self) -> str | None:
        return None if self._running is None else self._running.job.kind

    @property
    def propagating(self) -> bool:
        """A propagation runs or waits its turn."""
        return self.running_kind == "propagate" or any(j.kind == "propagate" for j in self._queue)

    @property
    def cancelling(self) -> bool:
        """Cancel was pressed and the running job has not stopped yet."""
        return self._running is not None and self._running.cancelled

    def _say_busy(self) -> None:
        if self.busy != self._was_busy:
            self._was_busy = self.busy
            self.busy_changed.emit(self._was_busy)

    # ------------------------------------------------------------------ queue
    def _on_sync_requested(self) -> None:
        """Prompts were edited: send them to the engine (and show their masks)."""
        if self.controller.image is not None and self.controller.labels is not None:
            self.submit(Job("sync", self.controller.sync_plan, "computing the mask"))

    def submit(self, job: Job) -> bool:
        """Queue a job; False when it is refused: a prompt sync already waiting absorbs a new
        one, a propagation is not queued behind another, and background work waits for an idle
        runner. Any job the user asks for stops background work at its next frame."""
        if job.kind == "prefetch" and self.busy:
            return False
        if job.kind == "sync" and any(j.kind == "sync" for j in self._queue):
            return False
        if job.kind == "propagate" and self.propagating:
            show_info("SAM 2: a propagation is already running; press Cancel to stop it first")
            return False
        self._queue = deque(j for j in self._queue if j.kind != "prefetch")
        for running in (self._running, self._beside):
            if running is not None and running.background:
                self._stop(running)
        self._queue.append(job)
        self._say_busy()
        self._start_next()
        return True

    def _stop(self, running: _Running) -> None:
        if not running.cancelled:
            running.cancelled = True
            running.worker.quit()

    def cancel(self) -> None:
        """Stop the running job at its next frame and drop queued propagations."""
        self._queue = deque(j for j in self._queue if j.kind != "propagate")
        if self._beside is not None:
            self._stop(self._beside)
        running = self._running
        if running is not None and not running.cancelled:
            self._stop(running)
            if not running.background:
                self.status.emit(CANCELLING)

    def _start_next(self) -> None:
        while self._queue:
            job = self._queue[0]
            if self._running is not None:
                break  # the queue's job waits its turn
            if job.kind == "prefetch" and self._beside is not None:
                break  # one background job at a time
            self._queue.popleft()
            try:
                plan = job.prepare()
            except USER_ERRORS as exc:
                show_warning(f"SAM 2: {exc}")
                continue
            if plan is None:
                continue
            for note in plan.notes:
                show_info(f"SAM 2: {note}")
            if plan.concurrent:
                self._beside = self._start(job, plan)
            else:
                self._running = self._start(job, plan)
        self._say_busy()

    def _start(self, job: Job, plan: Plan) -> _Running:
        worker = create_worker(
            self.controller.run, plan, _worker_class=_ClosingWorker, _ignore_errors=True
        )
        running = _Running(job, plan, worker)
        if plan.runs or plan.segment is not None or job.kind == "load":
            self._show_bar(running)
        worker.yielded.connect(partial(self._post, "yielded", running))
        worker.errored.connect(partial(self._post, "errored", running))
        worker.finished.connect(partial(self._post, "finished", running, None))
        if not plan.background:
            self.status.emit(job.title)
        if plan.concurrent:  # the running record holds the worker until it finishes
            self._background_pool.start(worker)
        else:
            worker.start()
        return running

    # ------------------------------------------------------------------ worker signals
    # napari's progress bars call QApplication.processEvents() when they update, so a handler
    # can be re-entered by the worker's next signal. Signals are therefore queued in an inbox
    # and handled strictly in order, one at a time.
    def _post(self, kind: str, running: _Running, payload: object) -> None:
        self._inbox.append((kind, running, payload))
        if self._draining:
            return
        self._draining = True
        try:
            while self._inbox:
                kind, running, payload = self._inbox.popleft()
                handler = {
                    "yielded": self._handle_item,
                    "errored": self._handle_error,
                    "finished": self._handle_finished,
                }[kind]
                handler(running, payload)
        finally:
            self._draining = False

    def _show_bar(self, running: _Running) -> progress:
        """napari's progress bar for this job (made only for slow work: creating one costs
        ~0.1 s, more than a click's whole decoder pass)."""
        if running.bar is None:
            running.bar = _CancelableBar(
                total=running.plan.total_frames,
                desc=f"SAM 2: {running.job.title}",
                cancel_callback=self.cancel,
            )
        return running.bar

    def _handle_item(self, running: _Running, item: object) -> None:
        if isinstance(item, FramesReady):
            self.frames_ready.emit(item.frames, item.nbytes, item.max_bytes)
        elif isinstance(item, (ObjectsFound, DivisionsFound)):
            found = self.controller.accept_found
            if isinstance(item, DivisionsFound):
                found = self.controller.found_divisions
            said = found(item)
            if said:
                show_info(f"SAM 2: {said}")
        elif isinstance(item, FrameResult):
            self.controller.accept(item)
            if item.kind == "prompt":
                running.done.add((item.frame, item.obj))
            else:
                running.frames += 1
                if running.first_frame_at is None:
                    running.first_frame_at = time.monotonic()
                total = running.plan.total_frames
                self.progress.emit(running.frames, total, running.eta())
                if not running.cancelled:  # the cancelling line stays until the job stops
                    self.status.emit(f"{running.job.title}: frame {item.frame}")
                self._show_bar(running).update(1)
        elif running.background:
            return  # background work says nothing
        elif isinstance(item, JobStatus):
            if not running.cancelled:
                self.status.emit(item.text)
            self._show_bar(running).set_description(f"SAM 2: {item.text}")
        elif isinstance(item, DownloadProgress):
            megabytes = item.done / 2**20
            self.status.emit(f"downloading {item.name}: {megabytes:.0f} MiB")
            bar = self._show_bar(running)
            if item.total and bar.total != item.total:
                bar.total = item.total
            bar.n = item.done
            bar.update(0)

    def _handle_error(self, running: _Running, exc: Exception) -> None:
        running.failed = True
        if running.background:  # e.g. no weights on disk yet: the user will be told on use
            log.debug("SAM 2 background job stopped: %r", exc)
        elif isinstance(exc, USER_ERRORS) or type(exc).__module__.startswith("sam2_engine"):
            show_error(f"SAM 2: {exc}")
        else:
            log.error("SAM 2 job %r failed", running.job.title, exc_info=exc)
            show_error(f"SAM 2: {running.job.title} failed: {type(exc).__name__}: {exc}")

    def _handle_finished(self, running: _Running, _: object = None) -> None:
        if running is self._beside:
            self._beside = None
        elif running is self._running:
            self._running = None
        else:
            return
        completed = not (running.cancelled or running.failed)
        self.controller.finish(running.plan, completed, running.done)
        skipped = self.controller.skipped_protected
        if running.plan.runs and skipped:
            show_info(
                f"SAM 2: {len(skipped)} frames painted by hand were kept (tick 'overwrite "
                "painted' to replace them)"
            )
        if running.bar is not None:
            running.bar.close()
        seconds = time.monotonic() - running.started
        self.job_finished.emit(running.job.kind, completed, seconds)
        self._start_next()


_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runner_for(controller: TrackingController) -> JobRunner:
    """The job runner of a controller: one per session, so that two docks on one viewer never
    run engine jobs side by side."""
    runner = _RUNNERS.get(controller)
    if runner is None:
        runner = _RUNNERS[controller] = JobRunner(controller)
    return runner
