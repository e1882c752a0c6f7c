"""The measurements panel: a sortable table of per-object per-frame measurements, a plot of one
metric over time, and CSV export.

The widget only shows a table it is given (:meth:`MeasurementsWidget.set_table`); computing it
(``napari_sam2._measurements.measure``, in a worker for long stacks) is the dock's job, asked
for through the ``measure_requested`` signal. Double-clicking a row or clicking the plot emits
``frame_clicked(frame)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_sam2._measurements import Table, export_csv, table_series
from napari_sam2._qt.plots import TimelinePlot

__all__ = ["ColumnarTableModel", "MeasurementsWidget"]

#: Columns never offered as the plotted metric.
_NOT_METRICS = {"frame", "label", "index", "lost"}
_AXIS_LABELS = {
    "area": "area (px)",
    "area_physical": "area (scaled)",
    "mean_intensity": "mean intensity",
    "centroid_y": "centroid y (px)",
    "centroid_x": "centroid x (px)",
    "score": "object score",
}


class ColumnarTableModel(QAbstractTableModel):
    """A read-only Qt model over a columnar table (``{column: 1-D array}``): rows are only
    formatted when the view shows them, so large tables cost nothing up front."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._table: Table = {}
        self._columns: list[str] = []
        self._rows = 0

    def set_table(self, table: Mapping[str, Any]) -> None:
        self.beginResetModel()
        self._table = {str(c): np.asarray(v) for c, v in table.items()}
        self._columns = list(self._table)
        self._rows = len(next(iter(self._table.values()))) if self._table else 0
        self.endResetModel()

    def table(self) -> Table:
        return self._table

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else self._rows

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self._columns)

    def value(self, row: int, column: str) -> Any:
        return self._table[column][row]

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        raw = self._table[self._columns[index.column()]][index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _format_cell(raw)
        if role == Qt.ItemDataRole.UserRole:  # sort key: NaN sorts last
            value = raw.item() if hasattr(raw, "item") else raw
            if isinstance(value, float) and math.isnan(value):
                return math.inf
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802 - Qt API
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._columns):
            return self._columns[section]
        return None


class _FrameFilter(QSortFilterProxyModel):
    """Sorts by raw values; optionally keeps only the rows of one frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame: int | None = None
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_frame(self, frame: int | None) -> None:
        self.frame = frame
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802 - Qt API
        model = self.sourceModel()
        if self.frame is None or not isinstance(model, ColumnarTableModel):
            return True
        if "frame" not in model.table():
            return True
        return int(model.value(row, "frame")) == self.frame


def _format_cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        return "–" if math.isnan(value) else f"{float(value):.4g}"
    return str(value)


class MeasurementsWidget(QWidget):
    """Table, metric-over-time plot and CSV export for per-object per-frame measurements.

    Signals:
        frame_clicked (int): a frame the user picked (plot click, or double-click on a row).
        measure_requested (): the user pressed "Measure"; the dock computes the table and
            calls :meth:`set_table`.
    """

    frame_clicked = Signal(int)
    measure_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colors: dict[int, Any] = {}
        self._names: dict[int, str] = {}
        self._current: int | None = None

        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("Measure every object in every frame")
        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("The measurement plotted over time")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.current_only = QCheckBox("current frame only")
        self.summary = QLabel("no measurements")
        self.plot = TimelinePlot(y_label="area (px)")
        self.model = ColumnarTableModel(self)
        self.proxy = _FrameFilter(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._lay_out()
        self._add_callbacks()

    def _lay_out(self) -> None:
        buttons = QHBoxLayout()  # two short rows: the dock may be narrow
        buttons.addWidget(self.measure_button)
        buttons.addWidget(self.export_button)
        metric = QHBoxLayout()
        metric.addWidget(QLabel("plot:"))
        metric.addWidget(self.metric_combo, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.current_only)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(buttons)
        layout.addLayout(metric)
        layout.addWidget(self.plot, 2)
        layout.addLayout(bottom)
        layout.addWidget(self.view, 3)

    def _add_callbacks(self) -> None:
        self.measure_button.clicked.connect(self.measure_requested)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.metric_combo.currentTextChanged.connect(self._on_metric_changed)
        self.current_only.toggled.connect(self._on_current_only_toggled)
        self.plot.frame_clicked.connect(self.frame_clicked)
        self.view.doubleClicked.connect(self._on_row_double_clicked)

    # -- public API ---------------------------------------------------------------------

    def set_table(
        self,
        table: Mapping[str, Any] | None,
        colors: Mapping[int, Any] | None = None,
        names: Mapping[int, str] | None = None,
    ) -> None:
        """Show ``table`` (a columnar dict from ``measure``; None clears).

        ``colors`` / ``names``: ``{object id: colour / name}`` for the plot (the Labels layer's
        colours, the objects panel's names); kept for later tables when omitted.
        """
        if colors is not None:
            self._colors = dict(colors)
        if names is not None:
            self._names = dict(names)
        self.model.set_table(table or {})
        data = self.model.table()
        metrics = [
            c
            for c, v in data.items()
            if c not in _NOT_METRICS and not c.startswith("bbox_") and v.dtype.kind in "iuf"
        ]
        previous = self.metric_combo.currentText()
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(metrics)
        if previous in metrics:
            self.metric_combo.setCurrentText(previous)
        self.metric_combo.blockSignals(False)
        rows = self.model.rowCount()
        self.export_button.setEnabled(rows > 0)
        if rows and "label" in data and "frame" in data:
            n_obj, n_frames = len(np.unique(data["label"])), len(np.unique(data["frame"]))
            self.summary.setText(f"{n_obj} object(s) × {n_frames} frame(s)")
        else:
            self.summary.setText(f"{rows} row(s)" if rows else "no measurements")
        self._update_plot()

    def table(self) -> Table:
        """The table shown (the arrays given to :meth:`set_table`)."""
        return self.model.table()

    def current_metric(self) -> str:
        """The column plotted over time."""
        return self.metric_combo.currentText()

    def set_metric(self, column: str) -> None:
        """Plot ``column`` over time (one of the numeric columns)."""
        index = self.metric_combo.findText(column)
        if index < 0:
            raise ValueError(f"no numeric column {column!r} in the table")
        self.metric_combo.setCurrentIndex(index)

    def set_colors(self, colors: Mapping[int, Any]) -> None:
        self._colors = dict(colors)
        self.plot.set_colors(self._colors)

    def set_current_frame(self, frame: int | None) -> None:
        """Follow the viewer's current frame (plot line, and the table filter if on)."""
        self._current = None if frame is None else int(frame)
        self.plot.set_current_frame(self._current)
        if self.current_only.isChecked():
            self.proxy.set_frame(self._current)

    def set_frame_range(self, start: int | None, stop: int | None = None) -> None:
        """The plot's x range (e.g. the whole stack); None fits the measured frames."""
        self.plot.set_frame_range(start, stop)

    def export_csv(self, path: str | Path) -> Path:
        """Write the table shown to ``path`` as CSV; returns the path."""
        if not self.model.rowCount():
            raise ValueError("there are no measurements to export")
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_name(path.name + ".csv")
        return export_csv(self.model.table(), path)

    # -- callbacks ------------------------------------------------------------------------

    def _on_export_clicked(self) -> None:
        """Ask where to save, then :meth:`export_csv`."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Export measurements", "measurements.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_csv(path)

    def _on_metric_changed(self, _text: str) -> None:
        self._update_plot()

    def _on_current_only_toggled(self, checked: bool) -> None:
        self.proxy.set_frame(self._current if checked else None)

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        """Jump to the frame of the double-clicked row."""
        source = self.proxy.mapToSource(index)
        if source.isValid() and "frame" in self.model.table():
            self.frame_clicked.emit(int(self.model.value(source.row(), "frame")))

    def _update_plot(self) -> None:
        data, metric = self.model.table(), self.current_metric()
        if not metric or metric not in data or "label" not in data or "frame" not in data:
            self.plot.clear()
            return
        self.plot.set_y_label(_AXIS_LABELS.get(metric, metric))
        self.plot.set_series(table_series(data, metric), self._colors, names=self._names)
