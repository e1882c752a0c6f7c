"""The plugin's controller without napari or Qt: prompts to the engine, results to labels,
protected frames, cancel, undo and sessions (jobs run synchronously here; the plugin runs the
same generators in napari workers)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2 import make_cells_timelapse
from napari_sam2._controller import TrackingController
from napari_sam2._image_spec import ImageSpec, ImageSpecError, propose_axes
from napari_sam2._records import ArrayLabelStore, FrameResult, PluginInputError
from napari_sam2.session import SessionError, load_session, save_session
from napari_sam2.tracking import Pass
from sam2_engine.frames.layout import guess_axes

FRAMES = 6


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    return make_cells_timelapse(n_frames=FRAMES, shape=(96, 128)).image


@pytest.fixture
def controller(small_model, stack) -> TrackingController:
    ctrl = TrackingController()
    ctrl.use_model(small_model, "test_small")
    ctrl.set_image(ImageSpec("cells", stack, "TYX", "T"))
    ctrl.labels = ArrayLabelStore(np.zeros(stack.shape, np.uint16))
    return ctrl


def run(ctrl: TrackingController, plan, stop_after: int | None = None) -> list[FrameResult]:
    """Run a job as the plugin's runner does; ``stop_after`` propagated frames cancels it."""
    results, done, tracked = [], set(), 0
    jobs = ctrl.run(plan)
    for item in jobs:
        if isinstance(item, FrameResult):
            ctrl.accept(item)
            results.append(item)
            if item.kind == "prompt":
                done.add((item.frame, item.obj))
            else:
                tracked += 1
            if tracked == stop_after:
                jobs.close()
                break
    ctrl.finish(plan, stop_after is None, done)
    return results


def click(ctrl: TrackingController, frame: int, points, labels=None, box=None, obj=None) -> None:
    obj = ctrl.active if obj is None else obj
    labels = [1] * len(points) if labels is None else labels
    clicks = {(p.frame, p.object): (p.points, p.labels) for p in ctrl.prompts if p.points}
    boxes = {(p.frame, p.object): p.box for p in ctrl.prompts if p.box is not None}
    if points:
        clicks[(frame, obj)] = (points, labels)
    if box is not None:
        boxes[(frame, obj)] = box
    ctrl.update_layer_prompts(clicks, boxes)


def test_propose_axes_and_spec_checks(stack) -> None:
    assert propose_axes((40, 64, 64)) == "TYX"
    assert propose_axes((40, 64, 64, 3), rgb=True) == "TYXC"
    assert propose_axes((5, 2, 64, 64)) == "TCYX"
    assert propose_axes((5, 30, 64, 64)) == "TZYX"
    assert propose_axes((64, 64)) == "YX"
    assert propose_axes((30, 64, 64), metadata_axes="ZYX") == "ZYX"
    assert propose_axes((30, 64, 64), axis_labels=("z", "y", "x")) == "ZYX"
    assert propose_axes((30, 64, 64), axis_labels=("-3", "-2", "-1")) == "TYX"  # napari's own
    for shape in [(2, 3, 4, 64, 64), (6, 20, 2, 64, 64), (40, 64, 64, 3)]:  # one guess
        assert propose_axes(shape) == guess_axes(shape)
    with pytest.raises(ImageSpecError, match="Y and X"):
        ImageSpec("cells", stack, "TZC", "T")
    spec = ImageSpec("v", np.zeros((4, 3, 8, 8)), "TZYX", "T", index={"Z": 2})
    assert spec.num_frames == 4 and spec.frame_key(1) == (1, 2, slice(None), slice(None))
    with pytest.raises(ImageSpecError, match="out of range"):
        ImageSpec("v", np.zeros((4, 3, 8, 8)), "TZYX", "T", index={"Z": 3})


def test_prompt_positions_map_between_napari_and_frame_pixels() -> None:
    spec = ImageSpec("v", np.zeros((4, 3, 20, 30)), "TZYX", "T", index={"Z": 2})
    assert spec.click_at([1, 2, 5, 7]) == (1, 7.5, 5.5)  # napari centres at integers
    assert spec.click_at(spec.position(3, 10.5, 4.5)) == (3, 10.5, 4.5)
    assert "Z = 2" in spec.click_at([1, 0, 5, 7])
    assert "outside the image" in spec.click_at([1, 2, 5, 40])
    assert "frame 4" in spec.click_at([4, 2, 5, 7])
    corners = np.array([[2, 2, -3, -3], [2, 2, -3, 40], [2, 2, 10, 40], [2, 2, 10, -3]], float)
    assert spec.box_at(corners) == (2, [0.0, 0.0, 30.0, 10.5])  # clipped to the frame
    single = ImageSpec("one", np.zeros((20, 30)), "YX", None)
    assert single.click_at([5, 7]) == (0, 7.5, 5.5)


def test_click_reaches_engine_and_writes_its_frame_only(controller, small_model, stack) -> None:
    from sam2_engine import VideoPredictor

    obj = controller.add_object().id
    click(controller, 2, [[40.5, 30.5]])
    results = run(controller, controller.sync_plan())
    assert [(r.kind, r.frame, r.obj) for r in results] == [("prompt", 2, obj)]

    direct = VideoPredictor(small_model)
    state = direct.init_state(stack, axes="TYX", axis="T")
    _, _, masks = direct.add_new_points_or_box(state, 2, obj, points=[[40.5, 30.5]], labels=[1])
    expected = (masks[0, 0] > 0).numpy()
    labels = controller.labels.array
    assert np.array_equal(labels[2] == obj, expected)
    assert expected.any()
    assert not labels[[0, 1, 3, 4, 5]].any()
    assert controller.sync_plan() is None  # nothing pending


def test_box_and_points_on_frames_then_propagate_both_ways(controller) -> None:
    a = controller.add_object().id
    click(controller, 1, [[30, 40]])
    b = controller.add_object().id
    click(controller, 4, [], box=[60, 20, 100, 60], obj=b)
    run(controller, controller.sync_plan())
    engine = controller.engine.state
    assert sorted(engine.objects) == [a, b]
    assert list(engine.objects[b].points) == [4]
    assert engine.objects[b].points[4].labels.tolist() == [[2, 3]]  # a box

    controller.update_settings(direction="both")
    plan = controller.propagation_plan(start=2)
    assert plan.runs == [Pass(2, FRAMES - 1 - 2, False), Pass(1, 1, True)]
    assert plan.total_frames == FRAMES  # every frame once: frame 2 is not computed twice
    results = run(controller, plan)
    written = [r.frame for r in results if r.kind == "propagate"]
    assert written == [2, 3, 4, 5, 1, 0] and FRAMES == 6
    values = set(np.unique(controller.labels.array)) - {0}
    assert values <= {a, b} and values
    assert set(controller.scores) == {a, b}
    assert all(len(frames) == FRAMES for frames in controller.scores.values())


def test_cancel_keeps_finished_frames_and_leaves_the_rest(controller) -> None:
    controller.add_object()
    click(controller, 0, [[30, 40]])
    controller.update_settings(direction="forward")
    controller.labels.array[4:] = 7  # what the user had before
    results = run(controller, controller.propagation_plan(start=0), stop_after=3)
    assert [r.frame for r in results if r.kind == "propagate"] == [0, 1, 2]
    assert (controller.labels.array[4:] == 7).all()
    assert controller.labels.array[1].any()


def test_painted_frames_are_protected_unless_overwrite(controller) -> None:
    obj = controller.add_object().id
    click(controller, 0, [[30, 40]])
    painted = np.zeros((96, 128), np.uint16)
    painted[5:9, 5:9] = obj
    controller.labels.array[3] = painted
    controller.mark_painted([3])
    controller.update_settings(direction="forward")
    run(controller, controller.propagation_plan(start=0))
    assert np.array_equal(controller.labels.array[3], painted)
    assert controller.skipped_protected == [3]

    controller.update_settings(overwrite_protected=True)
    run(controller, controller.propagation_plan(start=0))
    assert not np.array_equal(controller.labels.array[3], painted)


def test_painted_labels_as_prompt(controller) -> None:
    obj = controller.add_object().id
    with pytest.raises(PluginInputError, match="no pixels"):
        controller.use_labels_as_prompt(2)
    controller.labels.array[2, 10:30, 10:30] = obj
    controller.use_labels_as_prompt(2)
    assert controller.prompt(2, obj).mask.sum() == 400
    assert 2 in controller.protected
    run(controller, controller.sync_plan())
    assert list(controller.engine.state.objects[obj].masks) == [2]
    assert controller.labels.array[2].sum() == 400 * obj  # the painted mask is kept as is


def test_undo_prompt_and_propagation(controller) -> None:
    obj = controller.add_object().id
    click(controller, 0, [[30, 40]])
    run(controller, controller.sync_plan())
    after_click = controller.labels.array.copy()
    controller.update_settings(direction="forward")
    run(controller, controller.propagation_plan(start=0))
    assert controller.labels.array[1:].any()

    assert controller.undo().startswith("propagate")
    assert np.array_equal(controller.labels.array, after_click)
    assert controller.undo() == "edit prompts"
    assert controller.prompts == [] and not controller.labels.array.any()
    run(controller, controller.sync_plan())  # the engine forgets the prompt
    assert obj not in controller.engine.state.objects


def test_remove_object_clears_its_labels_undoably(controller) -> None:
    a = controller.add_object().id
    click(controller, 0, [[30, 40]])
    run(controller, controller.sync_plan())
    before = controller.labels.array.copy()
    controller.remove_object(a)
    assert not controller.labels.array.any() and controller.prompts == []
    controller.undo()
    assert np.array_equal(controller.labels.array, before)
    assert [p.object for p in controller.prompts] == [a]


def test_bad_input_is_refused_with_a_message(controller, small_model) -> None:
    with pytest.raises(PluginInputError, match="add a point"):
        controller.propagation_plan(start=0)
    controller.add_object()
    click(controller, 0, [[30, 40]])
    controller.update_settings(first_frame=2, last_frame=4)
    with pytest.raises(PluginInputError, match="outside the frame range"):
        controller.propagation_plan(start=0)
    plan = controller.propagation_plan(start=3)
    assert any("outside the range" in note for note in plan.notes)

    single = TrackingController()
    single.use_model(small_model, "test_small")
    single.set_image(ImageSpec("one", np.zeros((32, 32), np.uint8), "YX", None))
    single.labels = ArrayLabelStore(np.zeros((1, 32, 32), np.uint16))
    single.add_object()
    click(single, 0, [[10, 10]])
    with pytest.raises(PluginInputError, match="single frame"):
        single.propagation_plan(start=0)
    run(single, single.sync_plan())  # a click still gives a mask


def test_session_round_trip(controller, small_model, stack, tmp_path) -> None:
    a = controller.add_object("cell A").id
    click(controller, 1, [[30, 40], [50, 50]], labels=[1, 0])
    b = controller.add_object("cell B").id
    click(controller, 3, [], box=[60, 20, 100, 60], obj=b)
    controller.mark_painted([5])
    path = save_session(controller.to_session(), tmp_path / "s.json")

    fresh = TrackingController()
    fresh.use_model(small_model, "test_small")
    fresh.set_image(ImageSpec("cells", stack, "TYX", "T"))
    fresh.labels = ArrayLabelStore(np.zeros(stack.shape, np.uint16))
    fresh.load_session(load_session(path))
    assert [(o.id, o.name, o.color) for o in fresh.objects] == [
        (o.id, o.name, o.color) for o in controller.objects
    ]
    assert [(p.frame, p.object, p.points, p.labels, p.box) for p in fresh.prompts] == [
        (1, a, [[30.0, 40.0], [50.0, 50.0]], [1, 0], None),
        (3, b, [], [], [60.0, 20.0, 100.0, 60.0]),
    ]
    assert fresh.protected == {5}

    other = TrackingController()
    other.set_image(ImageSpec("small", stack[:3], "TYX", "T"))
    with pytest.raises(SessionError, match="3 frames"):
        other.load_session(load_session(path))


def test_switching_images_parks_everything_and_brings_it_back(controller, stack) -> None:
    cells = controller.image
    controller.add_object("cell A")
    click(controller, 1, [[30, 40]])
    run(controller, controller.sync_plan())
    controller.update_settings(first_frame=2, last_frame=4)
    controller.scores = {1: {1: 3.5}}
    undo_label, prompts = controller.undo_label, controller.prompts
    other = ImageSpec("other", stack[:3].copy(), "TYX", "T")

    assert controller.switch_image(other) is False  # new: starts empty, full frame range
    assert controller.objects == [] and controller.prompts == [] and controller.undo_label is None
    assert (controller.settings.first_frame, controller.settings.last_frame) == (0, 2)
    assert controller.parked() == ["cells"]

    assert controller.switch_image(cells) is True  # back: the same work, undo included
    assert [o.name for o in controller.objects] == ["cell A"] and controller.prompts == prompts
    assert controller.undo_label == undo_label and controller.scores == {1: {1: 3.5}}
    assert (controller.settings.first_frame, controller.settings.last_frame) == (2, 4)
    assert controller.undo() == undo_label  # undo still takes back the click, not a "load"
    assert controller.prompts == []


def test_a_different_image_under_a_parked_name_starts_afresh(controller, stack) -> None:
    controller.add_object()
    click(controller, 1, [[30, 40]])
    controller.switch_image(ImageSpec("other", stack[:3].copy(), "TYX", "T"))
    assert controller.switch_image(ImageSpec("cells", stack[:4].copy(), "TYX", "T")) is False
    assert controller.objects == []


def test_download_reports_progress_and_stops_when_cancelled(monkeypatch, tmp_path) -> None:
    import threading

    import sam2_engine.weights as weights
    from napari_sam2._engine_link import DownloadCancelled, DownloadProgress, _download

    stopped = threading.Event()

    def fake_download(name, *, progress, on_progress):
        try:
            for done in range(0, 5 * 2**20 + 1, 2**20):
                on_progress(done, 5 * 2**20)
                threading.Event().wait(0.02)
        except DownloadCancelled:
            stopped.set()
            raise
        return tmp_path / f"{name}.pt"

    monkeypatch.setattr(weights, "download_checkpoint", fake_download)
    steps = _download("sam2.1_hiera_tiny")
    seen = []
    try:
        while True:
            item = next(steps)
            if isinstance(item, DownloadProgress):
                seen.append(item.done)
    except StopIteration as end:
        assert end.value == tmp_path / "sam2.1_hiera_tiny.pt"
    assert seen == [i * 2**20 for i in range(6)]

    steps = _download("sam2.1_hiera_tiny")
    while not isinstance(next(steps), DownloadProgress):
        pass
    steps.close()  # the worker was cancelled
    assert stopped.wait(5)
