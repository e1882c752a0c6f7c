"""How a result changes a frame of labels (pure numpy): what the user made stays.

- A prompt's result concerns one object: that object's pixels become its new mask; other
  labels are overwritten only where the new mask covers them (the object being edited wins).
- A propagated frame carries every tracked object: those objects are replaced; any other label
  (painted by hand, or an object with no prompts) stays wherever the tracked objects leave the
  pixel empty.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np


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
