"""Measure tab: area, centroid and mean intensity per object per frame, as a table (also the
Labels layer's features for the current frame), a plot over time and a CSV export.

Measuring reads the labels and the image one frame at a time in a worker thread
(``napari_sam2._measurements``); the table and plot are the colleague-built
:class:`~napari_sam2._qt.measurements_widget.MeasurementsWidget`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QVBoxLayout, QWidget

from napari_sam2._controller import TrackingController
from napari_sam2._layers import TrackingLayers
from napari_sam2._measurements import Table, concat_tables, features_for_frame, measure_frame
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2._qt.measurements_widget import MeasurementsWidget


class MeasureSection(QWidget):
    """Runs measurements and shows them; emits ``frame_clicked(frame)``."""

    frame_clicked = Signal(int)

    def __init__(
        self, controller: TrackingController, layers: TrackingLayers, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.layers = layers
        self.table: Table | None = None
        self.worker: Any = None
        self.view = MeasurementsWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.view.measure_requested.connect(self.measure)
        self.view.frame_clicked.connect(self.frame_clicked.emit)
        connect_while_alive(self, controller.objects_changed, self._on_objects)

    def measure(self) -> None:
        """Measure every object on every frame (in a worker)."""
        ctrl = self.controller
        if ctrl.image is None or ctrl.labels is None:
            show_warning("SAM 2: pick an image and track objects before measuring")
            return
        if self.worker is not None:
            return
        scale = None
        if self.layers.image_layer is not None:
            scale = tuple(self.layers.image_layer.scale)[-2:]
        self.view.measure_button.setEnabled(False)
        tracked = {obj: frozenset(ctrl.scores.get(obj, {})) for obj in ctrl.object_ids}
        self.worker = create_worker(
            _measure, ctrl.image, ctrl.labels, tracked, scale, _ignore_errors=True
        )
        self.worker.returned.connect(self._on_table)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.start()

    def set_current_frame(self, frame: int) -> None:
        """Follow the viewer: plot line, table filter and the Labels layer's features."""
        self.view.set_current_frame(frame)
        labels = self.layers.labels
        if self.table is not None and labels is not None and len(self.table["frame"]):
            labels.features = features_for_frame(self.table, frame)

    def _on_table(self, table: Table) -> None:
        if not table:
            show_warning("SAM 2: nothing to measure yet: track or paint an object first")
            return
        self.table = table
        ctrl = self.controller
        self.view.set_table(
            table,
            colors={o.id: o.color for o in ctrl.objects},
            names={o.id: o.name for o in ctrl.objects},
        )
        if ctrl.image is not None:
            self.view.set_frame_range(0, ctrl.image.num_frames)
        self.set_current_frame(self.layers.current_frame())

    def _on_error(self, exc: Exception) -> None:
        show_error(f"SAM 2: measuring failed: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.view.measure_button.setEnabled(True)

    def _on_objects(self) -> None:
        self.view.set_colors({o.id: o.color for o in self.controller.objects})


def _measure(spec, store, tracked, scale) -> Table:
    """All frames' measurements (worker thread): one frame of labels and image at a time."""
    return concat_tables(_frames(spec, store, tracked, scale))


def _frames(spec, store, tracked: dict[int, frozenset[int]], scale) -> Iterator[Table]:
    """Each frame's rows: an object is measured where it was tracked (an empty row when it
    was judged absent there) or has pixels; a frame it was never tracked on has no row for it
    (not an area of 0, which would read as a lost object)."""
    for frame in range(spec.num_frames):
        labels = np.asarray(store.read(frame))
        present = set(np.unique(labels).tolist())
        ids = [obj for obj, frames in tracked.items() if frame in frames or obj in present]
        if ids:
            image = spec.read_frame(frame)
            yield measure_frame(labels, image, frame=frame, object_ids=ids, scale=scale)
