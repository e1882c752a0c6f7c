"""Frame intensity (pass-through, percentiles, given limits, NaN, odd dtypes) and the model
input (``to_model_input``, against the official video loader)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sam2_engine.frames import FrameSourceError, FrameSourceWarning, open_frames, to_model_input
from tests.support.frame_stacks import stack

# -- intensity -------------------------------------------------------------------------------


def test_uint8_passes_through_unchanged():
    data = stack(dtype=np.uint8, c=3)
    for limits in (None, (0, 255)):
        out = open_frames(data, contrast_limits=limits).read_rgb(2)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, data[2])
    gray = open_frames(data[..., 0]).read_rgb(1)
    np.testing.assert_array_equal(gray, np.repeat(data[1, :, :, :1], 3, axis=2))


def test_twelve_bit_camera_in_uint16_is_not_dark():
    rng = np.random.default_rng(8)
    data = rng.integers(100, 1500, (20, 32, 32)).astype(np.uint16)
    source = open_frames(data)
    out = source.read_rgb(7)
    assert out.dtype == np.float32 and out.shape == (32, 32, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.mean() > 0.3
    low, high = source.contrast_limits
    assert 100 <= low < 120 and 1480 < high <= 1500
    assert source.metadata["contrast_limits"] == [low, high]
    assert source.metadata["intensity"] == "percentiles"


def test_given_contrast_limits_are_used():
    data = np.full((2, 4, 4), 300, np.uint16)
    source = open_frames(data, contrast_limits=(200, 400))
    np.testing.assert_allclose(source.read_rgb(0), 0.5)
    assert source.metadata["intensity"] == "given"
    assert source.metadata["contrast_limits"] == [200.0, 400.0]
    adjusted = open_frames(data.astype(np.uint8) // 2, contrast_limits=(0, 100))
    assert adjusted.read_rgb(0).dtype == np.float32  # adjusted 8-bit limits are applied


def test_nan_and_inf_are_ignored_and_zeroed():
    data = np.linspace(0, 10, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    data[1, 0, :4] = [np.nan, np.inf, -np.inf, np.nan]
    source = open_frames(data)
    low, high = source.contrast_limits
    assert np.isfinite([low, high]).all() and 0 <= low < high <= 10
    out = source.read_rgb(1)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0, :4], 0.0)
    all_nan = open_frames(np.full((2, 4, 4), np.nan, np.float32))
    with pytest.raises(FrameSourceError, match="no finite value"):
        all_nan.read_rgb(0)  # a video with nothing to segment is refused, not tracked black
    one_nan = data.copy()
    one_nan[2] = np.nan
    with pytest.warns(FrameSourceWarning, match="frame 2 of numpy holds only NaN"):
        assert (open_frames(one_nan).read_rgb(2) == 0).all()  # one such frame: black, stated


def test_constant_and_boolean_images():
    constant = open_frames(np.full((3, 6, 6), 500, np.uint16))
    out = constant.read_rgb(0)
    assert np.isfinite(out).all() and (out == 0).all()
    mask = np.zeros((2, 6, 6), bool)
    mask[:, 2:4, 2:4] = True
    out = open_frames(mask).read_rgb(1)
    assert out[3, 3, 0] == 1.0 and out[0, 0, 0] == 0.0


def test_signed_and_float64_data():
    data = np.random.default_rng(9).normal(0, 1000, (4, 10, 10))
    for dtype in (np.int32, np.float64, np.int8):
        out = open_frames(data.astype(dtype)).read_rgb(2)
        assert out.dtype == np.float32 and 0.3 < out.mean() < 0.7


# -- to_model_input --------------------------------------------------------------------------


def test_to_model_input_matches_official_video_loader(tmp_path):
    import tests.support.oracle  # noqa: F401  (makes torchvision importable for the official package)

    # isort: split
    from sam2.utils.misc import load_video_frames

    rng = np.random.default_rng(10)
    y, x = np.mgrid[0:37, 0:53]
    for i in range(4):
        smooth = (np.sin(x / 7 + i) * 80 + np.cos(y / 5) * 60 + 120)[..., None]
        noisy = smooth + rng.normal(0, 20, (37, 53, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        (image.convert("L") if i == 2 else image).save(tmp_path / f"{i}.jpg", quality=90)
    size = 64
    official, height, width = load_video_frames(
        str(tmp_path), image_size=size, offload_video_to_cpu=True
    )
    source = open_frames(tmp_path)
    assert (height, width) == (source.height, source.width) == (37, 53)
    for i in range(len(source)):
        ours = to_model_input(source.read_rgb(i), size)
        assert ours.dtype == torch.float32 and ours.shape == (3, size, size)
        assert torch.equal(ours, official[i]), i


def test_to_model_input_float_path_follows_uint8_path():
    y, x = np.mgrid[0:30, 0:40]
    smooth = np.stack([x * 5 + 20, y * 6 + 10, (x + y) * 3 + 30], axis=-1)
    frame = (smooth + np.random.default_rng(11).integers(0, 20, smooth.shape)).astype(np.uint8)
    exact = to_model_input(frame, 48)
    from_float = to_model_input(frame.astype(np.float32) / 255.0, 48)
    # Away from saturation only the uint8 path's rounding (after each of PIL's two passes)
    # differs: about one grey level, over the smallest std.
    assert (exact - from_float).abs().max() <= 1.1 / 255 / 0.224
    gray = to_model_input(np.full((9, 9), 0.5, np.float32), 16)
    assert gray.shape == (3, 16, 16) and torch.allclose(gray[:, 0, 0], gray[:, -1, -1])
