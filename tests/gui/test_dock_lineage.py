"""Divisions and tracks in the dock (issue #15), on the dividing-cells sample, driven through
the dock's buttons: a division marked by hand (the tree in the object list, undo, sessions,
propagation keeping the mother ended), divisions found while propagating accepted or
dismissed, the Tracks layer, and CTC / GEFF exports read back by the field's tools.

The model is the random small one: its masks are noise, so the frames a test needs as a user
would see them (a mother split in two) are painted into the labels layer first, as a user
paints a correction."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_sam2 import make_dividing_cells  # noqa: E402
from napari_sam2._qt.objects_section import TREE_MARK  # noqa: E402
from napari_sam2._records import DivisionsFound  # noqa: E402
from napari_sam2.lineage import DivisionEvent, label_parts  # noqa: E402
from napari_sam2.session import load_session, save_session  # noqa: E402
from tests.support.dock import PLUGIN, WIDGET, messages, wait_idle  # noqa: E402

pytestmark = pytest.mark.gui

#: Track 1 of the sample divides on frame 8 into tracks 4 and 5.
MOTHER, SPLIT, DAUGHTERS = 1, 8, (4, 5)


@pytest.fixture(scope="module")
def sample():
    return make_dividing_cells(n_frames=12, shape=(96, 96))


@pytest.fixture
def dock(qtbot, make_napari_viewer, small_model, sample):
    """The sample in the dock, with the mother seeded from the truth on frame 0 and its
    pixels painted on every frame (on and after the split: the two daughters' pixels)."""
    viewer = make_napari_viewer()
    viewer.add_image(sample.image, name="dividing", metadata={"axes": "TYX"})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.controller.use_model(small_model, "test_small")
    family = np.isin(sample.truth, [MOTHER, *DAUGHTERS])
    viewer.add_labels(np.where(family, MOTHER, 0).astype(np.uint16), name="painted")
    widget.many_section.layer_box.setCurrentText("painted")
    widget.many_section.from_labels_button.click()
    wait_idle(qtbot, widget)
    widget.layers.labels.data[:] = np.where(family, MOTHER, 0)
    return widget


def divide_on_screen(dock, frame: int = SPLIT) -> None:
    dock.viewer.dims.set_current_step(0, frame)
    dock.controller.set_active(MOTHER)
    dock.lineage_section.mark_button.click()


def test_a_division_by_hand_makes_two_daughters_under_their_mother(qtbot, dock, sample):
    wait_idle(qtbot, dock)
    before = np.array(dock.layers.labels.data)
    divide_on_screen(dock)
    ctrl = dock.controller
    daughters = [o for o in ctrl.object_ids if o != MOTHER]
    assert len(daughters) == 2
    assert ctrl.lineage[MOTHER].end == SPLIT - 1
    assert all(ctrl.lineage[d].start == SPLIT and ctrl.lineage[d].parent == MOTHER
               for d in daughters)  # fmt: skip
    rows = [dock.objects_section.list.item(i).text() for i in range(len(ctrl.object_ids))]
    assert rows[0] == f"object {MOTHER}" and all(TREE_MARK in r for r in rows[1:])
    labels = dock.layers.labels.data
    assert not (labels[SPLIT:] == MOTHER).any() and (labels[:SPLIT] == MOTHER).any()
    parts, _ = label_parts(before[SPLIT] == MOTHER)
    assert {p.object for p in ctrl.prompts if p.frame == SPLIT} == set(daughters)
    assert set(np.unique(labels[SPLIT][parts > 0])) == set(daughters)
    assert any(f"object {MOTHER} divides on frame {SPLIT}" in m for m in messages())
    dock.corrections_section.undo_button.click()
    assert ctrl.object_ids == [MOTHER] and len(ctrl.lineage) == 0
    np.testing.assert_array_equal(dock.layers.labels.data, before)


def test_propagation_keeps_the_mother_ended_and_daughters_unborn(qtbot, dock):
    wait_idle(qtbot, dock)
    divide_on_screen(dock)
    wait_idle(qtbot, dock)
    dock.propagate_section.direction_box.setCurrentText("both")
    dock.viewer.dims.set_current_step(0, SPLIT)
    dock.propagate_section.propagate_button.click()
    wait_idle(qtbot, dock)
    labels, daughters = dock.layers.labels.data, dock.controller.object_ids[1:]
    assert not (labels[SPLIT:] == MOTHER).any()
    assert not np.isin(labels[:SPLIT], daughters).any()


def test_the_lineage_goes_into_sessions_and_back(qtbot, dock, tmp_path):
    wait_idle(qtbot, dock)
    divide_on_screen(dock)
    path = save_session(dock.controller.to_session(), tmp_path / "dividing.json")
    saved = load_session(path)
    assert saved.lineage.daughters(MOTHER) == tuple(dock.controller.object_ids[1:])
    dock.controller.load_session(load_session(path))
    assert dock.controller.lineage == saved.lineage


def test_a_found_division_is_listed_then_accepted_or_dismissed(qtbot, dock, sample):
    wait_idle(qtbot, dock)
    ctrl, section = dock.controller, dock.lineage_section
    section.find_check.setChecked(True)
    assert ctrl.settings.find_divisions
    parts, areas = label_parts(np.isin(sample.truth[SPLIT], DAUGHTERS))
    events = [DivisionEvent(MOTHER, SPLIT, parts, tuple(areas)),
              DivisionEvent(MOTHER, SPLIT + 1, parts, tuple(areas))]  # fmt: skip
    ctrl.found_divisions(DivisionsFound(ctrl.image.key, events))  # as a propagation yields it
    assert section.events.count() == 2 and not section.accept_button.isHidden()
    section.events.setCurrentRow(1)
    section.dismiss_button.click()
    assert section.events.count() == 1
    section.events.setCurrentRow(0)
    section.accept_button.click()
    assert section.events.count() == 0 and section.accept_button.isHidden()
    assert ctrl.lineage[MOTHER].end == SPLIT - 1 and len(ctrl.lineage.daughters(MOTHER)) == 2


def test_tracks_layer_and_exports_carry_the_lineage(qtbot, dock, tmp_path):
    wait_idle(qtbot, dock)
    divide_on_screen(dock)
    daughters = dock.controller.object_ids[1:]
    layer = dock.lineage_section.show_tracks()
    assert layer.graph == {d: [MOTHER] for d in daughters}
    ctc = dock.lineage_section.export_tracks(str(tmp_path / "01_RES"), "ctc")
    text = (ctc / "res_track.txt").read_text()
    rows = [list(map(int, line.split())) for line in text.splitlines() if line]
    assert [MOTHER, 0, SPLIT - 1, 0] in rows
    assert sorted(row[0] for row in rows if row[1:2] == [SPLIT] and row[3] == MOTHER) == daughters
    geff_path = dock.lineage_section.export_tracks(str(tmp_path / "t.geff"), "geff")
    import geff

    geff.validate_structure(str(geff_path))
    assert dock.lineage_section.export_tracks(str(tmp_path / "01_RES"), "ctc") is None
    assert any("already exists" in m for m in messages())
