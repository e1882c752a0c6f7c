"""Model section: the eight presets (with whether each is on disk) or a local checkpoint file,
the device, the precision, and whether downloads are allowed.

The list of models and devices comes from the engine, which imports torch: it is filled by a
background worker when the dock opens, so opening the dock never waits for torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_warning
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from napari_sam2._engine_link import engine_info
from napari_sam2.tracking.models import ModelChoice
from sam2_engine.constants import DEFAULT_MODEL
from sam2_engine.options import PRECISIONS, PredictorOptions

LOCAL_FILE = "local file..."


class ModelSection(QGroupBox):
    """Shows and edits a :class:`~napari_sam2.tracking.models.ModelChoice` and the options
    saying where and how it runs (device, precision).

    Signals:
        choice_changed(ModelChoice): the user picked another model or file.
        options_changed(dict): the user picked another device or precision.
        load_requested(): the Load button.
    """

    choice_changed = Signal(object)
    options_changed = Signal(dict)
    load_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.model_box = QComboBox()
        self.model_box.addItem(f"{DEFAULT_MODEL} (checking...)", DEFAULT_MODEL)
        self.model_box.setToolTip("SAM 2 presets; a tick means the weights are on this computer")
        # long entries are cut in the closed box (the list shows them whole): the dock stays
        # within its width
        self.model_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_box.setMinimumContentsLength(16)
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        self.device_box = QComboBox()
        self.device_box.addItem("auto", "auto")
        self.precision_box = QComboBox()
        for name in PRECISIONS:
            self.precision_box.addItem(name, name)
        self.precision_box.setToolTip(
            "fp32: exact. bf16: faster on GPUs and on CPUs with AVX512-bf16, masks move "
            "slightly. fp16: GPUs only."
        )
        self.download_check = QCheckBox("allow download")
        self.download_check.setToolTip("Fetch missing weights from Meta's servers when loading")
        self.prepare_check = QCheckBox("prepare frames ahead")
        self.prepare_check.setChecked(True)
        self.prepare_check.setToolTip(
            "Encode the frame shown and its neighbours in the background, so that a click "
            "on them shows its mask at once; stops whenever you do something"
        )
        self.cache_label = QLabel("")
        self.cache_label.setWordWrap(True)
        self.cache_label.hide()
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the model now (it also loads at the first click)")
        self.status_label = QLabel("not loaded")
        self.status_label.setWordWrap(True)
        self._checkpoint: str | None = None
        self._last_preset = DEFAULT_MODEL
        self._injected: ModelChoice | None = None

        row = QHBoxLayout()
        row.addWidget(self.download_check, 1)
        row.addWidget(self.load_button)
        form = QFormLayout(self)
        form.addRow("model", self.model_box)
        form.addRow("", self.file_label)
        form.addRow("device", self.device_box)
        form.addRow("precision", self.precision_box)
        form.addRow("", row)
        form.addRow("", self.status_label)
        form.addRow("", self.prepare_check)
        form.addRow("", self.cache_label)
        self.file_label.hide()

        self.model_box.activated.connect(self._on_model)
        self.device_box.activated.connect(self._emit_options)
        self.precision_box.activated.connect(self._emit_options)
        self.download_check.toggled.connect(self._emit_choice)
        self.load_button.clicked.connect(self.load_requested.emit)
        self._info_worker = create_worker(engine_info, _ignore_errors=True)
        self._info_worker.returned.connect(self._on_engine_info)
        self._info_worker.errored.connect(self._on_engine_error)
        self._info_worker.start()

    # ------------------------------------------------------------------ state
    def choice(self) -> ModelChoice:
        if self._injected is not None and self.model_box.currentData() == self._injected.name:
            return self._injected
        return ModelChoice(
            name=self.model_box.currentData() or DEFAULT_MODEL,
            checkpoint=self._checkpoint,
            allow_download=self.download_check.isChecked(),
        )

    def options(self) -> dict[str, str]:
        """The device and precision shown."""
        return {
            "device": self.device_box.currentData() or "auto",
            "precision": self.precision_box.currentData() or "fp32",
        }

    def show_options(self, options: PredictorOptions) -> None:
        """Show options set elsewhere (a loaded session, an injected model's device)."""
        if self.device_box.findData(options.device) < 0:
            self.device_box.addItem(options.device, options.device)
        self.device_box.setCurrentIndex(self.device_box.findData(options.device))
        self.precision_box.setCurrentIndex(max(self.precision_box.findData(options.precision), 0))

    def show_choice(self, choice: ModelChoice) -> None:
        """Show a choice made elsewhere (an injected model, a loaded session)."""
        if choice.injected:
            self._injected = choice
        if self.model_box.findData(choice.name) < 0:
            label = f"{choice.name} (given)" if choice.injected else choice.name
            self.model_box.addItem(label, choice.name)
        self.model_box.setCurrentIndex(self.model_box.findData(choice.name))
        self._checkpoint = choice.checkpoint
        self._show_file()

    def show_loaded(self, text: str) -> None:
        self.status_label.setText(text)

    def show_cache(self, frames: int, nbytes: int, max_bytes: int) -> None:
        """How many frames a click can use at once, and the memory they take."""
        self.cache_label.setVisible(bool(max_bytes))
        self.cache_label.setText(
            f"ready for quick clicks: {frames} frame{'s' if frames != 1 else ''} "
            f"({nbytes / 2**20:.0f} of {max_bytes / 2**20:.0f} MiB)"
        )

    # ------------------------------------------------------------------ events
    def _on_engine_info(self, info: dict[str, Any]) -> None:
        current = self.model_box.currentData()
        self.model_box.clear()
        for entry in info["models"]:
            self.model_box.addItem(_entry_text(entry), entry.name)
            self.model_box.setItemData(
                self.model_box.count() - 1, _entry_tip(entry), Qt.ItemDataRole.ToolTipRole
            )
        if self._injected is not None:
            self.model_box.addItem(f"{self._injected.name} (given)", self._injected.name)
        self.model_box.addItem(LOCAL_FILE, LOCAL_FILE)
        index = self.model_box.findData(current)
        self.model_box.setCurrentIndex(max(index, 0))
        device = self.device_box.currentData()
        self.device_box.clear()
        for name in info["devices"]:
            self.device_box.addItem(name, name)
        self.device_box.setCurrentIndex(max(self.device_box.findData(device), 0))

    def _on_engine_error(self, exc: Exception) -> None:
        show_warning(f"SAM 2: cannot list the models ({type(exc).__name__}: {exc})")

    def _on_model(self) -> None:
        if self.model_box.currentData() == LOCAL_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "SAM 2 checkpoint (an official .pt file)", "", "Checkpoints (*.pt *.pth)"
            )
            self.use_checkpoint_file(path or None)
            return
        self._last_preset = self.model_box.currentData()
        self._checkpoint = None
        self._show_file()
        self._emit_choice()

    def use_checkpoint_file(self, path: str | None) -> None:
        """Use a local checkpoint for the preset that was selected before (None: cache)."""
        self.model_box.setCurrentIndex(max(self.model_box.findData(self._last_preset), 0))
        self._checkpoint = path
        self._show_file()
        self._emit_choice()

    def _show_file(self) -> None:
        """Name the local weights file, in the list entry too (not "not downloaded")."""
        if self._checkpoint:
            self.file_label.setText(f"weights: {Path(self._checkpoint).name} (for this preset)")
        self.file_label.setVisible(bool(self._checkpoint))
        index = self.model_box.currentIndex()
        name = self.model_box.currentData()
        if index >= 0 and name not in (None, LOCAL_FILE) and not self._is_injected(name):
            text = self.model_box.itemText(index).split(" ")[0]
            self.model_box.setItemText(index, f"{text} (local file)" if self._checkpoint else text)

    def _is_injected(self, name: str) -> bool:
        return self._injected is not None and name == self._injected.name

    def _emit_choice(self) -> None:
        self.choice_changed.emit(self.choice())

    def _emit_options(self) -> None:
        self.options_changed.emit(self.options())


def _entry_text(entry: Any) -> str:
    """A short list entry (the dock is narrow): the name and whether it is on disk."""
    return f"{entry.name} ✓" if entry.present else f"{entry.name} ({entry.state})"


def _entry_tip(entry: Any) -> str:
    if entry.present:
        return f"on disk: {entry.path}"
    detail = f" ({entry.detail})" if entry.detail else ""
    return f"{entry.state}{detail}: tick 'allow download' and press Load, or pick a local file"
