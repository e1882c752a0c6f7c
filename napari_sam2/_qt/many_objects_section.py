"""Many objects section: objects from a label layer, segment everything on the shown frame,
track them all, and pick up objects entering while propagating. Engine work goes to the dock's
job runner (``job_requested``)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_sam2._controller import TrackingController
from napari_sam2._layers import TrackingLayers
from napari_sam2._layers.labels import OUTPUT_MARK, labels_frame
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2._qt.workers import Job
from napari_sam2._records import PluginInputError
from napari_sam2.tracking.redetect import REDETECT_OPTIONS

if TYPE_CHECKING:
    import napari

#: Default grid of "segment all" (the official generator's default).
GRID = 32


class ManyObjectsSection(QGroupBox):
    """Buttons that make many objects at once.

    Signals:
        job_requested(Job): an engine job to run (segment everything); after "Track all",
            :meth:`track_after` says whether to propagate once it has finished.
    """

    job_requested = Signal(object)

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        controller: TrackingController,
        layers: TrackingLayers,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Many objects", parent)
        self.viewer = viewer
        self.controller = controller
        self.layers = layers
        self._track_after: int | None = None  # "Track all": the object count before
        self.layer_box = QComboBox()
        self.layer_box.setToolTip(
            "A label image (Cellpose, StarDist, painted): one frame, or the image's shape"
        )
        self.from_labels_button = QPushButton("From labels")
        self.from_labels_button.setToolTip(
            "Each label on the shown frame becomes an object with that id, its mask the prompt"
        )
        self.segment_button = QPushButton("Segment all")
        self.segment_button.setToolTip(
            "Segment everything on the shown frame: one object per mask, ready to track"
        )
        self.track_all_button = QPushButton("Track all")
        self.track_all_button.setToolTip(
            "Segment everything on the shown frame, then propagate every object found"
        )
        self.grid_spin = QSpinBox()
        self.grid_spin.setRange(4, 128)
        self.grid_spin.setValue(GRID)
        self.grid_spin.setPrefix("grid ")
        self.grid_spin.setToolTip(
            "Points per side of the prompt grid: more finds smaller objects, slower"
        )
        self.redetect_check = QCheckBox("new objects every")
        self.redetect_check.setToolTip(
            "While propagating forward, segment everything every N frames and track what is "
            f"new (grid {REDETECT_OPTIONS['points_per_side']}; slow)"
        )
        self.redetect_spin = QSpinBox()
        self.redetect_spin.setRange(1, 999)
        self.redetect_spin.setValue(10)
        self.redetect_spin.setSuffix(" frames")
        for spin, width in ((self.grid_spin, 96), (self.redetect_spin, 116)):
            spin.setMinimumWidth(width)  # napari's style asks room for 5 digits; 3 do
        self.redetect_spin.setToolTip(self.redetect_check.toolTip())

        column = QVBoxLayout(self)
        grid = QGridLayout()
        grid.addWidget(self.layer_box, 0, 0, 1, 2)
        grid.addWidget(self.from_labels_button, 0, 2)
        grid.addWidget(self.grid_spin, 1, 0)
        grid.addWidget(self.segment_button, 1, 1)
        grid.addWidget(self.track_all_button, 1, 2)
        every = QHBoxLayout()
        every.addWidget(self.redetect_check)
        every.addWidget(self.redetect_spin)
        every.addStretch(1)
        column.addLayout(grid)
        column.addLayout(every)

        self.from_labels_button.clicked.connect(self.objects_from_labels)
        self.segment_button.clicked.connect(lambda: self.segment_all(then_track=False))
        self.track_all_button.clicked.connect(lambda: self.segment_all(then_track=True))
        self.redetect_check.toggled.connect(self._on_redetect)
        self.redetect_spin.valueChanged.connect(self._on_redetect)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self.refresh_layers)
        connect_while_alive(self, controller.image_changed, self.refresh_layers)
        connect_while_alive(self, controller.settings_changed, self._show_settings)
        self.refresh_layers()
        self._show_settings()

    def refresh_layers(self, event: Any = None) -> None:
        """List the Labels layers that fit the tracked image (one frame or its shape), but
        the dock's own output; a layer just added is picked."""
        spec = self.controller.image
        shapes = set() if spec is None else {tuple(spec.frame_shape), tuple(spec.labels_shape)}
        names = [
            layer.name
            for layer in self.viewer.layers
            if isinstance(layer, Labels)
            and tuple(layer.data.shape) in shapes
            and layer is not self.layers.labels
            and not layer.metadata.get(OUTPUT_MARK)
        ]
        added = getattr(getattr(event, "value", None), "name", None)
        current = added if added in names else self.layer_box.currentText()
        self.layer_box.clear()
        self.layer_box.addItems(names)
        if current in names:
            self.layer_box.setCurrentText(current)
        self.from_labels_button.setEnabled(bool(names))

    def objects_from_labels(self) -> None:
        """Each label of the chosen Labels layer on the shown frame becomes an object."""
        name = self.layer_box.currentText()
        if self.controller.image is None or name not in self.viewer.layers:
            return
        frame = self.layers.current_frame()
        try:
            self.layers.ensure_layers()
            labels = labels_frame(self.viewer.layers[name], self.controller.image, frame)
            said = self.controller.objects_from_labels(labels, frame, f"'{name}'")
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")
            return
        show_info(f"SAM 2: {said}")

    def segment_all(self, then_track: bool = False) -> None:
        """Segment everything on the shown frame into new objects (then propagate them)."""
        if self.controller.image is None:
            show_warning("SAM 2: pick an image layer first")
            return
        self.layers.ensure_layers()
        frame = self.layers.current_frame()
        options = {"points_per_side": self.grid_spin.value()}
        plan = partial(self.controller.segment_plan, frame, options)
        self._track_after = len(self.controller.objects) if then_track else None
        self.job_requested.emit(Job("segment", plan, f"segmenting everything on frame {frame}"))

    def track_after(self, completed: bool) -> bool:
        """A segment job ended: True when it was "Track all" and found objects (then the
        dock propagates them)."""
        before, self._track_after = self._track_after, None
        return completed and before is not None and len(self.controller.objects) > before

    def _on_redetect(self, *_: object) -> None:
        every = self.redetect_spin.value() if self.redetect_check.isChecked() else None
        self.controller.update_settings(redetect_every=every)

    def _show_settings(self) -> None:
        every = self.controller.settings.redetect_every
        for widget in (self.redetect_check, self.redetect_spin):
            widget.blockSignals(True)
        self.redetect_check.setChecked(every is not None)
        if every is not None:
            self.redetect_spin.setValue(every)
        for widget in (self.redetect_check, self.redetect_spin):
            widget.blockSignals(False)
