"""The engine side of a tracking session: the model, the video predictor and its state.

Every method that touches torch runs in a worker thread, one job at a time (the plugin's job
runner guarantees it), so nothing here locks. ``torch`` and ``sam2_engine`` are imported on
first use: importing this module is free.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_sam2.session import FramePrompt
from napari_sam2.tracking.models import ModelChoice
from napari_sam2.tracking.plan import Pass
from sam2_engine.options import PredictorOptions

if TYPE_CHECKING:
    from napari_sam2._image_spec import ImageSpec
    from napari_sam2.lineage.model import Lineage
    from napari_sam2.tracking.redetect import Redetect


@dataclass
class DownloadProgress:
    """Bytes of a checkpoint downloaded so far (total None when the server does not say)."""

    name: str
    done: int
    total: int | None


@dataclass
class FeatureCacheInfo:
    """Frames whose image features are cached (a click on them only decodes), their size and
    the cache's budget in bytes."""

    frames: int
    nbytes: int
    max_bytes: int


@dataclass
class PromptOutcome:
    """One object's mask on one frame after its prompts changed (mask None: prompts gone)."""

    frame: int
    obj: int
    mask: np.ndarray | None
    score: float | None


@dataclass
class TrackedFrame:
    """One propagated frame: all objects merged into labels, and each object's score."""

    frame: int
    obj_ids: list[int]
    labels: np.ndarray
    scores: dict[int, float]


def engine_key(choice: ModelChoice, options: PredictorOptions) -> tuple:
    """What a loaded model and predictor depend on: a change means loading again."""
    return (choice, options)


class EngineLink:
    """Owns the model, the :class:`~sam2_engine.VideoPredictor` and its video state.

    The model comes from the tracking pipeline's cache (:mod:`napari_sam2.tracking.models`);
    the predictor is built from the session's :class:`~sam2_engine.options.PredictorOptions`.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.predictor: Any = None
        self.state: Any = None
        self.model_key: tuple | None = None
        self.state_key: tuple | None = None
        #: Lines for the user from the last load (reduced precision that will not pay).
        self.notes: list[str] = []

    # ------------------------------------------------------------------ readiness
    def matches(self, choice: ModelChoice, options: PredictorOptions, image: ImageSpec) -> bool:
        """True when the loaded model, predictor and state are those asked for."""
        return (
            self.state is not None
            and self.model_key == engine_key(choice, options)
            and self.state_key == image.key
        )

    def describe(self) -> str | None:
        """What is loaded, for the dock (None: nothing yet)."""
        if self.model is None:
            return None
        return f"{self.model.config.name} on {self.model.device}, {self.predictor.precision}"

    def frame_is_encoded(self, frame: int) -> bool:
        """True when the frame's image features are cached (a click decodes only)."""
        return self.state is not None and frame in self.state.features

    def encode(self, frame: int) -> bool:
        """Encode a frame's features ahead of a click (worker thread); False if cached."""
        return self.predictor.encode_frame(self.state, frame)

    def cache_info(self) -> FeatureCacheInfo:
        """What the feature cache holds: frames, bytes, and its budget."""
        if self.state is None:
            return FeatureCacheInfo(0, 0, 0)
        cache = self.state.features
        return FeatureCacheInfo(len(cache), cache.nbytes, cache.max_bytes)

    # ------------------------------------------------------------------ model
    def inject(self, model: Any, choice: ModelChoice, options: PredictorOptions) -> None:
        """Use a ready model (tests, scripts); ``choice.injected`` must be True."""
        self.model = model
        self._build_predictor(choice, options)

    def load(
        self, choice: ModelChoice, options: PredictorOptions
    ) -> Iterator[DownloadProgress | None]:
        """Load ``choice`` with ``options`` unless they are loaded; yields download progress
        (worker thread).

        Raises the engine's errors (``ModelNotFoundError``, ``DownloadError``,
        ``CheckpointMismatchError``...) with messages written for users.
        """
        if self.model is not None and self.model_key == engine_key(choice, options):
            return
        if choice.injected:
            if self.model is None:
                raise RuntimeError(f"the injected model {choice.name!r} is no longer available")
            self._build_predictor(choice, options)  # the given model, new predictor options
            return
        from napari_sam2.tracking.models import load_model
        from sam2_engine.weights import find_checkpoint

        checkpoint = choice.checkpoint
        if checkpoint is None and choice.allow_download and find_checkpoint(choice.name) is None:
            checkpoint = yield from _download(choice.name)
        # without a checkpoint the cache raises ModelNotFoundError, saying how to get one
        self.model = load_model(
            choice.name, options, checkpoint=checkpoint, warn=self.notes.append
        ).model
        self._build_predictor(choice, options)

    def _build_predictor(self, choice: ModelChoice, options: PredictorOptions) -> None:
        from sam2_engine import VideoPredictor

        self.predictor = VideoPredictor(self.model, **options.predictor_kwargs())
        self.model_key = engine_key(choice, options)
        self.close_state()

    # ------------------------------------------------------------------ state
    def ensure_state(self, image: ImageSpec) -> bool:
        """Open ``image`` in the predictor unless already open; True if the state is new."""
        if self.predictor is None:
            raise RuntimeError("no model is loaded")
        if self.state is not None and self.state_key == image.key:
            return False
        self.close_state()
        self.state = self.predictor.init_state(image.data, **image.frame_options())
        self.state_key = image.key
        return True

    def close_state(self) -> None:
        """Release the video state (its prefetch thread, spilled outputs, open files)."""
        if self.state is not None:
            self.state.close()
        self.state = self.state_key = None

    # ------------------------------------------------------------------ prompts
    def apply(self, frame: int, obj: int, prompt: FramePrompt | None, keep_object: bool):
        """Send one object's prompts on one frame to the engine (None removes them).

        ``keep_object`` says whether the object has prompts on other frames; an object left
        without any is removed from the engine (it could not be propagated otherwise).
        """
        predictor, state = self.predictor, self.state
        if prompt is None or prompt.is_empty:
            if obj in state.objects:
                if keep_object:
                    predictor.clear_all_prompts_in_frame(state, frame, obj, need_output=False)
                else:
                    predictor.remove_object(state, obj, need_output=False)
            return PromptOutcome(frame, obj, None, None)
        # other objects' masks are only needed when overlaps are resolved between objects
        all_objects = predictor.non_overlap_masks
        if prompt.mask is not None:
            _, ids, masks = predictor.add_new_mask(
                state, frame, obj, prompt.mask, all_objects=all_objects
            )
        else:
            _, ids, masks = predictor.add_new_points_or_box(
                state,
                frame,
                obj,
                points=prompt.points or None,
                labels=prompt.labels or None,
                box=prompt.box,
                clear_old_points=True,
                all_objects=all_objects,
            )
        mask = (masks[ids.index(obj), 0] > 0).cpu().numpy()
        return PromptOutcome(frame, obj, mask, self.score(obj, frame))

    # ------------------------------------------------------------------ propagation
    def propagate(
        self, passes: list[Pass], redetect: Redetect | None = None, lineage: Lineage | None = None
    ) -> Iterator[TrackedFrame | tuple[int, dict[int, np.ndarray]]]:
        """Track all objects over the passes (yields each frame once). With ``redetect``,
        new objects are looked for going forward: each search that finds some yields
        ``(frame, {id: mask})`` before the frame with them (see :mod:`..tracking.redetect`).
        With a ``lineage``, each object shows only on the frames its track lives."""
        from napari_sam2.lineage.live import live_objects
        from napari_sam2.tracking import propagate
        from napari_sam2.tracking.redetect import propagate_redetecting
        from sam2_engine.sinks import merge_to_labels

        if redetect is None:
            frames = propagate(self.predictor, self.state, passes)
        else:
            frames = propagate_redetecting(
                self.predictor, self.state, passes, redetect, self.state.frames
            )
        if lineage:
            frames = live_objects(frames, lineage)
        for frame, ids, masks in frames:
            if redetect is not None and redetect.found:
                yield redetect.found.pop(0)
            labels = merge_to_labels(ids, masks)
            scores = {obj: self.score(obj, frame) for obj in ids}
            yield TrackedFrame(frame, list(ids), labels, scores)

    def segment_everything(self, frame: int, options: dict[str, Any]) -> np.ndarray:
        """Segment everything on a frame of the open image: an (H, W) label image, ids 1..N
        (largest masks first; empty when nothing was found)."""
        from napari_sam2.seeding import labels_from_masks
        from sam2_engine import AutomaticMaskGenerator

        generator = AutomaticMaskGenerator(
            self.model, precision=self.predictor.precision, **options
        )
        source = self.state.frames
        records = generator.generate(source.read(frame), contrast_limits=source.contrast_limits)
        shape = (source.height, source.width)
        return labels_from_masks([r["segmentation"] for r in records], shape)

    def score(self, obj: int, frame: int) -> float | None:
        """The object-score logit of an object on a frame (> 0: judged present)."""
        tracked = self.state.objects.get(obj)
        if tracked is None:
            return None
        for store in (tracked.pending_cond, tracked.pending_non_cond, tracked.cond_outputs):
            out = store.get(frame)
            if out is not None:
                return float(out.object_score_logits.reshape(-1)[0])
        out = tracked.non_cond_outputs.pointer_output(frame)
        return None if out is None else float(out.object_score_logits.reshape(-1)[0])


def set_torch_threads(count: int) -> None:
    """Cap torch's CPU threads (leaving a core to napari keeps the GUI fluid)."""
    import torch

    if count > 0 and torch.get_num_threads() != count:
        torch.set_num_threads(count)


def engine_info() -> dict[str, Any]:
    """Model names with their cached files, and the devices torch can use (imports torch)."""
    from sam2_engine.devices import available_devices
    from sam2_engine.weights import checkpoint_status

    return {"models": checkpoint_status(), "devices": available_devices()}


class DownloadCancelled(Exception):
    """Raised inside the download thread when the job was cancelled."""


def _download(name: str) -> Iterator[DownloadProgress | None]:
    """Download a checkpoint in a helper thread, yielding progress; returns the path.

    A generator so that the worker can report progress and be cancelled: it yields at least
    every 0.1 s (None while no bytes came), and closing it makes the download thread stop at
    its next chunk (the engine then removes the partial file).
    """
    from sam2_engine.weights import download_checkpoint

    updates: queue.Queue = queue.Queue()
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def on_progress(done: int, total: int | None) -> None:
        if stop.is_set():
            raise DownloadCancelled(f"download of {name} cancelled")
        updates.put(DownloadProgress(name, done, total))

    def run() -> None:
        try:
            outcome["path"] = download_checkpoint(name, progress=False, on_progress=on_progress)
        except BaseException as exc:  # handed to the worker thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"download {name}", daemon=True)
    thread.start()
    try:
        while thread.is_alive() or not updates.empty():
            try:
                yield updates.get(timeout=0.1)
            except queue.Empty:
                yield None
    finally:
        stop.set()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return Path(outcome["path"])
