"""The controller's object list (Qt-free): add, remove, rename, recolour, pick the active
object; many objects at once (:mod:`napari_sam2._new_objects`); divisions and the lineage
tree (:mod:`napari_sam2._divisions`). A mixin of
:class:`~napari_sam2._controller.TrackingController`, whose state it edits."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_sam2 import _divisions
from napari_sam2._image_state import MAX_OBJECT_ID
from napari_sam2._label_updates import write_frame
from napari_sam2._new_objects import accept_found, objects_from_labels
from napari_sam2._palette import object_color
from napari_sam2._records import DivisionsFound, ObjectInfo, ObjectsFound, PluginInputError
from napari_sam2.lineage import DivisionEvent, LineageError


class ObjectEdits:
    """Object-list edits of the tracking controller (see the module docstring)."""

    def object(self, obj_id: int) -> ObjectInfo:
        for obj in self.objects:
            if obj.id == obj_id:
                return obj
        raise KeyError(f"no object with id {obj_id}")

    @property
    def object_ids(self) -> list[int]:
        return [obj.id for obj in self.objects]

    def color_of(self, obj_id: int) -> str:
        """An object's colour (grey for a value that is no object of the session)."""
        try:
            return self.object(int(obj_id)).color
        except KeyError:
            return "#b3b3b3"

    def add_object(self, name: str | None = None, color: str | None = None) -> ObjectInfo:
        """A new object with the next free id (label value), made active."""
        obj_id = max(self.object_ids, default=0) + 1
        if obj_id > MAX_OBJECT_ID:
            raise PluginInputError(f"at most {MAX_OBJECT_ID} objects can be tracked")
        self._record("add object", objects=True)
        info = ObjectInfo(obj_id, name or f"object {obj_id}", color or object_color(obj_id))
        self.objects.append(info)
        self.objects_changed.emit()
        self.set_active(obj_id)
        return info

    def remove_object(self, obj_id: int) -> None:
        """Remove an object, its prompts and its labels (all undoable); in a lineage, with
        its descendants.

        Raises:
            PluginInputError: one of only two daughters (undo the division instead).
        """
        self.object(obj_id)
        lineage = self.lineage
        if obj_id in lineage:
            try:
                lineage = lineage.remove(obj_id)
            except LineageError as err:
                raise PluginInputError(str(err)) from None
        entry = self._record(f"remove object {obj_id}", objects=True, prompts=True, scores=True)
        if lineage is not self.lineage:
            self.lineage = lineage
            self.lineage_changed.emit()
        self.objects = [obj for obj in self.objects if obj.id != obj_id]
        self.scores.pop(obj_id, None)
        self._book.remove_object(obj_id, entry.token)
        if self.labels is not None and self.image is not None:
            for frame in range(self.image.num_frames):
                old = self.labels.read(frame)
                if (old == obj_id).any():
                    write_frame(self, frame, np.where(old == obj_id, 0, old), entry.token)
        if self.active == obj_id:
            self.active = self.objects[-1].id if self.objects else None
            self.active_changed.emit(self.active)
        self.objects_changed.emit()
        self.prompts_changed.emit()
        self.scores_changed.emit()
        self.sync_requested.emit()

    def rename_object(self, obj_id: int, name: str) -> None:
        obj = self.object(obj_id)
        if name and name != obj.name:
            self._record(f"rename object {obj_id}", objects=True)
            obj.name = name
            self.objects_changed.emit()

    def recolor_object(self, obj_id: int, color: str) -> None:
        obj = self.object(obj_id)
        if color != obj.color:
            self._record(f"recolour object {obj_id}", objects=True)
            obj.color = color
            self.objects_changed.emit()

    def set_active(self, obj_id: int | None) -> None:
        if obj_id is not None:
            self.object(obj_id)
        if obj_id != self.active:
            self.active = obj_id
            self.active_changed.emit(obj_id)

    # ------------------------------------------------------------------ many at once
    def accept_found(self, found: ObjectsFound) -> str | None:
        """New objects a job found (see :func:`napari_sam2._new_objects.accept_found`)."""
        return accept_found(self, found)

    def objects_from_labels(self, labels: Any, frame: int, source: str = "labels") -> str:
        """One object per label (see :func:`napari_sam2._new_objects.objects_from_labels`)."""
        return objects_from_labels(self, labels, frame, source)

    # ------------------------------------------------------------------ divisions
    def mark_division(self, frame: int, obj: int | None = None) -> str:
        """Divide the active object (or ``obj``) on ``frame`` into its mask's parts there."""
        obj = self.active if obj is None else obj
        if obj is None:
            raise PluginInputError("pick the object that divides in the objects list first")
        return _divisions.mark_division(self, obj, frame)

    def accept_division(self, event: DivisionEvent) -> str:
        """Make a division found while propagating a real one."""
        return _divisions.accept_division(self, event)

    def dismiss_division(self, event: DivisionEvent) -> None:
        _divisions.dismiss_division(self, event)

    def found_divisions(self, found: DivisionsFound) -> str | None:
        """Divisions a propagation saw, listed for the user (None: another image's)."""
        if self.image is None or found.image_key != self.image.key:
            return None
        _divisions.found_divisions(self, found.events)
        events = ", ".join(f"object {e.parent} on frame {e.frame}" for e in found.events)
        return f"division found ({events}): accept or dismiss it in the Lineage section"

    def object_rows(self) -> list[tuple[int, int]]:
        """(object id, depth in the lineage tree), parents followed by their daughters."""
        return _divisions.object_rows(self)
