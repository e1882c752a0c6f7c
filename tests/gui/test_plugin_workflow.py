"""The tracking dock in a real napari viewer (under Xvfb): prompts placed with simulated mouse
events, masks, propagation both ways, cancel, corrections, protected frames, sessions, samples.

The model is the random small one from ``conftest.py``, so masks mean nothing; the tests check
what is still true: which frames were written, which label values appear, and that prompts
reached the engine with the right frame and coordinates (against the engine called directly).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_sam2 import make_cells_timelapse  # noqa: E402
from napari_sam2.session import load_session  # noqa: E402
from tests.support.dock import (  # noqa: E402
    JOB_TIMEOUT,
    PLUGIN,
    WIDGET,
    click,
    drag_box,
    messages,
    wait_idle,
    written_frames,
)

pytestmark = pytest.mark.gui


def test_clicks_and_a_box_reach_the_engine_and_give_masks(qtbot, dock, small_model, cells):
    from sam2_engine import VideoPredictor

    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 2, 40, 30)
    wait_idle(qtbot, dock)
    assert [(p.frame, p.object, p.points, p.labels) for p in ctrl.prompts] == [
        (2, 1, [[30.5, 40.5]], [1])
    ]
    layer = dock.viewer.layers["cells"]
    assert ctrl.image.contrast_limits == tuple(layer.contrast_limits)  # the model sees them too
    direct = VideoPredictor(small_model)
    state = direct.init_state(cells, axes="TYX", axis="T", contrast_limits=layer.contrast_limits)
    _, _, masks = direct.add_new_points_or_box(state, 2, 1, points=[[30.5, 40.5]], labels=[1])
    labels = dock.layers.labels.data
    assert np.array_equal(labels[2] == 1, (masks[0, 0] > 0).numpy())
    assert written_frames(dock) == [2]
    engine_prompt = ctrl.engine.state.objects[1].points[2]
    assert engine_prompt.coords.shape == (1, 1, 2)

    click(dock, 2, 60, 90, modifiers=["Shift"])  # a negative point
    wait_idle(qtbot, dock)
    assert ctrl.prompt(2, 1).labels == [1, 0]
    assert ctrl.engine.state.objects[1].points[2].labels.tolist() == [[1, 0]]
    assert [str(s) for s in dock.layers.points.symbol] == ["disc", "x"]

    dock.objects_section.add_button.click()
    drag_box(dock, 5, (20, 60), (50, 100))
    wait_idle(qtbot, dock)
    assert ctrl.prompt(5, 2).box == [60.5, 20.5, 100.5, 50.5]
    assert ctrl.engine.state.objects[2].points[5].labels.tolist() == [[2, 3]]
    assert set(np.unique(labels[5])) <= {0, 2} and (labels[5] == 2).any()
    assert dock.layers.labels.colormap.map(np.array([2]))[0, :3] == pytest.approx(
        np.array([0xFF, 0x7F, 0x0E]) / 255, abs=0.01
    )  # the second object's colour

    dock.layers.points.selected_data = {1}
    dock.layers.points.remove_selected()  # deleting a prompt removes it from the engine
    wait_idle(qtbot, dock)
    assert ctrl.engine.state.objects[1].points[2].labels.tolist() == [[1]]


def test_propagate_both_ways_measure_export_undo(qtbot, dock, tmp_path):
    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 3, 40, 30)
    wait_idle(qtbot, dock)
    after_click = dock.layers.labels.data.copy()
    dock.propagate_section.direction_box.setCurrentText("both")
    dock.viewer.dims.set_current_step(0, 3)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    assert written_frames(dock) == list(range(8))
    assert set(np.unique(dock.layers.labels.data)) == {0, 1}
    assert sorted(ctrl.scores[1]) == list(range(8))
    assert "propagation done" in dock.propagate_section.status_label.text()
    assert dock.last_delay is not None and dock.last_delay.samples > 0

    dock.measure_section.view.measure_button.click()  # step 8: measurements
    qtbot.waitUntil(lambda: dock.measure_section.worker is None, timeout=JOB_TIMEOUT)
    table = dock.measure_section.table
    assert list(table["frame"]) == list(range(8)) and set(table["label"]) == {1}
    assert np.array_equal(table["area"], (dock.layers.labels.data == 1).sum(axis=(1, 2)))
    assert list(dock.layers.labels.features["index"]) == [1]  # the shown frame's row

    tifffile = pytest.importorskip("tifffile")
    dock.export_labels(str(tmp_path / "labels.tif"))  # step 10: the plugin's TIFF writer
    with tifffile.TiffFile(tmp_path / "labels.tif") as tif:
        assert tif.series[0].axes == "TYX"
        assert np.array_equal(tif.asarray(), dock.layers.labels.data)

    dock.corrections_section.undo_button.click()
    assert np.array_equal(dock.layers.labels.data, after_click)


def test_cancel_keeps_finished_frames_and_leaves_the_rest(qtbot, make_napari_viewer, small_model):
    image = make_cells_timelapse(n_frames=40, shape=(64, 64)).image
    viewer = make_napari_viewer()
    viewer.add_image(image, name="long", metadata={"axes": "TYX"})
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock.controller.use_model(small_model, "test_small")
    dock.objects_section.add_button.click()
    click(dock, 0, 30, 30)
    wait_idle(qtbot, dock)
    labels = dock.layers.labels.data
    labels[1:] = 5  # what the user had there before
    dock.propagate_section.direction_box.setCurrentText("forward")
    dock.viewer.dims.set_current_step(0, 0)
    dock.propagate_section.propagate_button.click()
    qtbot.waitUntil(lambda: dock.controller.scores.get(1, {}).get(2) is not None, timeout=60_000)
    dock.propagate_section.cancel_button.click()
    wait_idle(qtbot, dock)

    tracked = sorted(dock.controller.scores[1])
    assert tracked == list(range(len(tracked))) and 3 <= len(tracked) < 40
    untouched = range(len(tracked), 40)
    assert all((labels[t] == 5).all() for t in untouched)
    assert all(not (labels[t] == 5).all() for t in tracked[1:])
    assert "propagation stopped" in dock.propagate_section.status_label.text()


def test_corrections_and_protected_painted_frames(qtbot, dock):
    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 0, 40, 30)
    wait_idle(qtbot, dock)
    dock.propagate_section.direction_box.setCurrentText("forward")
    dock.viewer.dims.set_current_step(0, 0)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)

    labels = dock.layers.labels
    labels.data[4] = 0
    dock.prompt_section.paint_button.click()
    assert labels.mode == "paint" and labels.selected_label == 1
    labels.paint((4, 20, 20), 1)  # napari's own paint: emits the paint event
    assert ctrl.protected == {4}
    painted = labels.data[4].copy()
    dock.viewer.dims.set_current_step(0, 0)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    assert np.array_equal(labels.data[4], painted)
    assert any("painted by hand were kept" in m for m in messages())

    dock.viewer.dims.set_current_step(0, 4)
    dock.corrections_section.use_labels_button.click()
    wait_idle(qtbot, dock)
    assert np.array_equal(ctrl.prompt(4, 1).mask, painted == 1)
    assert list(ctrl.engine.state.objects[1].masks) == [4]

    click(dock, 6, 50, 50)  # a click correction on another frame
    wait_idle(qtbot, dock)
    dock.propagate_section.overwrite_check.setChecked(True)
    dock.viewer.dims.set_current_step(0, 4)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    assert written_frames(dock) == list(range(8))
    assert sorted(ctrl.engine.state.objects[1].cond_outputs) == [0, 4, 6]


def test_session_save_load_and_a_session_for_another_image(qtbot, dock, tmp_path):
    ctrl = dock.controller
    dock.objects_section.add_button.click()
    click(dock, 1, 40, 30)
    click(dock, 1, 50, 70, modifiers=["Shift"])
    dock.objects_section.add_button.click()
    drag_box(dock, 3, (10, 10), (40, 50))
    wait_idle(qtbot, dock)
    ctrl.rename_object(2, "the box")
    path = tmp_path / "session.json"
    dock.save_session(str(path))
    saved = [(p.frame, p.object, p.points, p.labels, p.box) for p in ctrl.prompts]
    assert [(p.frame, p.object) for p in load_session(path).prompts] == [(1, 1), (3, 2)]

    ctrl.remove_object(1)
    ctrl.remove_object(2)
    assert ctrl.prompts == [] and len(dock.layers.points.data) == 0
    dock.load_session(str(path))
    assert [(p.frame, p.object, p.points, p.labels, p.box) for p in ctrl.prompts] == saved
    assert [o.name for o in ctrl.objects] == ["object 1", "the box"]
    assert len(dock.layers.points.data) == 2 and len(dock.layers.boxes.data) == 1
    dock.propagate_section.propagate_button.click()  # prompts replay into the engine
    wait_idle(qtbot, dock)
    assert sorted(ctrl.engine.state.objects) == [1, 2]

    other = dock.viewer.add_image(np.zeros((3, 20, 20), np.uint8), name="other")
    dock.image_section.layer_box.setCurrentText(other.name)
    dock.load_session(str(path))
    assert any(
        "was not loaded" in m and "this session belongs to 'cells' (8 x 96 x 128)" in m
        for m in messages("error")
    )
    assert ctrl.prompts == []  # nothing changed: 'other' has its own (empty) session
    dock.image_section.layer_box.setCurrentText("cells")
    assert [(p.frame, p.object) for p in ctrl.prompts] == [(1, 1), (3, 2)]  # parked, restored


def choose(box, data) -> None:
    """Pick an entry of a combo box as a user does (``activated`` is a user's signal)."""
    index = box.findData(data)
    box.setCurrentIndex(index)
    box.activated.emit(index)


def test_precision_is_chosen_in_the_dock_saved_and_replayed(qtbot, dock, tmp_path):
    ctrl = dock.controller
    assert dock.model_section.precision_box.currentData() == "fp32"
    choose(dock.model_section.precision_box, "bf16")
    assert ctrl.options.precision == "bf16"
    dock.objects_section.add_button.click()
    click(dock, 1, 40, 30)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    assert ctrl.engine.predictor.precision == "bf16"  # the predictor runs what was chosen
    assert "bf16" in dock.model_section.status_label.text()
    path = tmp_path / "bf16.json"
    dock.save_session(str(path))
    assert load_session(path).settings["precision"] == "bf16"
    assert "device" not in load_session(path).settings  # the device is the machine's choice

    choose(dock.model_section.precision_box, "fp32")
    assert ctrl.options.precision == "fp32"
    dock.load_session(str(path))
    assert ctrl.options.precision == "bf16"
    assert dock.model_section.precision_box.currentData() == "bf16"


def test_sample_data_and_bad_input(qtbot, make_napari_viewer, small_model):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "rgb_video")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock.controller.use_model(small_model, "test_small")
    spec = dock.controller.image
    assert (spec.axes, spec.axis, spec.channel, spec.rgb) == ("TYXC", "T", (0, 1, 2), True)
    assert dock.layers.labels.data.shape == spec.data.shape[:3]

    wrong = viewer.add_labels(np.zeros((4, 10, 10), np.uint16), name="wrong shape")
    dock.image_section.labels_box.setCurrentText(wrong.name)
    assert any("has shape (4, 10, 10)" in m for m in messages("warning"))
    assert dock.layers.labels.name == "RGB video SAM 2 labels"

    click(dock, 0, 5000, 5000)  # outside the image
    assert any("outside the image" in m for m in messages("warning"))
    assert len(dock.layers.points.data) == 0

    dock.propagate_section.propagate_button.click()  # nothing to propagate yet
    assert any("add a point" in m for m in messages("warning"))

    assert dock.controller.objects == []  # the rejected point made no object
    flat = make_cells_timelapse(n_frames=2, shape=(48, 64)).image[0]
    viewer.add_image(flat, name="flat")
    dock.image_section.layer_box.setCurrentText("flat")
    assert dock.controller.image.axis is None
    assert any("single-frame mode" in m for m in messages())
    assert not dock.propagate_section.propagate_button.isEnabled()
    dock.objects_section.add_button.click()
    dock.layers.points.add([20, 30])
    wait_idle(qtbot, dock)
    assert dock.layers.labels.data.shape == (48, 64)
    assert dock.controller.engine.state.objects[1].points[0].labels.tolist() == [[1]]
    assert 0 in dock.controller.scores[1]  # the click's result came back
