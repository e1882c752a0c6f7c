"""Bad input to the engine: one clear error each, naming what was wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2_engine import ImagePredictor, VideoPredictor, get_config, load_model
from sam2_engine.build import save_random_checkpoint
from sam2_engine.errors import (
    CheckpointMismatchError,
    ImageInputError,
    PromptError,
    VideoStateError,
)


@pytest.fixture(scope="module")
def image_predictor(small_model):
    predictor = ImagePredictor(small_model)
    predictor.set_image(np.zeros((40, 60, 3), np.uint8))
    return predictor


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="sam2.1_hiera_tiny.*sam2_hiera_large"):
        get_config("sam2_hiera_huge")


def test_checkpoint_of_another_model_is_named(tmp_path):
    path = save_random_checkpoint(tmp_path / "tiny.pt", "sam2.1_hiera_tiny")
    with pytest.raises(CheckpointMismatchError) as err:
        load_model("sam2_hiera_small", checkpoint=path, device="cpu")
    message = str(err.value)
    assert "sam2.1_hiera_tiny" in message  # what the file seems to be
    assert "missing" in message.lower() and "unexpected" in message.lower()
    assert str(path) in message


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((5, 40, 60, 3), np.uint8), "must be \\(H, W\\) gray or \\(H, W, 3\\) RGB"),
        (np.zeros((40, 60, 4), np.uint8), "RGBA"),
        (np.zeros((3, 40, 60), np.uint8), "channels first"),
        (np.zeros((0, 60), np.uint8), "empty"),
        (np.full((40, 60), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((40, 60), bool), "must hold numbers"),
        ("image.png", "numpy array or PIL image"),
    ],
)
def test_bad_images(small_model, image, message):
    with pytest.raises(ImageInputError, match=message):
        ImagePredictor(small_model).set_image(image)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"point_coords": [[10, 10], [20, 20]], "point_labels": [1]}, "one value per point"),
        ({"point_coords": [[10, 10]], "point_labels": [7]}, "labels must be 1"),
        ({"point_coords": [[10, 10]]}, "given together"),
        ({"point_coords": [[100, 10]], "point_labels": [1]}, "outside the image"),
        ({"point_coords": [[np.nan, 10]], "point_labels": [1]}, "NaN"),
        ({"box": [10, 10, 5]}, "x0, y0, x1, y1"),
        ({"box": [30, 30, 10, 10]}, "x1 >= x0"),
        ({"mask_input": np.zeros((1, 32, 32))}, "low-res logits"),
    ],
)
def test_bad_prompts(image_predictor, kwargs, message):
    with pytest.raises(PromptError, match=message):
        image_predictor.predict(**kwargs)


def test_predict_without_image(small_model):
    with pytest.raises(RuntimeError, match="set_image"):
        ImagePredictor(small_model).predict(point_coords=[[1, 1]], point_labels=[1])


@pytest.fixture
def video_state(small_model):
    predictor = VideoPredictor(small_model)
    return predictor, predictor.init_state(np.zeros((4, 32, 48), np.uint8))


def test_bad_video_calls(video_state):
    predictor, state = video_state
    with pytest.raises(IndexError, match="frame_idx 4 is outside the video \\(frames 0..3\\)"):
        predictor.add_new_points_or_box(state, 4, 1, points=[[1, 1]], labels=[1])
    with pytest.raises(VideoStateError, match="add points, a box or a mask"):
        next(predictor.propagate_in_video(state))
    with pytest.raises(VideoStateError, match="unknown object id 5"):
        predictor.clear_all_prompts_in_frame(state, 0, 5)
    with pytest.raises(VideoStateError, match="does not exist"):
        predictor.remove_object(state, 5, strict=True)
    with pytest.raises(ValueError, match="points .* or a box"):
        predictor.add_new_points_or_box(state, 0, 1)
    with pytest.raises(PromptError, match="outside the image"):
        predictor.add_new_points_or_box(state, 0, 1, box=[0, 0, 60, 20])
    with pytest.raises(ValueError, match="clear_old_points=True"):
        predictor.add_new_points_or_box(state, 0, 1, box=[0, 0, 6, 6], clear_old_points=False)
    with pytest.raises(PromptError, match="mask has shape"):
        predictor.add_new_mask(state, 0, 1, np.zeros((10, 10), bool))
    assert state.obj_ids == []  # nothing half-done


def test_frames_that_change_shape(small_model):
    from sam2_engine.frames import FrameSource

    class Changing(FrameSource):
        def __len__(self):
            return 3

        height = property(lambda self: 32)
        width = property(lambda self: 48)
        dtype = property(lambda self: np.dtype(np.uint8))

        def read(self, index):
            return np.zeros((32, 48) if index < 2 else (30, 48), np.uint8)

    predictor = VideoPredictor(small_model)
    state = predictor.init_state(Changing())
    predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])
    with torch.inference_mode(), pytest.raises(Exception, match="frame 2"):
        list(predictor.propagate_in_video(state))
    assert sorted(state.objects[1].tracked) == [0, 1]


def test_reduced_precision_is_opt_in_and_close(small_model):
    """bf16 autocast (CPU here; the same switch serves CUDA) runs and stays near fp32."""
    image = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    results = {}
    for precision in ("fp32", "bf16"):
        predictor = ImagePredictor(small_model, precision=precision)
        predictor.set_image(image)
        masks, scores, _ = predictor.predict(point_coords=[[30, 20]], point_labels=[1])
        results[precision] = (masks, scores)
    assert np.abs(results["fp32"][1] - results["bf16"][1]).max() < 0.05
    agree = (results["fp32"][0] == results["bf16"][0]).mean()
    assert agree > 0.9
    video = VideoPredictor(small_model, precision="bf16")
    state = video.init_state(np.stack([image[..., 0]] * 3))
    video.add_new_points_or_box(state, 0, 1, points=[[30, 20]], labels=[1])
    frames = list(video.propagate_in_video(state))
    assert len(frames) == 3 and all(torch.isfinite(m).all() for _, _, m in frames)
    with pytest.raises(ValueError, match="fp16"):
        ImagePredictor(small_model, precision="fp16")
    with pytest.raises(ValueError, match="Unknown precision"):
        VideoPredictor(small_model, precision="int8")


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float64])
def test_non_8bit_images_are_accepted(small_model, dtype):
    """16-bit, other ints and floats outside [0, 1] are stretched between robust percentiles."""
    rng = np.random.default_rng(0)
    image = (rng.random((40, 60)) * 3000 + 100).astype(dtype)
    predictor = ImagePredictor(small_model)
    predictor.set_image(image)
    masks, scores, _ = predictor.predict(point_coords=[[30, 20]], point_labels=[1])
    assert masks.shape == (3, 40, 60) and np.isfinite(scores).all()
