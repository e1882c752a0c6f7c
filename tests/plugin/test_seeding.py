"""Objects in one go (issue #14): seeds from a label image, segment everything, new objects
found while tracking; each checked against the engine called directly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sam2_engine
from napari_sam2 import api
from napari_sam2.seeding import (
    labels_from_masks,
    new_objects,
    prompts_from_labels,
    segment_everything,
)
from napari_sam2.session import SessionError
from napari_sam2.tracking.redetect import Redetect, detection_frames
from sam2_engine import AutomaticMaskGenerator, VideoPredictor, load_model
from sam2_engine.sinks import merge_to_labels, open_labels, read_info

YY, XX = np.mgrid[0:48, 0:64]
CELL_A = (YY - 16) ** 2 + (XX - 20) ** 2 < 64
CELL_B = (YY - 30) ** 2 + (XX - 45) ** 2 < 36
#: A cell entering the field of view on frame 3.
CELL_C = (YY - 38) ** 2 + (XX - 12) ** 2 < 30


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    """(7, 48, 64) uint8: cells A and B from the start, C from frame 3 on."""
    frames = []
    for t in range(7):
        cells = CELL_A | CELL_B | (CELL_C if t >= 3 else False)
        frames.append((40 + XX + 150 * cells).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def model_args(small_checkpoint) -> dict:
    config, path = small_checkpoint
    return {"model": replace(config, image_size=128), "checkpoint": path, "device": "cpu"}


def seed_labels() -> np.ndarray:
    labels = np.zeros((48, 64), np.uint16)
    labels[CELL_A], labels[CELL_B] = 5, 9
    return labels


def engine_run(model_args, video, steps) -> np.ndarray:
    """The label stack from the engine driven by hand: ``steps`` are ("mask", frame, obj,
    mask) prompts and ("run", start, count, reverse) propagations, in order; a mask added
    after a propagation rewrites its frame (as the pipeline yields it again)."""
    predictor = VideoPredictor(
        load_model(model_args["model"], checkpoint=model_args["checkpoint"], device="cpu")
    )
    state = predictor.init_state(video)
    labels = np.zeros(video.shape, np.uint16)
    ran = False
    for kind, *values in steps:
        if kind == "mask":
            t, ids, masks = predictor.add_new_mask(state, *values)
            if ran:
                labels[t] = merge_to_labels(ids, masks, dtype=np.uint16)
            continue
        ran = True
        start, count, reverse = values
        for t, ids, masks in predictor.propagate_in_video(state, start, count, reverse):
            labels[t] = merge_to_labels(ids, masks, dtype=np.uint16)
    state.close()
    return labels


# ------------------------------------------------------------------ seeds from labels
def test_each_label_becomes_an_object_with_its_id_and_mask() -> None:
    prompts = prompts_from_labels(seed_labels(), frame=2)
    assert sorted(prompts) == [5, 9]
    assert list(prompts[5]) == [2]
    np.testing.assert_array_equal(prompts[5][2]["mask"], CELL_A)
    np.testing.assert_array_equal(prompts[9][2]["mask"], CELL_B)


def test_specks_are_skipped_and_said(recwarn) -> None:
    labels = seed_labels()
    labels[0, 0] = 77
    messages = []
    prompts = prompts_from_labels(labels, warn=messages.append)
    assert sorted(prompts) == [5, 9]
    assert messages == ["1 label(s) smaller than 16 pixels were skipped: 77"]
    with pytest.warns(UserWarning, match="skipped: 77 \\(min_area= changes the threshold\\)"):
        prompts_from_labels(labels)  # from Python: a warning naming the keyword
    assert sorted(prompts_from_labels(labels, min_area=1, warn=messages.append)) == [5, 9, 77]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((48, 64), np.uint16), "no label at all"),
        (np.ones((2, 48, 64), np.uint16), "2-D"),
        (np.ones((48, 64), np.float32), "whole numbers"),
        (-np.ones((48, 64), np.int32), ">= 0"),
    ],
)
def test_bad_label_images_are_refused(labels, message) -> None:
    with pytest.raises(SessionError, match=message):
        prompts_from_labels(labels)


def test_labels_read_from_a_tiff_and_from_our_own_output(tmp_path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "cellpose.tif", seed_labels())
    assert sorted(prompts_from_labels(tmp_path / "cellpose.tif")) == [5, 9]


def test_tracking_seeded_labels_equals_the_engine_with_mask_prompts(model_args, video) -> None:
    ours, info = api.track(
        video, prompts_from_labels(seed_labels()), progress=False, return_info=True, **model_args
    )
    expected = engine_run(model_args, video, [("mask", 0, 5, CELL_A), ("mask", 0, 9, CELL_B),
                                              ("run", 0, None, False)])  # fmt: skip
    np.testing.assert_array_equal(ours, expected)
    assert info["objects"] == [5, 9]


# ------------------------------------------------------------------ label images from masks
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(1, 6)), max_size=8))
def test_labels_from_masks_gives_overlaps_to_the_larger_mask(squares) -> None:
    masks = []
    for y, x, side in squares:
        mask = np.zeros((16, 16), bool)
        mask[y : y + side, x : x + side] = True
        masks.append(mask)
    labels = labels_from_masks(masks, (16, 16))
    ids = [int(i) for i in np.unique(labels) if i]
    assert ids == list(range(1, len(ids) + 1))  # 1..N, no gaps
    union = np.any(masks, axis=0) if masks else np.zeros((16, 16), bool)
    np.testing.assert_array_equal(labels > 0, union)
    owner_areas = []
    for i in ids:
        region = labels == i
        owner_area = max(int(m.sum()) for m in masks if m[region].all())  # it came from one
        # a larger mask touching the region would have taken those pixels first
        assert all(int(m.sum()) <= owner_area for m in masks if m[region].any())
        owner_areas.append(owner_area)
    assert owner_areas == sorted(owner_areas, reverse=True)  # ids in order of size


def test_new_objects_are_the_masks_overlapping_nothing_tracked() -> None:
    found = np.zeros((48, 64), np.uint16)
    found[CELL_A], found[CELL_C] = 1, 2
    tracked = np.zeros((48, 64), np.uint16)
    tracked[CELL_A] = 5
    new = new_objects(found, tracked, first_id=10)
    assert list(new) == [10]
    np.testing.assert_array_equal(new[10], CELL_C)


# ------------------------------------------------------------------ segment everything
def test_segment_everything_is_the_generator_on_that_frame(model_args, video, tmp_path) -> None:
    options = {"points_per_side": 8, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    labels = segment_everything(video, frame=3, output=tmp_path / "all.tif", **model_args,
                                **options)  # fmt: skip
    model = load_model(model_args["model"], checkpoint=model_args["checkpoint"], device="cpu")
    records = AutomaticMaskGenerator(model, **options).generate(video[3])
    expected = labels_from_masks([r["segmentation"] for r in records], (48, 64))
    np.testing.assert_array_equal(labels, expected)
    assert labels.max() >= 1
    written = open_labels(tmp_path / "all.tif")
    np.testing.assert_array_equal(np.asarray(written)[0], labels)
    assert read_info(tmp_path / "all.tif")["frames"] == [3, 4]


def test_segment_everything_refuses_what_would_fail_late(model_args, video, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown segment-everything option.*points_per_sid"):
        segment_everything(video, points_per_sid=8, **model_args)
    with pytest.raises(ValueError, match="outside the 7 frame"):
        segment_everything(video, frame=7, **model_args)
    with pytest.raises(SessionError, match="lower the quality thresholds"):
        segment_everything(video, points_per_side=4, pred_iou_thresh=2.0, **model_args)
    (tmp_path / "mine.tif").write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        segment_everything(video, output=tmp_path / "mine.tif", overwrite=True, **model_args)
    assert (tmp_path / "mine.tif").read_bytes() == b"user data"


# ------------------------------------------------------------------ new objects while tracking
class FoundCellC:
    """Stands in for the generator: finds cell C once it has entered (nothing before)."""

    def __init__(self, model, **options) -> None:
        pass

    def generate(self, image, contrast_limits=None, progress=None):
        return [{"segmentation": CELL_C}] if image[CELL_C].mean() > 150 else []


#: Whatever the random model tracks, cell C counts as new unless it is exactly tracked.
STRICT = {"iou": 0.99}


def test_redetection_adds_entering_cells_like_the_engine_by_hand(
    model_args, video, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(sam2_engine, "AutomaticMaskGenerator", FoundCellC)
    output = tmp_path / "tracked.tif"
    prompts = {5: {0: {"mask": CELL_A}}}
    ours, info = api.track(video, prompts, output=output, redetect_every=2, progress=False,
                           redetect_options=STRICT, direction="forward", return_info=True,
                           **model_args)  # fmt: skip
    # frames 0-2, nothing new on 2; frames 3-4, C new on 4 (object 6); frames 5-6
    expected = engine_run(model_args, video, [
        ("mask", 0, 5, CELL_A), ("run", 0, 2, False), ("run", 3, 1, False),
        ("mask", 4, 6, CELL_C), ("run", 5, 1, False),
    ])  # fmt: skip
    np.testing.assert_array_equal(ours, expected)
    assert info["first_frames"] == {5: 0, 6: 4}
    assert info["objects"] == [5, 6]
    assert not (ours[:4] == 6).any()
    recorded = read_info(output)
    assert recorded["first_frames"] == {"5": 0, "6": 4} and recorded["objects"] == [5, 6]


def test_redetection_never_tracks_found_cells_backwards(model_args, video, monkeypatch) -> None:
    monkeypatch.setattr(sam2_engine, "AutomaticMaskGenerator", FoundCellC)
    prompts = {5: {2: {"mask": CELL_A}}}
    ours, info = api.track(video, prompts, redetect_every=2, redetect_options=STRICT,
                           progress=False, return_info=True, **model_args)  # fmt: skip
    # the backward pass first, with the seeded cell alone; then forward, finding C on 4
    expected = engine_run(model_args, video, [
        ("mask", 2, 5, CELL_A), ("run", 1, 1, True), ("run", 2, 2, False),
        ("mask", 4, 6, CELL_C), ("run", 5, 1, False),
    ])  # fmt: skip
    np.testing.assert_array_equal(ours, expected)
    assert info["first_frames"] == {5: 2, 6: 4}
    assert not (ours[:4] == 6).any()


def test_redetection_settings_are_checked_before_any_model_work() -> None:
    with pytest.raises(ValueError, match="whole number >= 1"):
        Redetect(0)
    with pytest.raises(ValueError, match="unknown segment-everything option"):
        Redetect(2, options={"point_per_side": 4})
    from napari_sam2.tracking.plan import Pass

    assert detection_frames([Pass(0, 6, False)], 2) == [2, 4]
    assert detection_frames([Pass(3, 3, True), Pass(4, 2, False)], 5) == []


def test_an_intensity_image_is_not_taken_for_labels(video) -> None:
    with pytest.raises(SessionError, match="looks like an intensity image"):
        prompts_from_labels(video[0])
