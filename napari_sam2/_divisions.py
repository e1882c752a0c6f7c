"""Cell divisions in the dock (Qt-free): marked by hand on the shown frame, or found while
propagating and then accepted or dismissed one by one.

A division ends the parent on the frame before and starts its daughters on the frame: each
daughter is a new object prompted by its part of the parent's mask there; the parent's
labels from that frame on go to the daughters (shown at once), and propagating from that frame
tracks the daughters while the parent stays ended. One undo step takes it all back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from napari_sam2._label_updates import write_frame
from napari_sam2._palette import object_color
from napari_sam2._records import ObjectInfo, PluginInputError
from napari_sam2.lineage import DEFAULT_MIN_AREA, DivisionEvent, LineageError, divide_by_mask
from napari_sam2.lineage.model import Lineage
from napari_sam2.session import FramePrompt

if TYPE_CHECKING:
    from napari_sam2._controller import TrackingController


def mark_division(
    ctrl: TrackingController, obj: int, frame: int, min_area: int = DEFAULT_MIN_AREA
) -> str:
    """Divide ``obj`` on ``frame`` into the connected parts of its labels there.

    Raises:
        PluginInputError: no labels of the object there, fewer than two parts of
            ``min_area`` pixels, prompts of the object on later frames, a division the
            lineage refuses (the message says why).
    """
    mask = _object_mask(ctrl, obj, frame)
    lineage = _with_track(ctrl, obj, frame)
    try:
        divided, masks = divide_by_mask(
            lineage, obj, frame, mask, min_area=min_area, taken=ctrl.object_ids
        )
    except LineageError as err:
        raise PluginInputError(str(err)) from None
    return _apply(ctrl, obj, frame, divided, masks)


def accept_division(ctrl: TrackingController, event: DivisionEvent) -> str:
    """Make a division found while propagating a real one (as if marked by hand)."""
    lineage = _with_track(ctrl, event.parent, event.frame)
    first = lineage.next_id(ctrl.object_ids)
    daughters = list(range(first, first + len(event.areas)))
    try:
        divided = lineage.divide(event.parent, event.frame, daughters)
    except LineageError as err:
        raise PluginInputError(str(err)) from None
    masks = {d: event.parts == i for i, d in enumerate(daughters, start=1)}
    said = _apply(ctrl, event.parent, event.frame, divided, masks)
    _forget_event(ctrl, event)
    return said


def dismiss_division(ctrl: TrackingController, event: DivisionEvent) -> None:
    """Drop a found division from the list (nothing else changes)."""
    _forget_event(ctrl, event)


def found_divisions(ctrl: TrackingController, events: list[DivisionEvent]) -> None:
    """Divisions a propagation saw: listed for the user to accept or dismiss (a newer event
    of the same object on the same frame replaces the older)."""
    keys = {(e.parent, e.frame) for e in events}
    ctrl.division_events = [
        e for e in ctrl.division_events if (e.parent, e.frame) not in keys
    ] + list(events)
    ctrl.lineage_changed.emit()


def object_rows(ctrl: TrackingController) -> list[tuple[int, int]]:
    """(object id, depth in the lineage tree) in list order: each parent followed by its
    daughters, indented; objects outside the lineage at depth 0, in their order."""
    lineage, rows, seen = ctrl.lineage, [], set()

    def visit(obj: int, depth: int) -> None:
        if obj in seen:
            return
        seen.add(obj)
        rows.append((obj, depth))
        for daughter in lineage.daughters(obj) if obj in lineage else ():
            visit(daughter, depth + 1)

    known = set(ctrl.object_ids)
    for obj in ctrl.object_ids:
        parent = lineage[obj].parent if obj in lineage else None
        if parent is None or parent not in known:
            visit(obj, 0)
    for obj in ctrl.object_ids:  # anything left (a parent removed): at the top
        visit(obj, 0)
    return rows


def _object_mask(ctrl: TrackingController, obj: int, frame: int) -> np.ndarray:
    if ctrl.labels is None or ctrl.image is None:
        raise PluginInputError("pick an image first")
    if frame < 1:
        raise PluginInputError("a division starts daughters on a frame after the first one")
    mask = np.asarray(ctrl.labels.read(frame)) == obj
    if not mask.any():
        raise PluginInputError(
            f"object {obj} has no labels on frame {frame}: propagate first, or go to the "
            "frame where it has divided"
        )
    return mask


def _with_track(ctrl: TrackingController, obj: int, frame: int) -> Lineage:
    """The lineage, with ``obj`` as a track from its first labelled frame if not yet in it;
    refuses an object with prompts on ``frame`` or later (they would fight the division)."""
    later = sorted(p.frame for p in ctrl.prompts if p.object == obj and p.frame >= frame)
    if later:
        raise PluginInputError(
            f"object {obj} has prompts on frame(s) {later}, on or after the division on frame "
            f"{frame}: remove them first (its daughters take over from there)"
        )
    if obj in ctrl.lineage:
        return ctrl.lineage
    start = next(
        (t for t in range(frame) if (np.asarray(ctrl.labels.read(t)) == obj).any()), frame - 1
    )
    return ctrl.lineage.add(obj, start)


def _apply(
    ctrl: TrackingController,
    parent: int,
    frame: int,
    lineage: Lineage,
    masks: dict[int, np.ndarray],
) -> str:
    entry = ctrl._record(
        f"divide object {parent} on frame {frame}", objects=True, prompts=True, scores=True
    )
    ctrl.lineage = lineage
    ctrl.objects += [ObjectInfo(d, f"object {d}", object_color(d)) for d in masks]
    ctrl._book.edit(
        {(frame, d): FramePrompt(frame, d, mask=mask) for d, mask in masks.items()}, entry.token
    )
    for t in range(frame, ctrl.image.num_frames):  # the parent ends: its labels go
        old = np.asarray(ctrl.labels.read(t))
        if t == frame or (old == parent).any():
            new = np.where(old == parent, 0, old)
            if t == frame:
                for daughter, mask in masks.items():
                    new[mask] = daughter
            write_frame(ctrl, t, new.astype(old.dtype, copy=False), entry.token)
    ctrl.lineage_changed.emit()
    ctrl.objects_changed.emit()
    ctrl.prompts_changed.emit()
    ctrl.sync_requested.emit()
    daughters = sorted(masks)
    return (
        f"object {parent} divides on frame {frame} into {', '.join(map(str, daughters))}; "
        f"propagate from frame {frame} to track the daughters"
    )


def _forget_event(ctrl: TrackingController, event: DivisionEvent) -> None:
    ctrl.division_events = [e for e in ctrl.division_events if e is not event]
    ctrl.lineage_changed.emit()
