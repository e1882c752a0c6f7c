"""Malformed prompts and predictor options, as a table (see ``tests/support/bad_inputs.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sam2_engine import ImagePredictor, VideoPredictor
from sam2_engine.errors import PromptError
from sam2_engine.prompts import MAX_POINTS
from tests.support.bad_inputs import Case, nothing, ramp, run_case, video


def click(ctx: dict, **kwargs: Any):
    predictor, state = video(ctx, ramp(3, 32, 48))
    arguments = {"frame_idx": 0, "obj_id": 1, "points": [[5, 5]], "labels": [1], **kwargs}
    try:
        return predictor.add_new_points_or_box(state, **arguments)
    finally:
        assert state.obj_ids in ([], [1])


def propagate(ctx: dict, **kwargs: Any):
    predictor, state = video(ctx, ramp(3, 32, 48))
    predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])
    return next(predictor.propagate_in_video(state, **kwargs))


def mask_prompt(ctx: dict, mask: np.ndarray):
    predictor, state = video(ctx, ramp(3, 32, 48))
    try:
        return predictor.add_new_mask(state, 0, 1, mask)
    finally:
        assert state.obj_ids == []  # nothing half-done


def pile_up_points(ctx: dict):
    predictor, state = video(ctx, ramp(3, 32, 48))
    many = np.full((MAX_POINTS, 2), 5.0)
    predictor.add_new_points_or_box(state, 0, 1, points=many, labels=np.ones(MAX_POINTS))
    return predictor.add_new_points_or_box(
        state, 0, 1, points=[[6, 6]], labels=[1], clear_old_points=False
    )


def image_predict(ctx: dict, **kwargs: Any):
    predictor = ImagePredictor(ctx["model"])
    predictor.set_image(np.zeros((32, 48), np.uint8))
    return predictor.predict(point_coords=[[5, 5]], point_labels=[1], **kwargs)


CASES = [
    Case(
        "mask-prompt-full-of-nan",
        nothing,
        lambda c, _: mask_prompt(c, np.full((32, 48), np.nan, np.float32)),
        PromptError,
        r"mask contains 1536 NaN or infinite values \(of 1536\)",
    ),
    Case(
        "obj-id-1.7",
        nothing,
        lambda c, _: click(c, obj_id=1.7),
        PromptError,
        r"obj_id must be an integer, got 1\.7 \(float\) \(floats are not truncated",
    ),
    Case(
        "obj-id-true",
        nothing,
        lambda c, _: click(c, obj_id=True),
        PromptError,
        r"obj_id must be an integer, got the boolean True",
    ),
    Case(
        "frame-0.9",
        nothing,
        lambda c, _: click(c, frame_idx=0.9),
        PromptError,
        r"frame_idx must be an integer, got 0\.9",
    ),
    Case(
        "frame-true",
        nothing,
        lambda c, _: click(c, frame_idx=True),
        PromptError,
        r"frame_idx must be an integer, got the boolean True",
    ),
    Case(
        "flat-points-list",
        nothing,
        lambda c, _: click(c, points=[10, 20, 30, 40], labels=[1, 1]),
        PromptError,
        r"got a flat list of 4 numbers; write one \[x, y\] pair per point, e\.g\. "
        r"\[\[10, 20\], \[30, 40\]\]",
    ),
    Case(
        "fill-hole-area-negative",
        nothing,
        lambda c, _: VideoPredictor(c["model"], fill_hole_area=-5),
        ValueError,
        r"fill_hole_area must be >= 0, got -5",
    ),
    Case(
        "max-hole-area-negative",
        nothing,
        lambda c, _: ImagePredictor(c["model"], max_hole_area=-5),
        ValueError,
        r"max_hole_area must be >= 0, got -5",
    ),
    Case(
        "100000-points",
        nothing,
        lambda c, _: click(c, points=np.full((100_000, 2), 5.0), labels=np.ones(100_000)),
        PromptError,
        rf"100000 clicks in one prompt; at most {MAX_POINTS} are allowed",
    ),
    Case(
        "points-piling-up-past-the-limit",
        nothing,
        lambda c, _: pile_up_points(c),
        PromptError,
        rf"points \(with this frame's earlier clicks\): {MAX_POINTS + 1} clicks",
    ),
    Case(
        "multimask-output-string",
        nothing,
        lambda c, _: image_predict(c, multimask_output="no"),
        TypeError,
        r"multimask_output must be True or False, got 'no'",
    ),
    Case(
        "max-frame-num-negative",
        nothing,
        lambda c, _: propagate(c, max_frame_num_to_track=-3),
        PromptError,
        r"max_frame_num_to_track must be >= 0, got -3",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, small_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_case(case, small_model, tmp_path, monkeypatch)
