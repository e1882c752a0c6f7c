"""Propagate section: direction, frame range, overwrite of painted frames, Propagate / Cancel,
a progress bar with frames and time left, and the busy line (what the engine is doing)."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_sam2._controller import TrackingController
from napari_sam2._qt.lifetime import connect_while_alive
from sam2_engine.constants import DIRECTIONS


class PropagateSection(QGroupBox):
    """Edits the controller's propagation settings; emits ``propagate_requested`` and
    ``cancel_requested``."""

    propagate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, controller: TrackingController, parent: QWidget | None = None) -> None:
        super().__init__("Propagate from the current frame", parent)
        self.controller = controller
        self.direction_box = QComboBox()
        self.direction_box.addItems(DIRECTIONS)
        self.first_spin = QSpinBox()
        self.last_spin = QSpinBox()
        self.overwrite_check = QCheckBox("overwrite painted")
        self.overwrite_check.setToolTip("Frames painted by hand are kept unless this is ticked")
        self.propagate_button = QPushButton("Propagate")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate until a propagation counts frames
        self.busy_bar.setTextVisible(True)
        self.busy_bar.setFormat("")
        self.busy_bar.hide()
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        #: frames done and in all of the last propagation
        self.frames = (0, 0)

        options = QHBoxLayout()
        options.addWidget(self.direction_box)
        options.addWidget(self.overwrite_check, 1)
        frames = QHBoxLayout()
        frames.addWidget(QLabel("frames"))
        frames.addWidget(self.first_spin, 1)
        frames.addWidget(QLabel("to"))
        frames.addWidget(self.last_spin, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.propagate_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(options)
        layout.addLayout(frames)
        layout.addLayout(buttons)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.status_label)

        self.direction_box.currentTextChanged.connect(self._on_edit)
        self.first_spin.valueChanged.connect(self._on_edit)
        self.last_spin.valueChanged.connect(self._on_edit)
        self.overwrite_check.toggled.connect(self._on_edit)
        self.propagate_button.clicked.connect(self.propagate_requested.emit)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        connect_while_alive(self, controller.settings_changed, self._show_settings)
        connect_while_alive(self, controller.image_changed, self._show_settings)
        self._show_settings()

    def set_busy(self, busy: bool) -> None:
        """While a job runs: the bar shows, Propagate waits, Cancel is offered."""
        self.busy_bar.setVisible(busy)
        if busy:
            self.busy_bar.setRange(0, 0)
            self.busy_bar.setFormat("")
            self.frames = (0, 0)
        self.cancel_button.setEnabled(busy)
        self._show_settings()

    def show_progress(self, done: int, total: int, seconds_left: float | None) -> None:
        """A propagation's frames done of all, and the time left."""
        self.frames = (done, total)
        self.busy_bar.setRange(0, max(total, 1))
        self.busy_bar.setValue(done)
        left = "" if seconds_left is None else f", about {duration_text(seconds_left)} left"
        self.busy_bar.setFormat(f"{done} of {total} frames{left}")

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _show_settings(self) -> None:
        settings, image = self.controller.settings, self.controller.image
        last_frame = 0 if image is None else image.num_frames - 1
        widgets = (self.direction_box, self.first_spin, self.last_spin, self.overwrite_check)
        for widget in widgets:
            widget.blockSignals(True)
        self.direction_box.setCurrentText(settings.direction)
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(0, last_frame)
        self.first_spin.setValue(settings.first_frame)
        last = settings.last_frame
        self.last_spin.setValue(last_frame if last is None else last)
        self.overwrite_check.setChecked(settings.overwrite_protected)
        for widget in widgets:
            widget.blockSignals(False)
        single = image is None or image.axis is None
        busy = self.cancel_button.isEnabled()
        self.propagate_button.setEnabled(not single and not busy)
        self.propagate_button.setToolTip(
            "a single frame has nothing to propagate to"
            if single
            else "wait for the running job, or cancel it"
            if busy
            else ""
        )

    def _on_edit(self) -> None:
        self.controller.update_settings(
            direction=self.direction_box.currentText(),
            first_frame=self.first_spin.value(),
            last_frame=self.last_spin.value(),
            overwrite_protected=self.overwrite_check.isChecked(),
        )


def duration_text(seconds: float) -> str:
    """``"45 s"``, ``"3 min"``, ``"1 h 05 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
