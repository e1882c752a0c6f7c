"""The QPainter timeline plot and the measurements panel: clicks give frames, series and lost
marks are drawn, the table exports to CSV. Screenshots go to ``$NAPARI_SAM2_SCREENSHOTS`` when
set (to look at them), else to the test's temporary folder."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")

from qtpy.QtCore import QPoint, Qt  # noqa: E402
from qtpy.QtGui import QColor, QImage  # noqa: E402

from napari_sam2 import _measurements as m  # noqa: E402
from napari_sam2._qt.measurements_widget import MeasurementsWidget  # noqa: E402
from napari_sam2._qt.plots import LOST_COLOR, TimelinePlot, nice_ticks, to_qcolor  # noqa: E402

pytestmark = pytest.mark.gui

COLORS = {1: "#1f77b4", 2: (1.0, 0.5, 0.05, 1.0), 3: (44, 160, 44)}


def screenshot_dir(tmp_path: Path) -> Path:
    folder = os.environ.get("NAPARI_SAM2_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path


def image_colors(image: QImage) -> np.ndarray:
    """The grabbed widget as an (H, W, 3) uint8 array."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits().asstring(stride * height), np.uint8)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3)


def has_color(pixels: np.ndarray, color: QColor, tolerance: int = 12) -> bool:
    target = np.array([color.red(), color.green(), color.blue()])
    return bool((np.abs(pixels.astype(int) - target).max(axis=-1) <= tolerance).any())


def score_series():
    frames = np.arange(40)
    series = {
        1: (frames, 6 * np.cos(frames / 9.0) + 4),
        2: (frames, np.where(frames < 25, 8 - frames * 0.2, -3.0)),
        3: (frames[5:30], 2 + np.sin(frames[5:30] / 3.0)),
    }
    series[1][1][12:15] = np.nan  # a gap
    lost = {1: [23, 24, 25, 26, 27, 28], 2: list(range(25, 40))}
    return series, lost


@pytest.fixture
def plot(qtbot):
    widget = TimelinePlot(y_label="object score")
    qtbot.addWidget(widget)
    widget.resize(420, 170)
    series, lost = score_series()
    widget.set_series(series, COLORS, lost, names={1: "cell A", 2: "cell B", 3: "cell C"})
    widget.set_threshold(0.0)
    widget.set_current_frame(17)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_click_emits_the_frame_under_the_cursor(plot, qtbot):
    assert plot.frame_limits() == (0, 39)
    y = int(plot.plot_rect().center().y())
    for frame in (7, 0, 39, 23):
        x = round(plot.x_for_frame(frame))
        with qtbot.waitSignal(plot.frame_clicked, timeout=1000) as blocker:
            qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
        assert blocker.args == [frame]
    with qtbot.assertNotEmitted(plot.frame_clicked):
        qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=QPoint(1, y))  # on the y axis


def test_mapping_between_frames_and_pixels(plot):
    assert [plot.frame_at(plot.x_for_frame(f)) for f in range(40)] == list(range(40))
    plot.set_frame_range(0, 100)
    assert plot.frame_limits() == (0, 99)
    assert plot.frame_at(plot.plot_rect().right()) == 99
    plot.set_frame_range(None)
    assert plot.frame_limits() == (0, 39)


def test_plot_draws_objects_lost_marks_and_saves_a_screenshot(plot, tmp_path):
    pixels = image_colors(plot.grab().toImage())
    for color in COLORS.values():
        assert has_color(pixels, to_qcolor(color))
    assert has_color(pixels, QColor(LOST_COLOR))
    assert plot.grab().save(str(screenshot_dir(tmp_path) / "timeline_plot.png"))
    plot.clear()
    assert not has_color(image_colors(plot.grab().toImage()), QColor(LOST_COLOR))


def test_series_must_match_their_frames(qtbot):
    widget = TimelinePlot()
    qtbot.addWidget(widget)
    with pytest.raises(ValueError, match="object 4"):
        widget.set_series({4: ([0, 1, 2], [1.0, 2.0])})


def test_ticks_and_colours():
    assert nice_ticks(0, 39, 5, integer=True) == [0, 10, 20, 30]
    assert nice_ticks(-3, 10, 6) == [-2.5, 0, 2.5, 5, 7.5, 10]
    assert nice_ticks(0, 1200, 4) == [0, 500, 1000]
    assert to_qcolor((1.0, 0.0, 0.0, 1.0)).name() == "#ff0000"
    assert to_qcolor([0, 128, 255]).name() == "#0080ff"
    assert to_qcolor("red").name() == "#ff0000"


# -- measurements panel ------------------------------------------------------------------


@pytest.fixture
def measured():
    """Three objects over 30 frames: two growing and shrinking discs and one that vanishes."""
    t, h, w = 30, 48, 64
    yy, xx = np.mgrid[:h, :w]
    labels = np.zeros((t, h, w), np.uint8)
    for f in range(t):
        labels[f][(yy - 15) ** 2 + (xx - 15) ** 2 < (6 + 4 * np.sin(f / 5)) ** 2] = 1
        labels[f][(yy - 30) ** 2 + (xx - 40 - f / 3) ** 2 < (4 + f / 6) ** 2] = 2
        if f < 18:
            labels[f, 38:44, 5 : 5 + 12 - f // 2] = 3
    image = (labels * 40 + 10).astype(np.uint16)
    return m.measure(labels, image, scale=(1.0, 0.5, 0.5))


@pytest.fixture
def panel(qtbot, measured):
    widget = MeasurementsWidget()
    qtbot.addWidget(widget)
    widget.resize(460, 480)
    widget.set_table(measured, COLORS, names={1: "nucleus", 2: "cell", 3: "debris"})
    widget.set_current_frame(12)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_panel_shows_table_and_plots_the_chosen_metric(panel, measured, tmp_path):
    assert panel.model.rowCount() == 90 and panel.model.columnCount() == len(measured)
    metrics = [panel.metric_combo.itemText(i) for i in range(panel.metric_combo.count())]
    assert metrics[0] == "area" and "mean_intensity" in metrics and "area_physical" in metrics
    assert not any(name.startswith("bbox") or name in ("frame", "label") for name in metrics)
    assert panel.summary.text() == "3 object(s) × 30 frame(s)"
    first_rows = [[panel.proxy.index(r, c).data() for c in (0, 1)] for r in range(4)]
    assert first_rows == [["0", "1"], ["0", "2"], ["0", "3"], ["1", "1"]]  # table order
    frames, values = panel.plot._series[3]
    np.testing.assert_array_equal(values, m.table_series(measured, "area")[3][1])
    panel.set_metric("mean_intensity")
    np.testing.assert_array_equal(panel.plot._series[2][1], np.full(30, 90.0))
    with pytest.raises(ValueError):
        panel.set_metric("bbox_y0")
    panel.set_metric("area")
    assert panel.grab().save(str(screenshot_dir(tmp_path) / "measurements_widget.png"))


def test_panel_frame_signals_and_filter(panel, qtbot):
    plot = panel.plot
    x, y = round(plot.x_for_frame(21)), int(plot.plot_rect().center().y())
    with qtbot.waitSignal(panel.frame_clicked, timeout=1000) as blocker:
        qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert blocker.args == [21]

    panel.current_only.setChecked(True)
    assert panel.proxy.rowCount() == 3
    panel.set_current_frame(5)
    index = panel.proxy.index(1, 0)
    with qtbot.waitSignal(panel.frame_clicked, timeout=1000) as blocker:
        panel.view.doubleClicked.emit(index)
    assert blocker.args == [5]
    panel.current_only.setChecked(False)
    assert panel.proxy.rowCount() == 90

    with qtbot.waitSignal(panel.measure_requested, timeout=1000):
        qtbot.mouseClick(panel.measure_button, Qt.MouseButton.LeftButton)


def test_panel_exports_csv(panel, measured, tmp_path):
    assert panel.export_button.isEnabled()
    path = panel.export_csv(tmp_path / "objects")
    assert path == tmp_path / "objects.csv"
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(measured) and len(rows) == 91
    assert path.read_text() == m.export_csv(measured, tmp_path / "direct.csv").read_text()

    panel.set_table(None)
    assert not panel.export_button.isEnabled() and panel.summary.text() == "no measurements"
    with pytest.raises(ValueError, match="no measurements"):
        panel.export_csv(tmp_path / "empty.csv")


def test_export_button_asks_for_a_path(panel, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    target = tmp_path / "picked.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    panel.export_button.click()
    assert target.exists()
