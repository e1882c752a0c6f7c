"""Session section: save and load the session (JSON) and export the labels (TIFF)."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QPushButton, QWidget


class SessionSection(QGroupBox):
    """Asks for file names and emits ``save_requested(path)``, ``load_requested(path)`` and
    ``export_requested(path)``."""

    save_requested = Signal(str)
    load_requested = Signal(str)
    export_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Session and export", parent)
        self.save_button = QPushButton("Save session...")
        self.load_button = QPushButton("Load session...")
        self.export_button = QPushButton("Export labels...")
        self.save_button.setToolTip("Objects, prompts per frame, settings and model as JSON")
        self.export_button.setToolTip("The labels as an ImageJ-compatible TIFF")
        layout = QHBoxLayout(self)
        for button in (self.save_button, self.load_button, self.export_button):
            layout.addWidget(button)
        self.save_button.clicked.connect(self._save)
        self.load_button.clicked.connect(self._load)
        self.export_button.clicked.connect(self._export)

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save SAM 2 session", "session.json", "Sessions (*.json)"
        )
        if path:
            self.save_requested.emit(path)

    def _load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load SAM 2 session", "", "Sessions (*.json)")
        if path:
            self.load_requested.emit(path)

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export labels", "labels.tif", "TIFF (*.tif)")
        if path:
            self.export_requested.emit(path)
