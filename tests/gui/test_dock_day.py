"""The dock as a biologist uses it all day (issue #13): switching images keeps each one's work,
progress is honest, the layout fits a narrow dock, and frames are prepared ahead of clicks.

Every test drives the dock the way a user does: its buttons and boxes, the layer list, napari's
mouse events on the canvas layers. The model is the random small one from ``conftest.py``.
"""

from __future__ import annotations

import stat

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_sam2 import make_cells_timelapse  # noqa: E402
from napari_sam2._qt.workers import CANCELLING  # noqa: E402
from napari_sam2.session import load_session  # noqa: E402
from tests.support.dock import (  # noqa: E402
    JOB_TIMEOUT,
    PLUGIN,
    WIDGET,
    click,
    messages,
    wait_idle,
)

pytestmark = pytest.mark.gui


def pick(dock, name: str) -> None:
    """Choose an image in the dock's image section, as a user does."""
    dock.image_section.layer_box.setCurrentText(name)


def frame_range(dock) -> tuple[int, int]:
    section = dock.propagate_section
    return section.first_spin.value(), section.last_spin.value()


def propagate(qtbot, dock, frame: int, direction: str = "both") -> None:
    dock.propagate_section.direction_box.setCurrentText(direction)
    dock.viewer.dims.set_current_step(0, frame)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)


@pytest.fixture
def two_images(dock):
    """The dock on 'cells' with a second image, 'nuclei', in the viewer."""
    other = make_cells_timelapse(n_frames=5, shape=(64, 80), seed=3).image
    dock.viewer.add_image(other, name="nuclei", metadata={"axes": "TYX"})
    pick(dock, "cells")
    return dock


# ------------------------------------------------------------------------- work kept or lost
def test_switching_away_and_back_keeps_undo_range_and_confidence(qtbot, two_images):
    dock = two_images
    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 2, 40, 30)
    wait_idle(qtbot, dock)
    dock.propagate_section.first_spin.setValue(1)
    dock.propagate_section.last_spin.setValue(5)
    propagate(qtbot, dock, 2)
    plotted = dict(dock.confidence_section.plot._series)
    undo_label = ctrl.undo_label
    assert plotted and undo_label.startswith("propagate")

    pick(dock, "nuclei")  # another image: its own, empty work and its whole frame range
    assert ctrl.objects == [] and ctrl.undo_label is None
    assert (
        dock.propagate_section.first_spin.value(),
        dock.propagate_section.last_spin.value(),
    ) == (0, 4)
    assert not dock.confidence_section.plot._series

    pick(dock, "cells")  # back: everything as it was
    assert ctrl.undo_label == undo_label  # not "load session"
    assert (
        dock.propagate_section.first_spin.value(),
        dock.propagate_section.last_spin.value(),
    ) == (1, 5)
    assert dock.confidence_section.plot._series.keys() == plotted.keys()
    dock.corrections_section.undo_button.click()  # takes back the propagation
    assert ctrl.undo_label.startswith("edit prompts") and [p.frame for p in ctrl.prompts] == [2]
    dock.corrections_section.undo_button.click()  # then the click
    assert ctrl.prompts == [] and ctrl.objects  # the object stays until its own undo


def test_picking_another_image_disarms_the_old_layers(qtbot, two_images):
    dock = two_images
    viewer = dock.viewer
    dock.objects_section.add_button.click()  # Add arms the clicks layer
    old_clicks = dock.layers.points
    assert viewer.layers.selection.active.name == old_clicks.name and old_clicks.mode == "add"
    pick(dock, "nuclei")
    assert old_clicks.mode == "pan_zoom"  # a click on the new image cannot land there
    assert viewer.layers.selection.active.name == "nuclei"
    assert viewer.layers[-1].name.startswith("nuclei")  # the picked image is shown on top
    image_index = viewer.layers.index(viewer.layers["nuclei"])
    assert image_index > viewer.layers.index(viewer.layers["cells"])


def test_painted_labels_as_prompt_say_what_they_replace_and_undo_restores_the_score(qtbot, dock):
    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 3, 40, 30)
    wait_idle(qtbot, dock)
    score = ctrl.scores[1][3]
    labels = dock.layers.labels
    dock.prompt_section.paint_button.click()
    labels.paint((3, 60, 60), 1)
    dock.viewer.dims.set_current_step(0, 3)
    dock.corrections_section.use_labels_button.click()
    wait_idle(qtbot, dock)
    assert any("replaces the clicks of object 1 on frame 3" in m for m in messages("info"))
    assert ctrl.prompt(3, 1).mask is not None
    dock.corrections_section.undo_button.click()
    assert ctrl.prompt(3, 1).points == [[30.5, 40.5]]
    assert ctrl.scores[1][3] == score  # the confidence comes back with the clicks


def test_a_session_keeps_the_painted_pixels_the_sample_and_a_normal_file_mode(
    qtbot, make_napari_viewer, small_model, tmp_path
):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cells_timelapse")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock.controller.use_model(small_model, "test_small")
    dock.objects_section.add_button.click()
    labels = dock.layers.labels
    dock.prompt_section.paint_button.click()
    labels.paint((5, 100, 100), 1)
    painted = labels.data[5].copy()
    suggested = dock.session_section.suggest("session")
    assert suggested.endswith("cells_2D_t.session.json")  # named after the image
    path = tmp_path / "day.session.json"
    dock.save_session(str(path))
    saved = load_session(path)
    assert saved.source["sample"] == ["napari-sam2", "cells_timelapse"]
    assert np.array_equal(saved.painted[5], painted)
    assert stat.S_IMODE(path.stat().st_mode) & 0o044  # others may read it, like any file

    labels.data[5] = 0
    dock.controller.unprotect()
    dock.load_session(str(path))
    assert np.array_equal(labels.data[5], painted) and dock.controller.protected == {5}
    assert dock.session_section.suggest("labels").endswith("cells_2D_t_labels.tif")


# ------------------------------------------------------------------------- progress and control
def test_progress_is_counted_each_frame_once_and_told_plainly(qtbot, dock):
    dock.objects_section.add_button.click()
    click(dock, 4, 40, 30)
    wait_idle(qtbot, dock)
    shown = []
    dock.runner.progress.connect(lambda done, total, left: shown.append((done, total)))
    dock.propagate_section.direction_box.setCurrentText("both")
    dock.viewer.dims.set_current_step(0, 4)
    dock.propagate_section.propagate_button.click()
    assert not dock.propagate_section.propagate_button.isEnabled()  # no second run queued
    dock.propagate()  # as a shortcut would: refused, said
    assert any("already running" in m for m in messages("info"))
    wait_idle(qtbot, dock)
    assert [d for d, _ in shown] == list(range(1, 9)) and {t for _, t in shown} == {8}
    bar = dock.propagate_section.busy_bar
    assert bar.maximum() == 8 and "of 8 frames" in bar.format()
    status = dock.propagate_section.status_label.text()
    assert status.startswith("propagation done: 8 frames in") and "GUI delay" not in status
    assert dock.propagate_section.propagate_button.isEnabled()


def test_cancelling_stays_said_until_the_job_stops(qtbot, make_napari_viewer, small_model):
    image = make_cells_timelapse(n_frames=40, shape=(64, 64)).image
    viewer = make_napari_viewer()
    viewer.add_image(image, name="long", metadata={"axes": "TYX"})
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock.controller.use_model(small_model, "test_small")
    dock.objects_section.add_button.click()
    click(dock, 0, 30, 30)
    wait_idle(qtbot, dock)
    lines = []
    dock.runner.status.connect(lines.append)
    dock.viewer.dims.set_current_step(0, 0)
    dock.propagate_section.direction_box.setCurrentText("forward")
    dock.propagate_section.propagate_button.click()
    qtbot.waitUntil(lambda: dock.controller.scores.get(1, {}).get(2) is not None, timeout=60_000)
    dock.propagate_section.cancel_button.click()
    assert dock.propagate_section.status_label.text() == CANCELLING
    wait_idle(qtbot, dock)
    after = lines[lines.index(CANCELLING) + 1 :]
    assert not any("frame" in line and "propagating" in line for line in after)
    assert "stopped after" in dock.propagate_section.status_label.text()


# ------------------------------------------------------------------------- layout and defaults
def test_opening_creates_no_prompt_layers_and_selects_nothing_of_ours(dock):
    viewer = dock.viewer
    names = [layer.name for layer in viewer.layers]
    assert names == ["cells", "cells SAM 2 labels"]  # no clicks or boxes layer yet
    assert viewer.layers.selection.active.name == "cells"
    dock.prompt_section.box_button.click()
    assert viewer.layers.selection.active.name == "cells SAM 2 boxes"
    assert dock.layers.boxes.mode == "add_rectangle"


def test_the_dock_fits_340_pixels_with_nothing_cut(qtbot, dock, tmp_path):
    dock.resize(340, 900)
    assert dock.minimumSizeHint().width() <= 340
    name = "a time-lapse with a long file name (2D+t)"
    dock.viewer.add_image(dock.viewer.layers["cells"].data, name=name, metadata={"axes": "TYX"})
    pick(dock, name)
    dock.layers.ensure_layers()  # '<image> SAM 2 labels' in the labels box
    dock.model_section.show_loaded("loaded: sam2.1_hiera_base_plus on cuda:0, bf16")
    scroll = dock.tabs.widget(0)  # the Track tab's content fits beside its scroll bar
    room = 340 - scroll.verticalScrollBar().sizeHint().width() - 2 * scroll.frameWidth()
    assert scroll.widget().minimumSizeHint().width() <= room
    long_label = "use labels of object 1 on frame 3 as prompt, and a great deal more besides"
    dock.controller._record(long_label)
    assert dock.corrections_section.minimumSizeHint().width() <= 340
    assert dock.corrections_section.undo_button.toolTip() == f"Undo: {long_label}"
    for row in range(dock.model_section.model_box.count()):
        assert len(dock.model_section.model_box.itemText(row)) <= 32
    checkpoint = tmp_path / "mine.pt"
    dock.model_section.use_checkpoint_file(str(checkpoint))
    assert dock.model_section.model_box.currentText().endswith("(local file)")


def test_plots_leave_headroom_and_draw_no_axes_without_data(qtbot, dock):
    plot = dock.confidence_section.plot
    drawn = []
    plot._paint_axes = lambda *args: drawn.append(args)
    plot.grab()
    assert drawn == []  # an empty plot shows its text, not meaningless axes
    plot.set_series({1: ([0, 1, 2], [2.0, 2.0, 1.9])})
    plot.grab()
    assert drawn
    low, high = plot._y_limits()
    assert high - 2.0 >= 0.1 * (high - low)  # lines do not run along the top border


def test_the_measure_tab_lists_only_tracked_frames(qtbot, dock):
    dock.objects_section.add_button.click()
    click(dock, 2, 40, 30)
    wait_idle(qtbot, dock)
    propagate(qtbot, dock, 2, "forward")  # frames 2-7 tracked, 0-1 never
    dock.measure_section.view.measure_button.click()
    qtbot.waitUntil(lambda: dock.measure_section.worker is None, timeout=JOB_TIMEOUT)
    assert sorted(set(dock.measure_section.table["frame"])) == list(range(2, 8))


def test_the_tracked_axis_is_named(qtbot, make_napari_viewer, small_model):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "cells_timelapse")
    assert viewer.dims.axis_labels[0] == "t"  # the sample names it
    viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="plain")  # napari numbers it
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    pick(dock, "plain")
    assert tuple(viewer.layers["plain"].axis_labels) == ("t", "y", "x")
    assert tuple(dock.layers.labels.axis_labels) == ("t", "y", "x")


# ------------------------------------------------------------------------- waiting
def test_frames_are_prepared_ahead_and_user_actions_come_first(qtbot, dock):
    ctrl = dock.controller
    dock.viewer.dims.set_current_step(0, 4)
    qtbot.waitUntil(lambda: all(ctrl.engine.frame_is_encoded(f) for f in (2, 3, 4, 5, 6)),
                    timeout=JOB_TIMEOUT)  # fmt: skip
    assert "ready for quick clicks: 5 frames" in dock.model_section.cache_label.text()
    assert not dock.runner.busy  # background work never makes the dock busy

    dock.viewer.dims.set_current_step(0, 0)  # another frame: its neighbours come next
    dock.prepare_frames()
    dock.objects_section.add_button.click()
    click(dock, 0, 40, 30)  # the user's click stops the background job at its next frame
    wait_idle(qtbot, dock)
    assert ctrl.prompt(0, 1) is not None and (dock.layers.labels.data[0] == 1).any()
