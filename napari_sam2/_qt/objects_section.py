"""Objects section: add, remove, rename (double-click), recolour and pick the active object.

Each row shows the object's colour, its id (== its label value) and its name; daughters of a
division follow their parent, marked and indented.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QColorDialog,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_sam2._controller import TrackingController
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2.lineage import Lineage

#: Marks a daughter in the list, under its parent.
TREE_MARK = "└"
#: The object list's height in pixels: (most, least).
LIST_HEIGHT = (150, 40)


class ObjectsSection(QGroupBox):
    """A list of the controller's objects; the selected row is the active object.

    Signals:
        added(): the user added an object (the dock then arms the clicks).
    """

    added = Signal()

    def __init__(self, controller: TrackingController, parent: QWidget | None = None) -> None:
        super().__init__("Objects (id = label value)", parent)
        self.controller = controller
        self.list = QListWidget()
        self.list.setMaximumHeight(LIST_HEIGHT[0])
        self.list.setToolTip("Double-click a name to rename the object")
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.color_button = QPushButton("Colour...")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.color_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)

        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.color_button.clicked.connect(self._recolor)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_renamed)
        connect_while_alive(self, controller.objects_changed, self._refresh)
        connect_while_alive(self, controller.lineage_changed, self._refresh)
        connect_while_alive(self, controller.active_changed, self._show_active)
        self._refresh()

    def _refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        lineage = self.controller.lineage
        for obj_id, depth in self.controller.object_rows():
            obj = self.controller.object(obj_id)
            item = QListWidgetItem(_swatch(obj.color), obj.name)
            item.setData(Qt.ItemDataRole.UserRole, obj.id)
            item.setToolTip(f"label value {obj.id}{_life(lineage, obj.id)}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if depth:  # a daughter: under its parent, indented
                item.setText(f"{'    ' * (depth - 1)}{TREE_MARK} {obj.name}")
        self.list.blockSignals(False)
        self._fit_rows()
        self._show_active(self.controller.active)
        has_objects = bool(self.controller.objects)
        self.remove_button.setEnabled(has_objects)
        self.color_button.setEnabled(has_objects)

    def _fit_rows(self) -> None:
        """As tall as its rows (2 to 8 shown; more scroll), so few objects take little room."""
        row = self.list.sizeHintForRow(0) if self.list.count() else 18
        rows = min(max(self.list.count(), 2), 8)
        height = min(max(rows * row + 2 * self.list.frameWidth(), LIST_HEIGHT[1]), LIST_HEIGHT[0])
        self.list.setFixedHeight(height)

    def _show_active(self, obj_id: int | None) -> None:
        self.list.blockSignals(True)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == obj_id:
                self.list.setCurrentRow(row)
        self.list.blockSignals(False)

    def _add(self) -> None:
        self.controller.add_object()
        self.added.emit()

    def _remove(self) -> None:
        if self.controller.active is not None:
            self.controller.remove_object(self.controller.active)

    def _recolor(self) -> None:
        obj_id = self.controller.active
        if obj_id is None:
            return
        color = QColorDialog.getColor(QColor(self.controller.object(obj_id).color), self)
        if color.isValid():
            self.controller.recolor_object(obj_id, color.name())

    def _on_current(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.controller.set_active(item.data(Qt.ItemDataRole.UserRole))

    def _on_renamed(self, item: QListWidgetItem) -> None:
        name = item.text().strip().removeprefix(TREE_MARK).strip()  # a daughter's mark
        self.controller.rename_object(item.data(Qt.ItemDataRole.UserRole), name)


def _life(lineage: Lineage, obj_id: int) -> str:
    """``", frames 3-11, daughter of 2"`` for a track of the lineage."""
    if obj_id not in lineage:
        return ""
    track = lineage[obj_id]
    end = "" if track.end is None else str(track.end)
    parent = "" if track.parent is None else f", daughter of {track.parent}"
    return f", frames {track.start}-{end}{parent}"


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)
