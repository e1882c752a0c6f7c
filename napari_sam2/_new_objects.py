"""Many objects at once in the dock (Qt-free): from a label image, from segmenting everything
on a frame, or found entering the video while propagating.

Each is one undoable step: the objects are added (their ids and colours), each gets its mask
as its prompt on the frame, and the frame's labels show them at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_sam2._image_state import MAX_OBJECT_ID
from napari_sam2._label_updates import write_frame
from napari_sam2._palette import object_color
from napari_sam2._records import ObjectInfo, ObjectsFound, PluginInputError
from napari_sam2.seeding import prompts_from_labels
from napari_sam2.session import FramePrompt, SessionError

if TYPE_CHECKING:
    from napari_sam2._controller import TrackingController


def objects_from_labels(
    ctrl: TrackingController, labels: Any, frame: int, source: str = "labels"
) -> str:
    """One object per label of an (H, W) label image, with its mask as prompt on ``frame``.

    A label whose value is already an object replaces that object's prompt on the frame;
    other values become new objects with those ids. Returns what was done, for the user.

    Raises:
        PluginInputError: no image, a label image of another size, no label, ids too large.
    """
    if ctrl.image is None or ctrl.labels is None:
        raise PluginInputError("pick an image first")
    labels = np.asarray(labels)
    if labels.shape != tuple(ctrl.image.frame_shape):
        raise PluginInputError(
            f"{source} has frames of {_size(labels.shape)}, the image "
            f"{_size(ctrl.image.frame_shape)}: pick a label layer made for this image"
        )
    skipped: list[str] = []
    try:
        prompts = prompts_from_labels(labels, frame, warn=skipped.append)
    except SessionError as err:
        raise PluginInputError(f"{source}: {err}") from None
    masks = {obj: spec[frame]["mask"] for obj, spec in prompts.items()}
    known = set(ctrl.object_ids)
    updated = sorted(known & set(masks))
    _add(ctrl, frame, masks, f"objects from {source} on frame {frame}", sent=False)
    added = len(masks) - len(updated)
    said = f"{added} new objects from {source} on frame {frame}"
    if updated:
        said += f"; objects {_listed(updated)} got their mask there as prompt"
    return "; ".join([said, *skipped])


def accept_found(ctrl: TrackingController, found: ObjectsFound) -> str | None:
    """Objects a job found: segment everything (new ids after the existing ones, prompts to
    send) or objects entering the video (the engine's ids, already tracked). Returns what was
    done, for the user (None: the image changed since the job started)."""
    if ctrl.image is None or found.image_key != ctrl.image.key:
        return None
    if not found.masks:
        return f"nothing found on frame {found.frame}"
    if found.sent:
        masks = found.masks
        label = f"{len(masks)} objects found entering on frame {found.frame}"
    else:
        first = max(ctrl.object_ids, default=0) + 1
        masks = {first + i: mask for i, mask in enumerate(found.masks.values())}
        label = f"segment all on frame {found.frame}"
    _add(ctrl, found.frame, masks, label, sent=found.sent)
    ids = sorted(masks)
    return f"{len(ids)} objects ({_span(ids)}) on frame {found.frame}" + (
        ", found entering and tracked from there" if found.sent else ", ready to track"
    )


def _add(
    ctrl: TrackingController, frame: int, masks: dict[int, np.ndarray], label: str, *, sent: bool
) -> None:
    if masks and max(masks) > MAX_OBJECT_ID:
        raise PluginInputError(
            f"object ids go up to {MAX_OBJECT_ID}; the label image has {max(masks)}"
        )
    entry = ctrl._record(label, objects=True, prompts=True, scores=True)
    known = set(ctrl.object_ids)
    ctrl.objects += [
        ObjectInfo(obj, f"object {obj}", object_color(obj)) for obj in masks if obj not in known
    ]
    changes = {(frame, obj): FramePrompt(frame, obj, mask=mask) for obj, mask in masks.items()}
    if sent:
        ctrl._book.add_sent(changes)
    else:
        ctrl._book.edit(changes, entry.token)
        old = np.asarray(ctrl.labels.read(frame))
        new = np.where(np.isin(old, list(masks)), 0, old)
        for obj, mask in masks.items():
            new[mask] = obj
        write_frame(ctrl, frame, new.astype(old.dtype, copy=False), entry.token)
    if ctrl.active is None and masks:
        ctrl.active = min(masks)
        ctrl.active_changed.emit(ctrl.active)
    ctrl.objects_changed.emit()
    ctrl.prompts_changed.emit()
    if not sent:
        ctrl.sync_requested.emit()


def _size(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def _span(ids: list[int]) -> str:
    return f"id {ids[0]}" if len(ids) == 1 else f"ids {ids[0]}-{ids[-1]}"


def _listed(values: list[int], limit: int = 8) -> str:
    text = ", ".join(map(str, values[:limit]))
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")
