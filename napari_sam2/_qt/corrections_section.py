"""Corrections section: painted labels as a prompt, the protected frames, and undo."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from napari_sam2._controller import TrackingController
from napari_sam2._qt.lifetime import connect_while_alive


class CorrectionsSection(QGroupBox):
    """Emits ``use_labels_requested`` (for the current frame); undo and unprotect go straight
    to the controller."""

    use_labels_requested = Signal()

    def __init__(self, controller: TrackingController, parent: QWidget | None = None) -> None:
        super().__init__("Corrections", parent)
        self.controller = controller
        self.use_labels_button = QPushButton("Use painted labels as prompt (this frame)")
        self.use_labels_button.setToolTip(
            "The active object's painted pixels on the current frame become its mask prompt; "
            "propagate again from here to carry the correction on"
        )
        self.protected_label = QLabel()
        self.protected_label.setWordWrap(True)
        self.unprotect_button = QPushButton("Unprotect")
        self.unprotect_button.setToolTip("Let propagation overwrite the painted frames again")
        self.undo_button = QPushButton("Undo")
        # a long label must not widen the dock: the text is cut to the width it is given
        self.undo_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        protected = QHBoxLayout()
        protected.addWidget(self.protected_label, 1)
        protected.addWidget(self.unprotect_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.use_labels_button)
        layout.addLayout(protected)
        layout.addWidget(self.undo_button)

        self.use_labels_button.clicked.connect(self.use_labels_requested.emit)
        self.unprotect_button.clicked.connect(self._unprotect)
        self.undo_button.clicked.connect(self._undo)
        connect_while_alive(self, controller.protected_changed, self._show_protected)
        connect_while_alive(self, controller.history_changed, self._show_undo)
        self._show_protected()
        self._show_undo()

    def _show_protected(self) -> None:
        frames = sorted(self.controller.protected)
        shown = ", ".join(map(str, frames[:12])) + (" ..." if len(frames) > 12 else "")
        self.protected_label.setText(f"painted (protected) frames: {shown or 'none'}")
        self.unprotect_button.setEnabled(bool(frames))

    def _show_undo(self) -> None:
        """The button names what it takes back, cut to the dock's width (in full as a tip)."""
        label = self.controller.undo_label
        self.undo_button.setEnabled(label is not None)
        text = "Undo" if label is None else f"Undo: {label}"
        width = max(self.undo_button.width() - 16, 60)
        metrics = self.undo_button.fontMetrics()
        self.undo_button.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))
        self.undo_button.setToolTip(text)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._show_undo()

    def _unprotect(self) -> None:
        self.controller.unprotect()

    def _undo(self) -> None:
        self.controller.undo()
