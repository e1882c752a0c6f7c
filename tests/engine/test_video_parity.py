"""VideoPredictor against the official SAM2VideoPredictor: same random weights, same frames.

The video runs at a 512 model input (both sides) to keep CI fast; the encoder and decoder are
also checked at 1024 elsewhere. Objects: a click, a box, a mask and an empty mask (so the
"absent" path is exercised). Every yielded frame is compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sam2_engine import VideoPredictor, build_model
from sam2_engine.configs import get_config
from tests.support import oracle
from tests.support.parity import assert_logits_match

NAME = "sam2.1_hiera_tiny"
IMAGE_SIZE = 512
NUM_FRAMES = 8
HEIGHT, WIDTH = 96, 128
REPORT: dict[str, float] = {}
CLICK_OBJ_1 = {"obj_id": 1, "points": [[35, 45]], "labels": [1]}
NEGATIVE_CLICK = {
    "frame_idx": 3,
    "obj_id": 1,
    "points": [[60, 45]],
    "labels": [0],
    "clear_old_points": False,
}


def _write_frames(folder) -> None:
    """A bright square moving right over a noisy background, as JPEG files 00000.jpg..."""
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    for t in range(NUM_FRAMES):
        frame = (rng.random((HEIGHT, WIDTH, 3)) * 60).astype(np.uint8)
        x = 20 + 6 * t
        frame[30:60, x : x + 30] = (220, 200, 180)
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)


@pytest.fixture(scope="module")
def video_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video") / "frames"
    _write_frames(folder)
    state = oracle.random_official_state_dict(NAME, seed=2)
    yield folder, state
    print("\nvideo predictor parity, max abs diff per step:")
    for step, diff in sorted(REPORT.items()):
        print(f"  {step:45s} {diff:.2e}")


def _pair(video_setup, correction_as_cond: bool):
    folder, state = video_setup
    overrides = (f"++model.add_all_frames_to_correct_as_cond={str(correction_as_cond).lower()}",)
    theirs = oracle.build_official(
        NAME, state, video=True, image_size=IMAGE_SIZE, overrides=overrides
    )
    model = build_model(get_config(NAME, image_size=IMAGE_SIZE), seed=None)
    model.load_state_dict(state, strict=True)
    ours = VideoPredictor(
        model, fill_hole_area=0, add_all_frames_to_correct_as_cond=correction_as_cond
    )
    return ours, ours.init_state(folder), theirs, theirs.init_state(str(folder))


def _compare(label, ours_out, theirs_out):
    o_t, o_ids, o_masks = ours_out
    t_t, t_ids, t_masks = theirs_out
    assert o_t == t_t and list(o_ids) == list(t_ids), (label, o_t, t_t, o_ids, t_ids)
    assert_logits_match(o_masks, t_masks, label, REPORT)


def _compare_propagation(label, ours, o_state, theirs, t_state, **kwargs):
    ours_frames = list(ours.propagate_in_video(o_state, **kwargs))
    theirs_frames = list(theirs.propagate_in_video(t_state, **kwargs))
    assert [f[0] for f in ours_frames] == [f[0] for f in theirs_frames]
    for o, t in zip(ours_frames, theirs_frames, strict=False):
        _compare(f"{label} frame {o[0]}", o, t)
    return ours_frames


def _add_objects(ours, o_state, theirs, t_state):
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[30:60, 20:50] = True
    empty = np.zeros((HEIGHT, WIDTH), dtype=bool)
    prompts = [
        ("point obj 1", "add_new_points_or_box", CLICK_OBJ_1),
        ("box obj 2", "add_new_points_or_box", {"obj_id": 2, "box": [18, 28, 52, 62]}),
        ("mask obj 3", "add_new_mask", {"obj_id": 3, "mask": mask}),
        ("empty mask obj 4", "add_new_mask", {"obj_id": 4, "mask": empty}),
    ]
    for label, method, kwargs in prompts:
        o = getattr(ours, method)(o_state, frame_idx=0, **kwargs)
        t = getattr(theirs, method)(t_state, frame_idx=0, **kwargs)
        _compare(f"prompt: {label}", o, t)


@torch.inference_mode()
def test_video_parity_corrections_as_conditioning(video_setup):
    """Our default: a correction becomes a conditioning frame (official flag set to match)."""
    ours, o_state, theirs, t_state = _pair(video_setup, correction_as_cond=True)
    _add_objects(ours, o_state, theirs, t_state)
    _compare_propagation("cond: pass 1", ours, o_state, theirs, t_state)

    # a negative click on an already tracked frame, then re-propagation
    kwargs = NEGATIVE_CLICK
    _compare(
        "cond: correction",
        ours.add_new_points_or_box(o_state, **kwargs),
        theirs.add_new_points_or_box(t_state, **kwargs),
    )
    _compare_propagation("cond: pass 2", ours, o_state, theirs, t_state)
    assert 3 in o_state.objects[1].cond_outputs  # the correction is kept as conditioning

    _compare_propagation(
        "cond: reverse from 5", ours, o_state, theirs, t_state, start_frame_idx=5, reverse=True
    )

    o_ids, o_updated = ours.remove_object(o_state, 2)
    t_ids, t_updated = theirs.remove_object(t_state, 2)
    assert list(o_ids) == list(t_ids) == [1, 3, 4]
    assert [f for f, _ in o_updated] == [f for f, _ in t_updated]
    for (f, o_m), (_, t_m) in zip(o_updated, t_updated, strict=False):
        assert_logits_match(o_m, t_m, f"cond: remove_object frame {f}", REPORT)
    _compare_propagation("cond: after remove", ours, o_state, theirs, t_state)

    ours.reset_state(o_state)
    theirs.reset_state(t_state)
    assert o_state.obj_ids == [] and t_state["obj_ids"] == []
    kwargs = {"frame_idx": 2, "obj_id": 7, "points": [[45, 40], [5, 5]], "labels": [1, 0]}
    _compare(
        "cond: after reset",
        ours.add_new_points_or_box(o_state, **kwargs),
        theirs.add_new_points_or_box(t_state, **kwargs),
    )
    _compare_propagation(
        "cond: after reset pass", ours, o_state, theirs, t_state, max_frame_num_to_track=3
    )


@torch.inference_mode()
def test_video_parity_official_correction_mode(video_setup):
    """Official default: a correction is a non-conditioning output, lost on re-propagation."""
    ours, o_state, theirs, t_state = _pair(video_setup, correction_as_cond=False)
    _add_objects(ours, o_state, theirs, t_state)
    first = _compare_propagation("official: pass 1", ours, o_state, theirs, t_state)
    kwargs = NEGATIVE_CLICK
    corrected = ours.add_new_points_or_box(o_state, **kwargs)
    _compare("official: correction", corrected, theirs.add_new_points_or_box(t_state, **kwargs))
    second = _compare_propagation("official: pass 2", ours, o_state, theirs, t_state)
    # in this mode the correction does not survive: frame 3 is recomputed as before
    assert torch.equal(first[3][2], second[3][2])
    assert 3 not in o_state.objects[1].cond_outputs


def _upcast_official_memory(official) -> None:
    """Let the official code run where it crashes on CPU (bf16 memory without any float32
    pointer to promote it): cast memories to float32 before memory attention."""

    def to_float(module, args, kwargs):
        kwargs = {k: v.float() if k in ("memory", "memory_pos") else v for k, v in kwargs.items()}
        return args, kwargs

    official.memory_attention.register_forward_pre_hook(to_float, with_kwargs=True)


@torch.inference_mode()
def test_reverse_from_last_frame_and_late_object(video_setup):
    """The two cases where the official code fails on CPU: we run them, and match the official
    numbers once its memory dtype is fixed."""
    ours, o_state, theirs, t_state = _pair(video_setup, correction_as_cond=True)
    _upcast_official_memory(theirs)
    kwargs = {"frame_idx": 0, "obj_id": 1, "points": [[35, 45]], "labels": [1]}
    _compare(
        "late: obj 1",
        ours.add_new_points_or_box(o_state, **kwargs),
        theirs.add_new_points_or_box(t_state, **kwargs),
    )
    _compare_propagation("late: pass 1", ours, o_state, theirs, t_state)
    # reverse propagation from the last frame (no object pointer there)
    _compare_propagation(
        "late: reverse from last",
        ours,
        o_state,
        theirs,
        t_state,
        start_frame_idx=NUM_FRAMES - 1,
        reverse=True,
    )
    # a new object first prompted on a later frame, then a forward pass from frame 0
    kwargs = {"frame_idx": 4, "obj_id": 2, "box": [40, 25, 90, 65]}
    _compare(
        "late: obj 2 on frame 4",
        ours.add_new_points_or_box(o_state, **kwargs),
        theirs.add_new_points_or_box(t_state, **kwargs),
    )
    _compare_propagation("late: pass with late object", ours, o_state, theirs, t_state)
