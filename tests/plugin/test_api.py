"""The scripted API (napari_sam2.api): same results as the engine called directly, outputs,
provenance, streaming, interruption and the errors users meet."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import napari_sam2
from napari_sam2 import api
from napari_sam2.session import FramePrompt, Session, SessionError, SessionObject, save_session
from sam2_engine import ImagePredictor, VideoPredictor, load_model
from sam2_engine.errors import ModelNotFoundError
from sam2_engine.publish import LEDGER_NAME
from sam2_engine.sinks import merge_to_labels
from sam2_engine.weights import file_sha256

PROMPTS = {
    1: {2: {"points": [[20, 16], [40, 30]], "labels": [1, 0]}},
    2: {3: {"box": [5, 5, 30, 25]}},
}


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    """(5, 48, 64) uint8: two bright blobs drifting over a dim gradient."""
    yy, xx = np.mgrid[0:48, 0:64]
    frames = []
    for t in range(5):
        blob = ((yy - 16) ** 2 + (xx - 20 - 2 * t) ** 2 < 64) | (
            (yy - 30) ** 2 + (xx - 45) ** 2 < 36
        )
        frames.append((40 + xx + 150 * blob).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def model_args(small_checkpoint) -> dict:
    """The small test model at a 128 px input (the checkpoint fits any input size)."""
    config, path = small_checkpoint
    config = replace(config, image_size=128)
    return {"model": config, "checkpoint": path, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def tracked(model_args, video) -> tuple[np.ndarray, dict]:
    """``track(video, PROMPTS)`` with the defaults (both directions, in memory) and its info."""
    return api.track(video, PROMPTS, return_info=True, **model_args)


def engine_labels(model_args, video, prompts, passes) -> np.ndarray:
    """The label stack made by calling the engine directly: ``passes`` are (start frame,
    reverse) propagations."""
    config, path = model_args["model"], model_args["checkpoint"]
    predictor = VideoPredictor(load_model(config, checkpoint=path, device="cpu"))
    state = predictor.init_state(video)
    for obj_id, per_frame in prompts.items():
        for frame, spec in per_frame.items():
            predictor.add_new_points_or_box(
                state, frame, obj_id, points=spec.get("points"), labels=spec.get("labels"),
                box=spec.get("box"),
            )  # fmt: skip
    labels = np.zeros(video.shape, np.uint16)
    for start, reverse in passes:
        for t, ids, masks in predictor.propagate_in_video(state, start, reverse=reverse):
            labels[t] = merge_to_labels(ids, masks, dtype=np.uint16)
    return labels


def test_import_stays_light_and_reexports_lazily() -> None:
    code = (
        "import sys, napari_sam2\n"
        "assert 'torch' not in sys.modules, 'import napari_sam2 imported torch'\n"
        "assert callable(napari_sam2.track), 'no track()'\n"
        "assert 'torch' not in sys.modules, 'looking up track() imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert napari_sam2.segment_image is api.segment_image


def test_track_matches_the_engine(small_checkpoint, model_args, video, tracked) -> None:
    labels, info = tracked
    # "both": forward from the earliest prompted frame (2), then backward from frame 1
    expected = engine_labels(model_args, video, PROMPTS, passes=((2, False), (1, True)))
    assert labels.dtype == np.uint16 and labels.shape == video.shape
    np.testing.assert_array_equal(labels, expected)
    assert set(np.unique(labels)) == {0, 1, 2}  # both objects found (object score biased)
    assert info["checkpoint_sha256"] == file_sha256(small_checkpoint[1])
    assert info["model"] == "test_small" and info["frames"] == [0, 5]
    assert info["image_size"] == 128
    assert (
        info["objects"] == [1, 2] and info["software"] == f"napari-sam2 {napari_sam2.__version__}"
    )


def test_track_forward_backward_and_frame_range(model_args, video) -> None:
    forward = api.track(video, PROMPTS, direction="forward", **model_args)
    np.testing.assert_array_equal(
        forward, engine_labels(model_args, video, PROMPTS, passes=((2, False),))
    )
    assert not forward[:2].any()
    backward = api.track(video, PROMPTS, direction="backward", frames=(1, 4), **model_args)
    assert backward.shape == (3, 48, 64)  # frames 1..3: labels[i] is frame 1 + i
    np.testing.assert_array_equal(
        backward, engine_labels(model_args, video, PROMPTS, passes=((3, True),))[1:4]
    )


def test_stream_yields_frames_as_tracked(model_args, video, tracked) -> None:
    whole = tracked[0]
    streamed = list(api.track(video, PROMPTS, stream=True, **model_args))
    assert [t for t, _ in streamed] == [2, 3, 4, 1, 0]  # forward, then back from 1: once each
    for t, labels in streamed:
        np.testing.assert_array_equal(labels, whole[t])


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_track_writes_files_with_provenance(
    tmp_path, small_checkpoint, model_args, video, tracked, suffix
):
    out = tmp_path / f"labels{suffix}"
    written = api.track(video, PROMPTS, output=out, **model_args)
    np.testing.assert_array_equal(np.asarray(written), tracked[0])
    names = {p.name for p in tmp_path.iterdir()}
    assert out.name in names and names <= {out.name, LEDGER_NAME}  # no .partial or lock left
    info = api.read_info(out)
    assert info["checkpoint_sha256"] == file_sha256(small_checkpoint[1])
    assert info["model"] == "test_small" and info["direction"] == "both"
    with pytest.raises(FileExistsError, match="already exists"):
        api.track(video, PROMPTS, output=out, **model_args)


def test_track_fills_a_given_array_and_replays_a_session(tmp_path, model_args, video, tracked):
    target = np.full((5, 48, 64), 7, np.int32)
    session = Session(
        source={"shape": [5, 48, 64]},
        objects=[SessionObject(1), SessionObject(2)],
        prompts=[
            FramePrompt(2, 1, points=[[20, 16], [40, 30]], labels=[1, 0]),
            FramePrompt(3, 2, box=[5, 5, 30, 25]),
        ],
    )
    path = save_session(session, tmp_path / "session.json")
    assert api.track(video, path, output=target, **model_args) is target
    np.testing.assert_array_equal(target, tracked[0])


def test_a_session_replays_with_its_options_unless_told_otherwise(model_args, video) -> None:
    session = api._as_session(PROMPTS)
    session.settings = {"precision": "bf16", "fill_hole_area": 0, "direction": "forward"}
    _, info = api.track(video, session, return_info=True, **model_args)
    assert info["options"]["precision"] == "bf16" and info["options"]["fill_hole_area"] == 0
    _, info = api.track(video, session, precision="fp32", return_info=True, **model_args)
    assert info["options"]["precision"] == "fp32" and info["options"]["fill_hole_area"] == 0
    session.settings = {"max_frames_in_memory": "abc"}
    with pytest.raises(SessionError, match="max_frames_in_memory must be a whole number"):
        api.track(video, session, **model_args)
    with pytest.raises(ValueError, match=r"unknown options \['fill_holes'\]"):
        api.track(video, PROMPTS, fill_holes=3, **model_args)


def test_segment_image_matches_the_engine(model_args, video) -> None:
    config, path = model_args["model"], model_args["checkpoint"]
    predictor = ImagePredictor(load_model(config, checkpoint=path, device="cpu"))
    predictor.set_image(video[0])
    masks, scores, _ = predictor.predict([[20, 16]], [1], multimask_output=False)
    mask, score = api.segment_image(
        video[0], [[20, 16]], model=config, checkpoint=path, device="cpu", return_score=True
    )
    assert mask.dtype == bool and mask.shape == (48, 64)
    np.testing.assert_array_equal(mask, masks[0] > 0)
    assert score == pytest.approx(float(scores[0]))
    with pytest.raises(ValueError, match="give points"):
        api.segment_image(video[0], model=config, checkpoint=path)


def test_models_are_cached_per_settings(model_args) -> None:
    args = {k: model_args[k] for k in ("checkpoint", "device")}
    first = api.get_model(model_args["model"], **args)
    assert api.get_model(model_args["model"], **args) is first
    assert api.get_model(model_args["model"], image_size=96, **args) is not first


def test_interrupted_track_keeps_finished_frames(tmp_path, monkeypatch, model_args, video):
    expected = api.track(video, PROMPTS, direction="forward", **model_args)
    original = VideoPredictor.propagate_in_video

    def interrupted(self, state, *args, **kwargs):
        for done, item in enumerate(original(self, state, *args, **kwargs)):
            if done == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(VideoPredictor, "propagate_in_video", interrupted)
    out = tmp_path / "labels.tif"
    with pytest.raises(KeyboardInterrupt):
        api.track(video, PROMPTS, direction="forward", output=out, **model_args)
    import tifffile

    assert not out.exists()
    kept = tifffile.imread(tmp_path / "labels.tif.partial")
    np.testing.assert_array_equal(kept[2:4], expected[2:4])  # frames 2 and 3 were finished
    assert not kept[4].any() and expected[4].any()


@pytest.mark.parametrize(
    "prompts, error, message",
    [
        ({1: {9: {"points": [[5, 5]]}}}, SessionError, "frame 9 does not exist"),
        ({1: {0: {"points": [[5, 5]], "labels": [1, 1]}}}, SessionError, "1 points but 2"),
        ({1: {0: {"point": [[5, 5]]}}}, SessionError, "unknown keys"),
        ({1: {0: {"points": [[500, 5]]}}}, SessionError, "outside the 64 x 48 frame"),
        ([[5, 5]], SessionError, "prompts must be a dict"),
    ],
)
def test_bad_prompts_are_explained(model_args, video, prompts, error, message) -> None:
    with pytest.raises(error, match=message):
        api.track(video, prompts, **model_args)


def test_other_bad_input_is_explained(tmp_path, monkeypatch, model_args, video) -> None:
    with pytest.raises(ValueError, match="Valid names: sam2.1_hiera_tiny"):
        api.track(video, PROMPTS, model="sam3_huge")
    monkeypatch.setenv("NAPARI_SAM2_HOME", str(tmp_path / "empty"))
    with pytest.raises(ModelNotFoundError, match="not in the cache.*models download.*allow_"):
        api.track(video, PROMPTS, model="sam2.1_hiera_tiny")
    with pytest.raises(SessionError, match="frame 7 does not exist"):  # checked before loading
        api.track(video, {1: {7: {"points": [[5, 5]]}}}, model="sam2.1_hiera_tiny")
    with pytest.raises(ValueError, match="direction must be one of"):
        api.track(video, PROMPTS, direction="sideways", **model_args)
    with pytest.raises(SessionError, match=r"outside the frames to track \(3..4\)"):
        api.track(video, PROMPTS, frames=slice(3, None), **model_args)
    with pytest.raises(ValueError, match="must end in one of .ome.zarr, .tif, .tiff, .zarr"):
        api.track(video, PROMPTS, output=tmp_path / "labels.png", **model_args)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        api.track(video, PROMPTS, output=tmp_path / "missing" / "labels.tif", **model_args)
    with pytest.raises(ValueError, match="multiple of 32"):
        api.get_model(model_args["model"], checkpoint=model_args["checkpoint"], image_size=100)
