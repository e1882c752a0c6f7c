"""Lineage section: mark a division on the shown frame, review the divisions found while
propagating (accept or dismiss each), show the tracks as a napari Tracks layer, and export them
for the cell-tracking tools (Cell Tracking Challenge folder, GEFF)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from napari_sam2._controller import TrackingController
from napari_sam2._layers import TrackingLayers
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2._records import PluginInputError

#: Export formats: label in the box -> ``export_tracks`` format and a default folder name.
FORMATS = {"CTC": ("ctc", "01_RES"), "GEFF": ("geff", "tracks.geff")}


class LineageSection(QGroupBox):
    """Divisions and tracks of the session's objects.

    Signals:
        frame_clicked(int): go to a found division's frame.
    """

    frame_clicked = Signal(int)

    def __init__(
        self, controller: TrackingController, layers: TrackingLayers, parent: QWidget | None = None
    ) -> None:
        super().__init__("Lineage", parent)
        self.controller = controller
        self.layers = layers
        self.mark_button = QPushButton("Divide (this frame)")
        self.mark_button.setToolTip(
            "The selected object has divided on the shown frame: each connected part of its "
            "mask becomes a daughter, prompted there; it ends on the frame before"
        )
        self.find_check = QCheckBox("find divisions")
        self.find_check.setToolTip(
            "While propagating forward, list objects whose mask splits into parts (each of "
            "20+ pixels, for 3 frames), to accept or dismiss"
        )
        self.events = QListWidget()
        self.events.setToolTip("Double-click: go to the frame")
        self.accept_button = QPushButton("Accept")
        self.dismiss_button = QPushButton("Dismiss")
        self.tracks_button = QPushButton("Show tracks")
        self.tracks_button.setToolTip("The objects' centroids and divisions as a Tracks layer")
        self.format_box = QComboBox()
        self.format_box.addItems(list(FORMATS))
        self.format_box.setToolTip(
            "CTC: a Cell Tracking Challenge result folder; GEFF: a zarr group"
        )
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip(
            "A Cell Tracking Challenge result folder (mask000.tif..., res_track.txt) or a GEFF "
            "group, with the lineage"
        )
        grid = QGridLayout(self)
        grid.addWidget(self.mark_button, 0, 0, 1, 2)
        grid.addWidget(self.find_check, 0, 2)
        grid.addWidget(self.events, 1, 0, 1, 3)
        grid.addWidget(self.accept_button, 2, 1)
        grid.addWidget(self.dismiss_button, 2, 2)
        grid.addWidget(self.tracks_button, 3, 0)
        grid.addWidget(self.format_box, 3, 1)
        grid.addWidget(self.export_button, 3, 2)

        self.mark_button.clicked.connect(self.mark_division)
        self.find_check.toggled.connect(lambda on: controller.update_settings(find_divisions=on))
        self.accept_button.clicked.connect(self.accept_division)
        self.dismiss_button.clicked.connect(self.dismiss_division)
        self.events.itemDoubleClicked.connect(
            lambda item: self.frame_clicked.emit(item.data(Qt.ItemDataRole.UserRole).frame)
        )
        self.tracks_button.clicked.connect(self.show_tracks)
        self.export_button.clicked.connect(self._choose_export)
        connect_while_alive(self, controller.lineage_changed, self._show_events)
        connect_while_alive(self, controller.settings_changed, self._show_settings)
        self._show_events()
        self._show_settings()

    # ------------------------------------------------------------------ divisions
    def mark_division(self) -> None:
        try:
            said = self.controller.mark_division(self.layers.current_frame())
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")
            return
        show_info(f"SAM 2: {said}")

    def accept_division(self) -> None:
        event = self._selected_event()
        if event is None:
            return
        try:
            said = self.controller.accept_division(event)
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")
            return
        show_info(f"SAM 2: {said}")

    def dismiss_division(self) -> None:
        event = self._selected_event()
        if event is not None:
            self.controller.dismiss_division(event)

    def _selected_event(self) -> Any:
        item = self.events.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _show_events(self) -> None:
        self.events.clear()
        for event in self.controller.division_events:
            parts = len(event.areas)
            text = f"object {event.parent} splits in {parts} on frame {event.frame}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, event)
            self.events.addItem(item)
        found = bool(self.controller.division_events)
        for widget in (self.events, self.accept_button, self.dismiss_button):
            widget.setVisible(found)
        if found:
            self.events.setCurrentRow(0)
            rows = min(len(self.controller.division_events), 4)
            row = self.events.sizeHintForRow(0)
            self.events.setFixedHeight(rows * row + 2 * self.events.frameWidth() + 2)

    def _show_settings(self) -> None:
        self.find_check.blockSignals(True)
        self.find_check.setChecked(self.controller.settings.find_divisions)
        self.find_check.blockSignals(False)

    # ------------------------------------------------------------------ tracks
    def _label_stack(self) -> np.ndarray | None:
        """The (T, H, W) track-id stack along the tracked axis (None: nothing tracked)."""
        ctrl = self.controller
        if ctrl.image is None or ctrl.labels is None:
            show_warning("SAM 2: pick an image and track objects first")
            return None
        stack = np.stack([np.asarray(ctrl.labels.read(t)) for t in range(ctrl.image.num_frames)])
        if not stack.any():
            show_warning("SAM 2: there are no tracked labels yet")
            return None
        return stack

    def show_tracks(self) -> Any:
        """Add (or update) a Tracks layer of the objects' centroids and divisions."""
        from napari_sam2.lineage import tracks_layer_data

        stack = self._label_stack()
        if stack is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # frames without a mask: the export reports them
            data = tracks_layer_data(stack, self.controller.lineage)
        viewer = self.layers.viewer
        name = f"{self.controller.image.name} tracks"
        kwargs = {"graph": data.graph, "properties": data.properties}
        if name in viewer.layers:
            viewer.layers.remove(name)
        return viewer.add_tracks(data.data, name=name, **kwargs)

    def _choose_export(self) -> None:
        label = self.format_box.currentText()
        fmt, default = FORMATS[label]
        path, _ = QFileDialog.getSaveFileName(self, f"Export tracks ({label})", default)
        if path:
            self.export_tracks(path, fmt)

    def export_tracks(self, path: str, fmt: str, overwrite: bool = False) -> Path | None:
        """Write the tracks (``fmt``: "ctc" or "geff"); missing masks of live tracks are
        reported, never dropped silently."""
        from napari_sam2.lineage import TracksExportWarning, export_tracks

        stack = self._label_stack()
        if stack is None:
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TracksExportWarning)
            try:
                written = export_tracks(
                    stack, path, fmt, self.controller.lineage, overwrite=overwrite
                )
            except (OSError, ValueError) as exc:
                show_error(f"SAM 2: the tracks were not exported: {exc}")
                return None
        for warning in caught:
            if issubclass(warning.category, TracksExportWarning):
                show_warning(f"SAM 2: {warning.message}")
        show_info(f"SAM 2: tracks saved to {written}")
        return written
