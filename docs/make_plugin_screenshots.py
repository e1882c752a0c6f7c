"""Screenshots of the SAM 2 tracking dock for the README (run under Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_plugin_screenshots.py [NAME ...]

NAME is ``dock`` (``plugin_dock.png`` and ``plugin_measure.png``), ``many``
(``dock_many_objects.png``) or ``lineage`` (``dock_lineage.png``); without a name, all of
them. ``dock`` opens the cells sample,
places a click and a box on two cells (positions taken from the sample's ground truth),
propagates both ways, measures, and saves the whole window. ``many`` adds the sample's true
labels as a Labels layer and makes one object per cell of frame 12 with *From labels*.
``lineage`` opens the dividing-cells sample, seeds the first cell from its true labels (its
daughters painted as its own pixels, as a user paints a correction), divides it on frame 8,
lists a found division and shows the tracks; the dock is scrolled to its Lineage section. The model
is a small randomly initialised SAM 2 (no weights can be downloaded where this runs), so the
masks show what the plugin does, not what a trained model finds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
import numpy as np
from napari._qt.dialogs.qt_notification import NapariQtNotification
from qtpy.QtCore import QEventLoop, Qt, QTimer

from napari_sam2 import make_cells_timelapse
from sam2_engine import build_model, thin_config

OUT = Path(__file__).parent / "images"


def small_random_model():
    return build_model(thin_config("small random"), seed=0, object_score_bias=2.0)


def wait(widget) -> None:
    """Run Qt's event loop (no polling sleeps, which the dock's delay probe would count)
    until the dock is idle, then let the canvas draw."""
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(
        lambda: (
            loop.quit()
            if not widget.runner.busy and widget.measure_section.worker is None
            else None
        )
    )
    timer.start(20)
    loop.exec()
    timer.stop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()


def centre(truth: np.ndarray, frame: int, label: int) -> tuple[float, float]:
    ys, xs = np.nonzero(truth[frame] == label)
    return float(ys.mean()), float(xs.mean())


def open_dock(sample: str = "cells_timelapse"):
    """A viewer with a sample and the dock at its narrowest, using the random model."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-sam2", sample)
    _, dock = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracking")
    qt_dock = viewer.window._qt_window.findChildren(type(dock.parent()))[0]
    viewer.window._qt_window.resizeDocks([qt_dock], [1], Qt.Orientation.Horizontal)  # narrowest
    dock.controller.use_model(small_random_model(), "small random (demo)")
    return viewer, dock


def dock_and_measure() -> None:
    """A click and a box, propagated both ways: the Track and Measure tabs."""
    viewer, dock = open_dock()
    truth = make_cells_timelapse().truth
    frame = 12

    dock.objects_section.add_button.click()
    viewer.dims.set_current_step(0, frame)
    y, x = centre(truth, frame, 1)
    dock.layers.points.add([frame, y, x])  # Add armed the clicks
    wait(dock)
    dock.layers.set_polarity(False)
    y2, x2 = centre(truth, frame, 3)
    dock.layers.points.add([frame, y2, x2])  # a negative point on a neighbour
    dock.layers.set_polarity(True)
    wait(dock)
    dock.objects_section.add_button.click()
    ys, xs = np.nonzero(truth[frame] == 2)
    box = [[frame, ys.min() - 3, xs.min() - 3], [frame, ys.min() - 3, xs.max() + 3],
           [frame, ys.max() + 3, xs.max() + 3], [frame, ys.max() + 3, xs.min() - 3]]  # fmt: skip
    dock.layers.start_boxes()
    dock.layers.boxes.add_rectangles(np.array([box], float))
    wait(dock)
    dock.propagate_section.direction_box.setCurrentText("both")
    dock.propagate()
    wait(dock)
    dock.measure_section.measure()
    wait(dock)
    viewer.dims.set_current_step(0, frame + 4)
    viewer.layers.selection.active = dock.layers.points
    dock.layers.points.mode = "pan_zoom"
    wait(dock)
    viewer.screenshot(str(OUT / "plugin_dock.png"), canvas_only=False)
    dock.tabs.setCurrentIndex(1)
    wait(dock)
    viewer.screenshot(str(OUT / "plugin_measure.png"), canvas_only=False)
    viewer.close()


def many_objects() -> None:
    """One object per cell of frame 12, from a Labels layer of the sample's true cells."""
    viewer, dock = open_dock()
    frame = 12
    truth = viewer.add_labels(make_cells_timelapse().truth, name="cells ground truth")
    wait(dock)
    viewer.dims.set_current_step(0, frame)
    dock.many_section.layer_box.setCurrentText(truth.name)
    dock.many_section.from_labels_button.click()
    wait(dock)
    truth.visible = False  # the dock's labels layer shows the objects in their colours
    viewer.layers.selection.active = dock.layers.labels
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # "9 new objects from ...": said in the caption instead
    wait(dock)
    viewer.screenshot(str(OUT / "dock_many_objects.png"), canvas_only=False)
    viewer.close()


def lineage() -> None:
    """A division marked by hand on the dividing-cells sample, one found, the tracks shown."""
    from napari_sam2 import make_dividing_cells
    from napari_sam2._records import DivisionsFound
    from napari_sam2.lineage import DivisionEvent, label_parts

    viewer, dock = open_dock(sample="dividing_cells")
    sample = make_dividing_cells()
    family = np.isin(sample.truth, [1, 4, 5, 8, 9])
    painted = viewer.add_labels(np.where(family, 1, 0).astype(np.uint16), name="painted")
    viewer.dims.set_current_step(0, 0)
    dock.many_section.layer_box.setCurrentText(painted.name)
    dock.many_section.from_labels_button.click()
    wait(dock)
    dock.layers.labels.data[:] = np.where(family, 1, 0)
    painted.visible = False
    viewer.dims.set_current_step(0, 8)
    dock.controller.set_active(1)
    dock.lineage_section.mark_button.click()
    wait(dock)
    ctrl = dock.controller
    parts, areas = label_parts(np.isin(sample.truth[21], [8, 9]))
    found = DivisionEvent(ctrl.lineage.daughters(1)[0], 21, parts, tuple(areas))
    ctrl.found_divisions(DivisionsFound(ctrl.image.key, [found]))  # as a propagation lists it
    dock.lineage_section.show_tracks()
    viewer.layers.selection.active = dock.layers.labels
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    wait(dock)
    bar = dock.tabs.widget(0).verticalScrollBar()
    bar.setValue(bar.maximum())  # down to the Lineage section
    wait(dock)
    viewer.screenshot(str(OUT / "dock_lineage.png"), canvas_only=False)
    viewer.close()


SCREENSHOTS = {"dock": dock_and_measure, "many": many_objects, "lineage": lineage}


def main(names: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    for name in names or list(SCREENSHOTS):
        SCREENSHOTS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
