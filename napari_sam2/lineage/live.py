"""Objects outside their track's life are left out of tracked frames.

The engine tracks every object on every frame of a pass: a mother goes on after her division,
and a daughter prompted on its first frame is tracked backwards too. :func:`live_objects`
drops, from each tracked frame, the objects whose track (in the session's lineage) does not
live on it, so the labels show the mother up to the frame before the division and the
daughters from the division on. Objects the lineage does not list are kept on every frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from napari_sam2.lineage.model import Lineage

#: (frame index, obj_ids, (N, 1, H, W) mask logits), as the engine yields them.
TrackedFrame = tuple[int, Sequence[int], Any]


def live_objects(frames: Iterable[TrackedFrame], lineage: Lineage) -> Iterator[TrackedFrame]:
    """``frames`` with each object kept only on the frames its track lives (video frames)."""
    for frame_idx, obj_ids, masks in frames:
        keep = [
            i
            for i, obj in enumerate(obj_ids)
            if obj not in lineage or lineage[obj].alive(frame_idx)
        ]
        if len(keep) == len(obj_ids):
            yield frame_idx, obj_ids, masks
        else:
            yield frame_idx, [obj_ids[i] for i in keep], masks[keep]
