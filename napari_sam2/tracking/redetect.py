"""New objects entering the video: every N frames, segment everything and track what is new.

While a forward pass runs, every ``every`` frames (counted from the pass's start) the frame just
tracked is segmented with SAM 2's automatic mask generator; masks that overlap no tracked object
by more than ``iou`` become new objects, prompted by their mask on that frame, and the
propagation goes on from the next frame with them. Each object's first frame is recorded.

Only forward passes look for new objects; with ``direction="both"`` the backward pass runs
first, with the seeded objects alone, so that an object found later is never tracked back into
frames before it entered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_sam2.seeding import NEW_OBJECT_IOU, new_objects
from napari_sam2.tracking.plan import Pass

#: Generator settings of re-detection: a coarser grid than the generator's default (32), since
#: it runs again and again.
REDETECT_OPTIONS = {"points_per_side": 16}


@dataclass
class Redetect:
    """Re-detection settings and what it found.

    Attributes:
        every: segment everything every this many frames of a forward pass (>= 1).
        iou: a found mask overlapping a tracked object by more than this is that object.
        options: ``AutomaticMaskGenerator`` options.
        first_frames: object id -> the frame it was first prompted on (seeded or found).
        found: (frame, {new object id: (H, W) bool mask prompted there}) for each search that
            found something, in order; a consumer may empty it as it goes.
        first_id: the smallest id a new object may get (ids already in use elsewhere, e.g.
            objects without prompts in the dock, stay free).
    """

    every: int
    iou: float = NEW_OBJECT_IOU
    options: dict[str, Any] = field(default_factory=lambda: dict(REDETECT_OPTIONS))
    first_id: int = 1
    first_frames: dict[int, int] = field(default_factory=dict)
    found: list[tuple[int, dict[int, np.ndarray]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"redetect_every must be a whole number >= 1, got {self.every!r}")
        if not 0.0 <= self.iou < 1.0:
            raise ValueError(f"the re-detection IoU must be in [0, 1), got {self.iou!r}")
        check_generator_options(self.options)


def check_generator_options(options: dict[str, Any]) -> None:
    """Refuse names ``AutomaticMaskGenerator`` does not take, before any model loads."""
    import inspect

    from sam2_engine.automask.generator import AutomaticMaskGenerator

    known = set(inspect.signature(AutomaticMaskGenerator).parameters)
    known -= {"model", "precision", "output_mode"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown segment-everything option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )


def order_for_redetection(passes: list[Pass]) -> list[Pass]:
    """Backward passes first: objects found going forward must not be tracked back."""
    return [p for p in passes if p.reverse] + [p for p in passes if not p.reverse]


def propagate_redetecting(
    predictor: Any, state: Any, passes: list[Pass], redetect: Redetect, source: Any
) -> Iterator[tuple[int, list[int], Any]]:
    """Like :func:`napari_sam2.tracking.run.propagate`, adding new objects on forward passes
    every ``redetect.every`` frames (that frame is yielded again, with them)."""
    from sam2_engine import AutomaticMaskGenerator
    from sam2_engine.sinks import merge_to_labels

    generator = AutomaticMaskGenerator(
        predictor.model, precision=predictor.precision, **redetect.options
    )
    for obj_id, obj in state.objects.items():
        redetect.first_frames.setdefault(obj_id, min(set(obj.points) | set(obj.masks)))
    for p in order_for_redetection(passes):
        if p.reverse:
            yield from _frames(predictor, state, p.start, p.count, True, p.skip_first)
            continue
        last = p.start + p.count
        start, stop = p.start, min(p.start + redetect.every, last)
        skip_first = p.skip_first
        while True:  # chunks start..stop; new objects are looked for on each chunk's stop
            chunk = _frames(predictor, state, start, stop - start, False, skip_first)
            for frame, ids, masks in chunk:
                yield frame, ids, masks
            if stop >= last:
                break
            tracked = merge_to_labels(ids, masks)
            added = _add_new(predictor, state, generator, source, stop, tracked, redetect)
            yield added or (frame, ids, masks)  # that frame again, with any new objects
            start, stop, skip_first = stop + 1, min(stop + redetect.every, last), False


def detection_frames(passes: list[Pass], every: int) -> list[int]:
    """The frames segmented for new objects (each is yielded twice: tracked, then with what
    was found)."""
    frames = []
    for p in passes:
        if not p.reverse:
            frames += list(range(p.start + every, p.start + p.count, every))
    return frames


def _frames(
    predictor: Any, state: Any, start: int, count: int, reverse: bool, skip_first: bool
) -> Iterator[tuple[int, list[int], Any]]:
    frames = predictor.propagate_in_video(
        state, start_frame_idx=start, max_frame_num_to_track=count, reverse=reverse
    )
    for position, item in enumerate(frames):
        if not (skip_first and position == 0):
            yield item


def _add_new(
    predictor: Any,
    state: Any,
    generator: Any,
    source: Any,
    frame: int,
    tracked: np.ndarray,
    redetect: Redetect,
) -> tuple[int, list[int], Any] | None:
    """Segment ``frame``, prompt what is new; its updated masks (all objects), or None."""
    records = generator.generate(source.read(frame), contrast_limits=source.contrast_limits)
    if not records:
        return None
    from napari_sam2.seeding import labels_from_masks

    found = labels_from_masks([r["segmentation"] for r in records], tracked.shape)
    first = max(max(state.obj_ids, default=0) + 1, redetect.first_id)
    new = new_objects(found, tracked, first, redetect.iou)
    result = None
    for position, (obj, mask) in enumerate(new.items()):
        # every object's masks only once, with the last new object
        last = position == len(new) - 1
        result = predictor.add_new_mask(state, frame, obj, mask, all_objects=last)
        redetect.first_frames[obj] = frame
    if new:
        redetect.found.append((frame, new))
    return result
