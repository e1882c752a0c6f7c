"""Session section: save and load the session (JSON) and export the labels (TIFF)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QPushButton, QWidget

#: What a file is called after the image: (kind -> suffix)
SUFFIXES = {"session": ".session.json", "labels": "_labels.tif"}


def suggested_path(
    image_name: str | None, image_path: str | None, last_folder: Path | None, kind: str
) -> str:
    """Where a dialog starts: beside the image's file (else the folder used last, else the home
    folder), named after the image (``cells.session.json``, ``cells_labels.tif``)."""
    if image_path:
        folder, stem = Path(image_path).parent, Path(image_path).stem
    else:
        folder, stem = last_folder or Path.home(), image_name or "sam2"
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("_") or "sam2"
    return str(folder / f"{stem}{SUFFIXES[kind]}")


class SessionSection(QGroupBox):
    """Asks for file names and emits ``save_requested(path)``, ``load_requested(path)`` and
    ``export_requested(path)``. The dialogs start at :attr:`suggest` ``(kind)``."""

    save_requested = Signal(str)
    load_requested = Signal(str)
    export_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Session", parent)
        self.save_button = QPushButton("Save...")
        self.load_button = QPushButton("Load...")
        self.export_button = QPushButton("Export labels...")
        self.load_button.setToolTip("Objects, prompts, painted frames and settings from JSON")
        self.save_button.setToolTip(
            "Objects, prompts per frame, painted frames, settings and model as JSON"
        )
        self.export_button.setToolTip("The labels as an ImageJ-compatible TIFF")
        layout = QHBoxLayout(self)
        for button in (self.save_button, self.load_button, self.export_button):
            layout.addWidget(button)
        self.suggest: Callable[[str], str] = lambda kind: SUFFIXES[kind].lstrip("._")
        self.save_button.clicked.connect(self._save)
        self.load_button.clicked.connect(self._load)
        self.export_button.clicked.connect(self._export)

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save SAM 2 session", self.suggest("session"), "Sessions (*.json)"
        )
        if path:
            self.save_requested.emit(path)

    def _load(self) -> None:
        start = str(Path(self.suggest("session")).parent)
        path, _ = QFileDialog.getOpenFileName(
            self, "Load SAM 2 session", start, "Sessions (*.json)"
        )
        if path:
            self.load_requested.emit(path)

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export labels", self.suggest("labels"), "TIFF (*.tif)"
        )
        if path:
            self.export_requested.emit(path)
