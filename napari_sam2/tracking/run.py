"""Running a tracking job: open the frames, load the model, replay the prompts, propagate.

:class:`Tracking` is the pipeline the scripted API (``track``), batch jobs and the command line
run; the dock's engine reuses its parts (:func:`propagate`, the model cache, the plan) on its
long-lived video state. Every check that needs no model runs before the model loads, so a bad
prompt or frame range fails in a second, not after a minute of loading.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_sam2.lineage.live import live_objects
from napari_sam2.session import Session, SessionError, apply_prompts
from napari_sam2.tracking.frame_options import FrameOptions
from napari_sam2.tracking.models import load_model
from napari_sam2.tracking.plan import (
    FrameRange,
    Pass,
    check_direction,
    default_start,
    frame_count,
    frame_range,
    plan,
)
from napari_sam2.tracking.redetect import Redetect, detection_frames, propagate_redetecting
from sam2_engine.constants import DEFAULT_MODEL, label_dtype_name
from sam2_engine.options import PredictorOptions

#: (frame index, object ids, (N, 1, H, W) mask logits), as the engine yields them.
TrackedFrame = tuple[int, list[int], Any]


def session_options(session: Session, **given: Any) -> PredictorOptions:
    """The predictor options a session recorded, with the ``given`` ones (not None) instead.

    Raises:
        OptionsError: a given option is unknown or has a bad value.
        SessionError: an option the session recorded has a bad value.
    """
    PredictorOptions().updated(**given)  # the caller's own mistakes are named as such
    recorded = {k: v for k, v in session.settings.items() if k != "device"}
    try:
        options = PredictorOptions.from_json(recorded, ignore_unknown=True)
    except ValueError as err:
        raise SessionError(f"the session's settings do not fit: {err}") from None
    return options.updated(**given)


def propagate(predictor: Any, state: Any, passes: list[Pass]) -> Iterator[TrackedFrame]:
    """Every frame of the passes, in order: ``(frame_idx, obj_ids, masks)``."""
    for p in passes:
        frames = predictor.propagate_in_video(
            state, start_frame_idx=p.start, max_frame_num_to_track=p.count, reverse=p.reverse
        )
        for position, (frame_idx, obj_ids, masks) in enumerate(frames):
            if p.skip_first and position == 0:
                continue
            yield frame_idx, obj_ids, masks


@dataclass
class TrackingJob:
    """What to track, with which model and options.

    Attributes:
        video: anything ``open_frames`` reads (an array, a TIFF, zarr, folder, video file).
        session: the objects and prompts.
        model: a model name, ``Sam2Config`` or loaded model; None: the session's, else the
            default model.
        checkpoint: the weights file; None: the cached one.
        allow_download: fetch a missing checkpoint.
        options: how the model runs (device, image size, precision...) and tracks.
        frame_options: how frames are read; options not given come from the session.
        direction: ``both``, ``forward`` or ``backward`` (see :mod:`.plan`).
        frames: the frames to cover (default all); every prompt must lie inside.
        show_download: a progress bar for a download.
        redetect: look for new objects entering the video (see :mod:`.redetect`).
    """

    video: Any
    session: Session
    model: Any = None
    checkpoint: str | os.PathLike | None = None
    allow_download: bool = False
    options: PredictorOptions = field(default_factory=PredictorOptions)
    frame_options: FrameOptions = field(default_factory=FrameOptions)
    direction: str = "both"
    frames: FrameRange = None
    show_download: bool = True
    redetect: Redetect | None = None


class Tracking:
    """A tracking job, opened: frames, model, predictor and prompts ready to propagate.

    Use as a context manager (or call :meth:`close`): it holds the video's files and the
    predictor's state. :meth:`frames` propagates; :meth:`write` writes into a sink.

    Attributes:
        first, stop: the frames covered, ``[first, stop)``; label index ``i`` is frame
            ``first + i``.
        passes: the propagation passes.
        shape: (frames, H, W) of the label stack.
        label_dtype: ``"uint16"``, or ``"uint32"`` for object ids above 65535.
        info: the provenance outputs record (model, checkpoint SHA-256, direction, frames,
            objects, source, options).
        loaded_model_now: this job loaded the model (it was not in the process's cache).

    Raises (at construction):
        SessionError: prompts that do not fit the frames or the range.
        ValueError, FrameSourceError, ModelNotFoundError...: bad options, unreadable frames,
            no model.
    """

    def __init__(self, job: TrackingJob) -> None:
        from sam2_engine import VideoPredictor
        from sam2_engine.frames import open_frames

        session = job.session
        check_direction(job.direction)
        recorded = FrameOptions.from_mapping(session.source)
        self.source = open_frames(job.video, **job.frame_options.or_else(recorded).as_kwargs())
        self.state = None
        self.redetect = job.redetect
        try:
            self.first, self.stop = frame_range(job.frames, len(self.source))
            self.passes = self._plan(session, job.direction)
            loaded = load_model(
                job.model or session.model.get("name") or DEFAULT_MODEL,
                job.options,
                checkpoint=job.checkpoint,
                allow_download=job.allow_download,
                progress=job.show_download,
            )
            self.loaded_model_now = loaded.loaded_now
            self.predictor = VideoPredictor(loaded.model, **job.options.predictor_kwargs())
            self.state = self.predictor.init_state(self.source)
            apply_prompts(session, self.predictor, self.state)
        except BaseException:
            self.close()
            raise
        self.shape = (self.stop - self.first, self.source.height, self.source.width)
        self.label_dtype = label_dtype_name(session.object_ids)
        self.lineage = session.lineage
        self.info = {
            **loaded.info,
            "direction": job.direction,
            "frames": [self.first, self.stop],
            "objects": session.object_ids,
            "source": _source_name(job.video),
            "options": {k: v for k, v in job.options.to_json().items() if k != "device"},
        }

    def _plan(self, session: Session, direction: str) -> list[Pass]:
        """Check the prompts against the frames (before any model work); plan the passes."""
        session.check_source(len(self.source), (self.source.height, self.source.width))
        prompted = sorted({p.frame for p in session.prompts})
        outside = [t for t in prompted if not self.first <= t < self.stop]
        if outside:
            raise SessionError(
                f"prompts on frame(s) {outside} lie outside the frames to track "
                f"({self.first}..{self.stop - 1})"
            )
        start = default_start(prompted, direction)
        return plan(direction, self.first, self.stop - 1, start)

    @property
    def frame_count(self) -> int:
        """How many frames the propagation yields (a frame searched for new objects twice)."""
        if self.redetect is None:
            return frame_count(self.passes)
        return frame_count(self.passes) + len(detection_frames(self.passes, self.redetect.every))

    def read_frame(self, index: int) -> Any:
        """The raw pixels of label index ``index`` (for sinks that store the frames too)."""
        return self.source.read(self.first + index)

    def frames(self) -> Iterator[TrackedFrame]:
        """Propagate; yields ``(label index, obj_ids, masks)`` as frames are tracked (with a
        session lineage, each object only on the frames its track lives)."""
        if self.redetect is None:
            frames = propagate(self.predictor, self.state, self.passes)
        else:
            frames = propagate_redetecting(
                self.predictor, self.state, self.passes, self.redetect, self.source
            )
        for frame_idx, obj_ids, masks in live_objects(frames, self.lineage):
            yield frame_idx - self.first, obj_ids, masks
        if self.redetect is not None:
            self.info["first_frames"] = dict(sorted(self.redetect.first_frames.items()))
            self.info["objects"] = sorted(self.redetect.first_frames)

    def write(self, sink: Any, progress: Any = None) -> list[int]:
        """Write every tracked frame into ``sink`` (left open: the caller closes or aborts)."""
        from sam2_engine.sinks import write_propagation

        return write_propagation(self.frames(), sink, progress=progress, close=False)

    def close(self) -> None:
        """Release the predictor's state and the video's files."""
        if self.state is not None:
            self.state.close()  # closes the frame source too
            self.state = None
        else:
            self.source.close()

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _source_name(video: Any) -> str:
    if isinstance(video, (str, os.PathLike)):
        return str(Path(video).expanduser().resolve())
    return f"{type(video).__module__}.{type(video).__name__} {getattr(video, 'shape', '')}"
