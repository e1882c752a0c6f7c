"""Every cell at once in the dock (issue #14): objects from a label layer, segment all on the
shown frame, track all, and objects entering picked up while propagating; driven through the
dock's buttons and boxes. The model is the random small one from ``conftest.py``; the
segment-everything generator is replaced by one that finds the true cells where the random
model would find noise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

import sam2_engine  # noqa: E402
from napari_sam2 import make_cells_timelapse  # noqa: E402
from napari_sam2._palette import object_color  # noqa: E402
from tests.support.dock import messages, wait_idle  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """The true cell labels of the dock's 'cells' stack (same generator, same seed)."""
    return make_cells_timelapse(n_frames=8, shape=(96, 128)).truth


class TrueCells:
    """Stands in for the generator: the true cells of the frame it is shown (found by
    matching the frame against the stack), as masks, largest first."""

    stack: np.ndarray
    truth: np.ndarray

    def __init__(self, model, **options) -> None:
        self.options = options

    def generate(self, image, contrast_limits=None, progress=None):
        frame = next(t for t in range(len(self.stack)) if np.array_equal(self.stack[t], image))
        labels = self.truth[frame]
        masks = [labels == i for i in np.unique(labels) if i]
        return [{"segmentation": m} for m in sorted(masks, key=lambda m: -m.sum())]


@pytest.fixture
def true_cells(monkeypatch, cells, truth):
    TrueCells.stack, TrueCells.truth = cells, truth
    monkeypatch.setattr(sam2_engine, "AutomaticMaskGenerator", TrueCells)


def test_objects_from_a_label_layer_keep_their_ids_and_track(qtbot, dock, truth) -> None:
    seeds = truth[3]
    dock.viewer.add_labels(seeds, name="cellpose")
    dock.viewer.add_labels(np.zeros((5, 5), np.uint16), name="other size")
    section = dock.many_section
    names = [section.layer_box.itemText(i) for i in range(section.layer_box.count())]
    assert "cellpose" in names and "other size" not in names
    section.layer_box.setCurrentText("cellpose")
    dock.viewer.dims.set_current_step(0, 3)
    section.from_labels_button.click()
    ids = [int(i) for i in np.unique(seeds) if i]
    assert dock.controller.object_ids == ids
    assert [o.color for o in dock.controller.objects] == [object_color(i) for i in ids]
    assert dock.objects_section.list.count() == len(ids)
    np.testing.assert_array_equal(dock.layers.labels.data[3], seeds)  # shown at once
    assert any(f"{len(ids)} new objects from 'cellpose' on frame 3" in m for m in messages())
    wait_idle(qtbot, dock)  # the masks go to the model; Propagate waits for it
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    tracked = dock.layers.labels.data
    assert set(np.unique(tracked)) - {0} <= set(ids)
    assert all(tracked[t].any() for t in range(len(tracked)))
    dock.corrections_section.undo_button.click()  # the propagation
    dock.corrections_section.undo_button.click()  # the objects, all in one step
    assert dock.controller.objects == [] and not dock.layers.labels.data.any()


def test_a_label_stack_seeds_from_the_shown_frame(qtbot, dock, truth) -> None:
    dock.viewer.add_labels(truth, name="truth")
    dock.many_section.layer_box.setCurrentText("truth")
    dock.viewer.dims.set_current_step(0, 5)
    dock.many_section.from_labels_button.click()
    prompts = dock.controller.prompts
    assert {p.frame for p in prompts} == {5}
    for prompt in prompts:
        np.testing.assert_array_equal(prompt.mask, truth[5] == prompt.object)


def test_segment_all_then_track_all(qtbot, dock, truth, true_cells) -> None:
    dock.controller.add_object()  # an object the user made: found ones come after it
    dock.viewer.dims.set_current_step(0, 2)
    dock.many_section.grid_spin.setValue(8)
    dock.many_section.segment_button.click()
    wait_idle(qtbot, dock)
    count = len(np.unique(truth[2])) - 1
    assert dock.controller.object_ids == list(range(1, count + 2))
    assert {p.frame for p in dock.controller.prompts} == {2}
    assert any("ready to track" in m for m in messages())
    frame = dock.layers.labels.data[2]
    assert set(np.unique(frame)) == set(range(2, count + 2)) | {0}
    dock.controller.undo()
    assert dock.controller.object_ids == [1]
    dock.many_section.track_all_button.click()  # segment again, then propagate both ways
    wait_idle(qtbot, dock)
    tracked = dock.layers.labels.data
    assert dock.controller.object_ids == list(range(1, count + 2))
    assert all(tracked[t].any() for t in range(len(tracked)))


def test_track_all_finding_nothing_propagates_nothing(qtbot, dock, monkeypatch) -> None:
    class NothingFound(TrueCells):
        def generate(self, image, contrast_limits=None, progress=None):
            return []

    monkeypatch.setattr(sam2_engine, "AutomaticMaskGenerator", NothingFound)
    dock.many_section.track_all_button.click()
    wait_idle(qtbot, dock)
    assert dock.controller.objects == [] and not dock.layers.labels.data.any()
    said = messages()
    assert any("nothing found on frame" in m for m in said)
    assert not any("add a point" in m for m in said)  # no propagation was tried


def test_the_label_box_offers_user_layers_not_the_docks_own(qtbot, dock, truth) -> None:
    dock.layers.ensure_layers()
    box = dock.many_section.layer_box
    assert [box.itemText(i) for i in range(box.count())] == []
    dock.viewer.add_labels(truth, name="stardist")
    dock.viewer.add_labels(truth[0], name="painted frame")
    assert [box.itemText(i) for i in range(box.count())] == ["stardist", "painted frame"]
    assert box.currentText() == "painted frame"  # the layer just added


def test_objects_entering_are_added_while_propagating(qtbot, dock, truth, true_cells) -> None:
    first = truth[0]
    dock.viewer.add_labels(np.where(first == 1, 1, 0).astype(np.uint16), name="one cell")
    dock.many_section.layer_box.setCurrentText("one cell")
    dock.viewer.dims.set_current_step(0, 0)
    dock.many_section.from_labels_button.click()
    dock.many_section.redetect_spin.setValue(3)
    dock.many_section.redetect_check.setChecked(True)
    assert dock.controller.settings.redetect_every == 3
    wait_idle(qtbot, dock)
    dock.propagate_section.direction_box.setCurrentText("forward")
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    ids = dock.controller.object_ids
    assert ids[0] == 1 and len(ids) > 1  # the other cells, found on frame 3
    found = {p.object: p.frame for p in dock.controller.prompts if p.object != 1}
    assert sorted(found) == ids[1:]
    assert 3 in found.values() and set(found.values()) <= {3, 6}  # searched every 3 frames
    tracked = dock.layers.labels.data
    for obj, frame in found.items():  # never before the frame it was found on
        assert not (tracked[:frame] == obj).any()
    assert np.isin(tracked[4], ids[1:]).any()
    assert any("found entering" in m for m in messages())
