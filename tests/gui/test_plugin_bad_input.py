"""Bad input in the tracking dock: each case gets a napari notification and loses nothing.

(The workflow tests cover a point outside the image, a labels layer of another shape, a 2-D
image and a session made for another image.)
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_sam2 import make_cells_timelapse  # noqa: E402
from napari_sam2._engine_link import ModelChoice  # noqa: E402

pytestmark = pytest.mark.gui

PLUGIN, WIDGET = "napari-sam2", "SAM 2 tracking"


@pytest.fixture
def dock(make_napari_viewer, small_model):
    viewer = make_napari_viewer()
    image = make_cells_timelapse(n_frames=40, shape=(64, 64)).image
    viewer.add_image(image, name="cells", metadata={"axes": "TYX"})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.controller.use_model(small_model, "test_small")
    widget.objects_section.add_button.click()
    widget.layers.points.add([0, 30, 30])
    wait_idle(widget)
    return widget


def wait_idle(widget) -> None:
    from pytestqt.qtbot import QtBot

    QtBot(widget).waitUntil(lambda: not widget.runner.busy, timeout=120_000)


def start_propagation(qtbot, dock) -> None:
    """Propagate forward from frame 0 and wait until two frames are done."""
    dock.controller.update_settings(direction="forward")
    dock.viewer.dims.set_current_step(0, 0)
    dock.propagate()
    qtbot.waitUntil(lambda: len(dock.controller.scores.get(1, {})) >= 3, timeout=60_000)


def messages(severity: str) -> list[str]:
    return [str(n.message) for n in notification_manager.records if str(n.severity) == severity]


def test_labels_layer_removed_while_propagating(qtbot, dock):
    start_propagation(qtbot, dock)
    labels = dock.layers.labels
    dock.viewer.layers.remove(labels)
    wait_idle(dock)
    assert any("labels layer was removed while propagating" in m for m in messages("warning"))
    done = sorted(dock.controller.scores[1])
    assert len(done) < 40
    assert all(labels.data[t].any() for t in done[1:])  # finished frames are kept in it

    dock.propagate()  # the layer comes back, with its frames
    assert labels in dock.viewer.layers
    wait_idle(dock)
    assert sorted(dock.controller.scores[1]) == list(range(40))


def test_switching_model_while_a_job_runs(qtbot, dock, small_model):
    start_propagation(qtbot, dock)
    dock.model_section.show_choice(ModelChoice("sam2.1_hiera_large"))
    dock.model_section.choice_changed.emit(dock.model_section.choice())
    assert any("new model is used from the next step" in m for m in messages("info"))
    wait_idle(dock)
    assert sorted(dock.controller.scores[1]) == list(range(40))  # the job kept its model

    prompts = list(dock.controller.prompts)
    dock.layers.points.add([5, 20, 20])  # the next job needs the large model: not on disk
    wait_idle(dock)
    assert any("sam2.1_hiera_large" in m for m in messages("error"))
    assert dock.controller.prompts[: len(prompts)] == prompts  # nothing the user made is lost
    assert len(dock.controller.prompts) == 2

    dock.controller.use_model(small_model, "test_small")  # back to a model that runs
    dock.viewer.dims.set_current_step(0, 5)
    dock.propagate()
    wait_idle(dock)
    assert sorted(dock.controller.engine.state.objects[1].cond_outputs) == [0, 5]


def test_a_checkpoint_for_another_model(qtbot, dock, small_checkpoint):
    _, path = small_checkpoint
    dock.model_section.show_choice(ModelChoice("sam2.1_hiera_tiny"))
    dock.model_section.use_checkpoint_file(str(path))
    assert dock.controller.model == ModelChoice("sam2.1_hiera_tiny", checkpoint=str(path))
    dock.model_section.load_button.click()
    wait_idle(dock)
    assert any("small.pt" in m for m in messages("error"))
    assert [p.frame for p in dock.controller.prompts] == [0]
    assert np.count_nonzero(dock.layers.labels.data[0]) > 0  # the earlier mask is still there


def test_4d_image_tracks_one_plane_and_rejects_prompts_on_others(
    qtbot, make_napari_viewer, small_model
):
    viewer = make_napari_viewer()
    image = np.stack(
        [make_cells_timelapse(n_frames=4, shape=(48, 64), seed=s).image for s in (0, 1)], 1
    )
    viewer.add_image(image, name="tz", metadata={"axes": "TZYX"})
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    _, again = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert again.controller is dock.controller and again.runner is dock.runner  # one session
    dock.controller.use_model(small_model, "test_small")
    dock.image_section.index_spin.setValue(1)  # track along T at Z = 1
    spec = dock.controller.image
    assert (spec.axes, spec.axis, spec.index) == ("TZYX", "T", {"Z": 1})
    assert dock.layers.labels.data.shape == image.shape

    dock.objects_section.add_button.click()
    dock.layers.points.add([2, 0, 20, 20])  # on Z = 0
    assert any("Z = 0, but tracking runs at Z = 1" in m for m in messages("warning"))
    assert dock.controller.prompts == []
    dock.layers.points.add([2, 1, 20, 20])
    assert [(p.frame, p.points) for p in dock.controller.prompts] == [(2, [[20.5, 20.5]])]
    wait_idle(dock)
    labels = dock.layers.labels.data
    assert not labels[:, 0].any() and not labels[[0, 1, 3], 1].any()  # only (T=2, Z=1)
    assert 2 in dock.controller.scores[1]


def test_image_removed_while_propagating_keeps_the_session(qtbot, dock):
    start_propagation(qtbot, dock)
    image = dock.viewer.layers["cells"]
    dock.viewer.layers.remove(image)
    wait_idle(dock)
    qtbot.waitUntil(lambda: any("was removed" in m for m in messages("warning")), timeout=5000)
    assert dock.controller.prompts == []  # parked, not lost: the image is gone

    dock.viewer.add_image(image.data, name="cells", metadata={"axes": "TYX"})
    dock.image_section.layer_box.setCurrentText("cells")
    assert [(p.frame, p.object) for p in dock.controller.prompts] == [(0, 1)]


def test_rgb_shown_as_gray_is_pointed_out(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 32, 32, 3), np.uint8), name="video", rgb=False)
    viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert any("tick 'rgb'" in m for m in messages("warning"))
