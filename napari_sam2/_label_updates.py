"""How a result changes a frame of labels: what the user made stays.

- A prompt's result concerns one object: that object's pixels become its new mask; other
  labels are overwritten only where the new mask covers them (the object being edited wins).
- A propagated frame carries every tracked object: those objects are replaced; any other label
  (painted by hand, or an object with no prompts) stays wherever the tracked objects leave the
  pixel empty.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from napari_sam2._controller import TrackingController
    from napari_sam2._records import FrameResult


def with_object_mask(old: np.ndarray, obj: int, mask: np.ndarray | None) -> np.ndarray:
    """``old`` with object ``obj`` redrawn as ``mask`` (None: the object removed)."""
    new = np.where(old == obj, 0, old)
    if mask is not None:
        new[mask] = obj
    return new


def with_tracked_labels(
    old: np.ndarray, tracked: np.ndarray, tracked_ids: Collection[int], known: Collection[int]
) -> np.ndarray:
    """``old`` with the objects ``tracked_ids`` replaced by the merged ``tracked`` labels.

    Objects no longer ``known`` (removed while the job ran) are left out.
    """
    new = tracked.astype(old.dtype, copy=True)
    gone = [obj for obj in tracked_ids if obj not in known]
    if gone:
        new[np.isin(new, gone)] = 0
    keep = (new == 0) & ~np.isin(old, list(tracked_ids))
    new[keep] = old[keep]
    return new


def accept_result(ctrl: TrackingController, result: FrameResult) -> bool:
    """Write a job's result into the controller's label store and score table, recording the
    frames it replaces in its undo entry. Returns whether scores changed."""
    known = set(ctrl.object_ids)
    changed_scores = False
    for obj, score in result.scores.items():
        if obj in known and score is not None:
            ctrl.scores.setdefault(obj, {})[result.frame] = score
            changed_scores = True
    if ctrl.labels is None or not result.write:
        return changed_scores
    if result.kind == "prompt":
        if result.obj in known:
            old = np.asarray(ctrl.labels.read(result.frame))
            new = with_object_mask(old, result.obj, result.mask)
            write_frame(ctrl, result.frame, new, result.token)
    elif result.frame in ctrl.protected and not result.overwrite:
        ctrl.skipped_protected.append(result.frame)
    else:
        old = np.asarray(ctrl.labels.read(result.frame))
        new = with_tracked_labels(old, result.labels, result.obj_ids, known)
        write_frame(ctrl, result.frame, new, result.token)
    return changed_scores


def write_frame(ctrl: TrackingController, frame: int, new: np.ndarray, token: int | None) -> None:
    """Replace a frame of labels, keeping the old one in the undo entry ``token`` names."""
    old = np.asarray(ctrl.labels.read(frame))
    if np.array_equal(old, new):
        return
    entry = ctrl.history.find(token)
    if entry is not None and frame not in entry.frames:
        entry.frames[frame] = old.copy()
    ctrl.labels.write(frame, new)
