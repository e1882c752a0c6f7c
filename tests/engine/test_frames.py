"""Frame sources: arrays, TIFF, zarr, folders; layouts, intensity, preprocessing, bad input.

Video files are tested in ``test_video_source.py``. Every file is generated in ``tmp_path``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from sam2_engine.frames import (
    ArraySource,
    FolderSource,
    FrameFileNotFoundError,
    FrameReadError,
    FrameSource,
    FrameSourceError,
    FrameSourceWarning,
    TiffSource,
    ZarrSource,
    natural_key,
    open_frames,
    to_model_input,
)
from sam2_engine.frames.intensity import sample_indices


def stack(t: int = 6, h: int = 20, w: int = 24, dtype: type = np.uint16, c: int = 0) -> np.ndarray:
    """A stack whose frame ``i`` holds ``i`` at pixel (0, 0) and a ramp elsewhere."""
    shape = (t, h, w) if not c else (t, h, w, c)
    data = (np.arange(np.prod(shape)) % 997).reshape(shape).astype(dtype)
    data[:, 0, 0] = np.arange(t)[:, None] if c else np.arange(t)
    return data


class CountingArray:
    """A read-only array-like that records which leading indices were read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.touched: list[int] = []

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        first = key[0]
        if isinstance(first, slice):
            self.touched.extend(range(*first.indices(self.shape[0])))
        else:
            self.touched.append(int(first))
        return self.data[key]


# -- the interface and numpy -----------------------------------------------------------------


def test_numpy_source_interface():
    data = stack()
    source = open_frames(data)
    assert isinstance(source, ArraySource) and isinstance(source, FrameSource)
    assert (len(source), source.height, source.width, source.dtype) == (6, 20, 24, np.uint16)
    assert source.metadata["axes"] == "TYX" and source.metadata["axes_source"] == "guessed"
    frame = source.read(4)
    np.testing.assert_array_equal(frame, data[4])
    frame[:] = 0  # the caller's copy: the data is untouched
    assert data[4, 5, 5] != 0
    assert [int(f[0, 0]) for f in source] == list(range(6))
    assert source[np.int64(2)][0, 0] == 2
    assert open_frames(source) is source
    with pytest.raises(IndexError, match="frame index 6 is out of range .* 6 frames"):
        source.read(6)
    with pytest.raises(IndexError, match="-1"):
        source.read(-1)


def test_2d_image_is_one_frame_and_rgb_guess():
    gray = open_frames(np.zeros((10, 12), np.uint8))
    assert len(gray) == 1 and gray.metadata["axes"] == "YX" and gray.metadata["axis"] is None
    rgb = open_frames(np.zeros((10, 12, 3), np.uint8))
    assert len(rgb) == 1 and rgb.metadata["axes"] == "YXC" and rgb.read(0).shape == (10, 12, 3)
    rgba = open_frames(np.zeros((5, 10, 12, 4), np.uint8))
    assert rgba.metadata["axes"] == "TYXC" and rgba.read_rgb(0).shape == (10, 12, 3)


class TwoFrames(FrameSource):
    """The smallest custom source: what a colleague's source has to implement."""

    def __init__(self) -> None:
        self.data = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
        super().__init__(contrast_limits=(0, 39))

    def __len__(self) -> int:
        return 2

    height, width, dtype = property(lambda s: 4), property(lambda s: 5), np.dtype(np.uint16)

    def read(self, index: int) -> np.ndarray:
        return self.data[self._check_index(index)].copy()


def test_custom_source_gets_read_rgb_and_passes_through_open_frames():
    source = TwoFrames()
    assert open_frames(source) is source
    out = source.read_rgb(1)
    assert out.shape == (4, 5, 3) and out.dtype == np.float32
    assert out[-1, -1, 0] == 1.0 and out[0, 0, 2] == pytest.approx(20 / 39)
    assert "TwoFrames" in repr(source) and "2 frames of 4x5 uint16" in repr(source)


# -- layouts ---------------------------------------------------------------------------------


def test_layout_tyxc_rgb_and_channel_choice():
    data = stack(c=3, dtype=np.uint8)
    source = open_frames(data)
    assert source.metadata["axes"] == "TYXC" and source.metadata["channel"] == [0, 1, 2]
    np.testing.assert_array_equal(source.read(2), data[2])
    gray = open_frames(data, channel=1)
    np.testing.assert_array_equal(gray.read(2), data[2, :, :, 1])
    swapped = open_frames(data, channel=(2, 1, 0))
    np.testing.assert_array_equal(swapped.read(3), data[3, :, :, ::-1])


def test_layout_tcyx_channels():
    data = np.random.default_rng(0).integers(0, 4000, (4, 5, 8, 9)).astype(np.uint16)
    source = open_frames(data, axes="TCYX", channel=3)
    np.testing.assert_array_equal(source.read(1), data[1, 3])
    rgb = open_frames(data, axes="tcyx", channel=(4, 0, 2))
    np.testing.assert_array_equal(rgb.read(2), data[2][[4, 0, 2]].transpose(1, 2, 0))
    wide = np.random.default_rng(1).integers(0, 9, (3, 10, 6, 7)).astype(np.int16)
    far = open_frames(wide, axes="TCYX", channel=(9, 0, 5))  # read one channel at a time
    np.testing.assert_array_equal(far.read(1), wide[1][[9, 0, 5]].transpose(1, 2, 0))
    default = open_frames(data, axes="TCYX")
    assert default.metadata["channel"] == 0  # 5 channels: not colour, first channel as gray


def test_layout_zyx_is_a_video_along_z():
    volume = stack(t=7)
    source = open_frames(volume, axes="ZYX")
    assert len(source) == 7 and source.metadata["axis"] == "Z"
    np.testing.assert_array_equal(source.read(5), volume[5])


def test_layout_tzyx_pick_axis_and_index():
    data = np.random.default_rng(2).integers(0, 1000, (5, 6, 8, 9)).astype(np.uint16)
    along_z = open_frames(data, axes="TZYX", axis="Z", index={"T": 3})
    assert len(along_z) == 6 and along_z.metadata["index"] == {"T": 3}
    np.testing.assert_array_equal(along_z.read(4), data[3, 4])
    along_t = open_frames(data, axes="TZYX", index={"z": 2})
    assert len(along_t) == 5 and along_t.metadata["axis"] == "T"
    np.testing.assert_array_equal(along_t.read(1), data[1, 2])
    transposed = open_frames(data[0], axes="ZXY")  # image axes in any order
    np.testing.assert_array_equal(transposed.read(2), data[0, 2].T)


def test_layout_tczyx_five_d():
    data = np.random.default_rng(3).integers(0, 100, (3, 2, 4, 6, 7)).astype(np.uint8)
    source = open_frames(data, axis="Z", index={"T": 2}, channel=1)
    assert source.metadata["axes"] == "TCZYX" and len(source) == 4
    np.testing.assert_array_equal(source.read(3), data[2, 1, 3])


# -- dask and laziness -----------------------------------------------------------------------


def test_dask_reads_one_frame_per_call():
    da = pytest.importorskip("dask.array")
    data = stack(t=100, dtype=np.uint16)
    counter = CountingArray(data)
    lazy = da.from_array(counter, chunks=(1, 20, 24), asarray=False)
    source = open_frames(lazy)
    assert source.metadata["kind"] == "dask" and counter.touched == []
    np.testing.assert_array_equal(source.read(37), data[37])
    assert sorted(set(counter.touched)) == [37]
    counter.touched.clear()
    source.read_rgb(50)  # estimates contrast limits from a sample of frames
    assert 50 in counter.touched
    assert len(set(counter.touched)) <= 17
    assert set(counter.touched) <= set(sample_indices(100)) | {50}


def test_dask_multichannel_layer_data():
    da = pytest.importorskip("dask.array")
    data = np.random.default_rng(4).integers(0, 60000, (8, 3, 16, 16)).astype(np.uint16)
    lazy = da.from_array(data, chunks=(1, 1, 16, 16))
    source = open_frames(lazy, axes="TCYX", channel=(0, 1, 2), contrast_limits=(0, 60000))
    out = source.read_rgb(5)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, data[5].transpose(1, 2, 0) / 60000.0, rtol=1e-6)


# -- TIFF ------------------------------------------------------------------------------------


def test_tiff_multipage_contiguous(tmp_path):
    data = stack(t=9)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data)
    source = open_frames(path)
    assert isinstance(source, TiffSource) and source.metadata["tiff_access"] == "contiguous"
    assert source.metadata["axes"] == "TYX" and len(source) == 9
    np.testing.assert_array_equal(source.read(8), data[8])


def test_tiff_compressed_reads_page_by_page(tmp_path, monkeypatch):
    data = stack(t=40)
    path = tmp_path / "compressed.tiff"
    tifffile.imwrite(path, data, compression="zlib")

    def whole_file(*args, **kwargs):
        raise AssertionError("the whole TIFF was read")

    monkeypatch.setattr(tifffile.TiffFile, "asarray", whole_file)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", whole_file)
    with open_frames(path) as source:
        assert source.metadata["tiff_access"] == "pages" and source.array.reads == 0
        np.testing.assert_array_equal(source.read(17), data[17])
        assert source.array.reads == 1
        source.read(3)
        assert source.array.reads == 2


def test_ome_tiff_axes_from_metadata(tmp_path):
    data = np.random.default_rng(5).integers(0, 4095, (4, 2, 3, 12, 14)).astype(np.uint16)
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, data, metadata={"axes": "TCZYX"}, compression="zlib")
    source = open_frames(path, axis="Z", index={"T": 1}, channel=1)
    assert source.metadata["ome"] and source.metadata["axes_source"] == "file"
    assert source.metadata["axes"] == "TCZYX" and len(source) == 3
    np.testing.assert_array_equal(source.read(2), data[1, 1, 2])
    assert source.array.reads == 1
    source.close()


def test_rgb_tiff_samples_become_channels(tmp_path):
    data = stack(t=3, c=3, dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, data, photometric="rgb")
    source = open_frames(path)
    assert source.metadata["axes"] == "TYXC"
    np.testing.assert_array_equal(source.read_rgb(1), data[1])


# -- zarr ------------------------------------------------------------------------------------


def write_ome_zarr(path, data, zarr_format: int):
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    types = ["time", "channel", "space", "space", "space"]
    axes = [{"name": n, "type": t} for n, t in zip("tczyx", types, strict=True)]
    levels = [data, data[..., ::2, ::2]]
    for k, level in enumerate(levels):
        array = root.create_array(
            str(k), shape=level.shape, chunks=(1, 1, 1, *level.shape[-2:]), dtype=level.dtype
        )
        array[...] = level
    datasets = [{"path": str(k), "coordinateTransformations": []} for k in range(2)]
    multiscales = [{"axes": axes, "datasets": datasets, "name": "cells"}]
    if zarr_format == 3:
        root.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        root.attrs["multiscales"] = [{**multiscales[0], "version": "0.4"}]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_ome_zarr_first_level(tmp_path, zarr_format):
    data = np.random.default_rng(6).integers(0, 4000, (5, 2, 3, 16, 18)).astype(np.uint16)
    path = tmp_path / f"image_v{zarr_format}.ome.zarr"
    write_ome_zarr(path, data, zarr_format)
    source = open_frames(path, channel=1, index={"Z": 2})
    assert isinstance(source, ZarrSource) and source.metadata["ome_zarr"]
    assert source.metadata["zarr_format"] == zarr_format and source.metadata["level"] == "0"
    assert source.metadata["axes"] == "TCZYX" and source.metadata["axes_source"] == "file"
    assert (len(source), source.height, source.width) == (5, 16, 18)
    np.testing.assert_array_equal(source.read(4), data[4, 1, 2])


def test_plain_zarr_v2_array_and_opened_objects(tmp_path):
    zarr = pytest.importorskip("zarr")
    data = stack(t=7, dtype=np.float32)
    path = tmp_path / "plain.zarr"
    array = zarr.open_array(
        str(path), mode="w", shape=data.shape, chunks=(1, 20, 24), dtype=data.dtype, zarr_format=2
    )
    array[...] = data
    source = open_frames(path)
    assert source.metadata["zarr_format"] == 2 and source.metadata["axes"] == "TYX"
    np.testing.assert_array_equal(source.read(6), data[6])
    opened = open_frames(zarr.open_array(str(path), mode="r"))
    assert opened.metadata["kind"] == "zarr"
    np.testing.assert_array_equal(opened.read(2), data[2])


def test_zarr_group_with_several_arrays_is_an_error(tmp_path):
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(tmp_path / "two.zarr"), mode="w")
    root.create_array("a", shape=(2, 4, 4), dtype="u1")
    root.create_array("b", shape=(2, 4, 4), dtype="u1")
    with pytest.raises(FrameSourceError, match=r"two\.zarr.*several arrays \(a, b\)"):
        open_frames(tmp_path / "two.zarr")


# -- folders ---------------------------------------------------------------------------------


def test_natural_sort_key():
    names = ["img10.png", "img2.png", "IMG1.png", "img1b.png", "img01.png"]
    assert sorted(names, key=natural_key) == [
        "IMG1.png",
        "img01.png",
        "img1b.png",
        "img2.png",
        "img10.png",
    ]


def test_folder_awkward_names(tmp_path):
    frames = {
        name: stack(t=1, dtype=np.uint8, c=3)[0] + k
        for k, name in enumerate(["img1.png", "img2.png", "img10.png"])
    }
    for name, frame in frames.items():
        Image.fromarray(frame).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"AppleDouble junk")
    (tmp_path / "sub").mkdir()
    source = open_frames(tmp_path)
    assert isinstance(source, FolderSource) and len(source) == 3
    assert [p.name for p in source.paths] == ["img1.png", "img2.png", "img10.png"]
    np.testing.assert_array_equal(source.read(2), frames["img10.png"])
    np.testing.assert_array_equal(source.read_rgb(1), frames["img2.png"])
    assert source.array.reads == 2  # opening read headers only


def test_folder_16bit_png_and_tiff(tmp_path):
    data = np.random.default_rng(7).integers(100, 1500, (3, 12, 10)).astype(np.uint16)
    for i, frame in enumerate(data):
        Image.fromarray(frame).save(tmp_path / f"t{i}.png")
    source = open_frames(tmp_path)
    assert source.dtype == np.uint16
    np.testing.assert_array_equal(source.read(1), data[1])
    tiffs = tmp_path / "tiffs"
    tiffs.mkdir()
    for i, frame in enumerate(data):
        tifffile.imwrite(tiffs / f"frame_{i}.tif", frame)
    np.testing.assert_array_equal(open_frames(tiffs).read(2), data[2])


def test_single_image_file(tmp_path):
    image = stack(t=1, dtype=np.uint8, c=3)[0]
    Image.fromarray(image).save(tmp_path / "one.png")
    source = open_frames(tmp_path / "one.png")
    assert len(source) == 1
    np.testing.assert_array_equal(source.read(0), image)


def test_folder_mixed_gray_and_rgb_jpegs_promote_to_rgb(tmp_path):
    rgb = stack(t=1, h=16, w=16, dtype=np.uint8, c=3)[0]
    Image.fromarray(rgb).save(tmp_path / "0.jpg")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "1.jpg")
    source = open_frames(tmp_path)
    gray = np.asarray(Image.open(tmp_path / "1.jpg").convert("RGB"))
    np.testing.assert_array_equal(source.read(1), gray)


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


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"axes": "TYX"}, r"axes='TYX' has 3 letters but the data has 4 dimensions"),
        ({"axes": "TQYX"}, r"axes='TQYX': unknown axis letter 'Q'"),
        ({"axes": "TTYX"}, r"axes='TTYX' repeats"),
        ({"axes": "TZCY"}, r"axes='TZCY' must contain both Y and X"),
        ({"axes": "TZYX", "axis": "W"}, r"axis='W': unknown axis letter"),
        ({"axes": "TZYX", "axis": "C"}, r"axis='C' is not one of the data's axes 'TZYX'"),
        ({"axes": "TZYX", "axis": "Y"}, r"axis='Y': frames can only be taken along T or Z"),
        ({"axes": "TZYX", "index": {"Z": 9}}, r"index=.*Z=9 is out of range"),
        ({"axes": "TZYX", "index": {"Q": 1}}, r"index=.*unknown axis letter 'Q'"),
        ({"axes": "TZYX", "index": {"T": 1}}, r"index=.*'T' is an image axis or the frame axis"),
        ({"axes": "TCYX", "channel": 5}, r"channel=5 is out of range: the data has 3 channels"),
        ({"axes": "TCYX", "channel": (0, 1, 3)}, r"channel=\(0, 1, 3\) is out of range"),
        ({"axes": "TCYX", "channel": (0, 1)}, r"channel=\(0, 1\) must be one channel"),
        ({"axes": "TZYX", "channel": 0}, r"channel=0 was given but the data has no channel axis"),
        ({"contrast_limits": (5, 1)}, r"contrast_limits=\(5, 1\) must be finite with low <= high"),
        ({"contrast_limits": (0, np.nan)}, r"contrast_limits="),
        ({"percentiles": (50, 10)}, r"percentiles=\(50, 10\)"),
    ],
)
def test_bad_layout_arguments_name_the_argument(kwargs, match):
    data = np.zeros((4, 3, 8, 8), np.uint16)
    with pytest.raises(FrameSourceError, match=match) as info:
        open_frames(data, **kwargs)
    assert isinstance(info.value, ValueError)


def test_zero_frames_and_too_few_dimensions():
    with pytest.raises(FrameSourceError, match=r"zero frames along axis 'T'"):
        open_frames(np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(FrameSourceError, match=r"at least 2 dimensions"):
        open_frames(np.zeros(8, np.uint8))
    with pytest.raises(FrameSourceError, match=r"cannot guess the axes of a 6-D array"):
        open_frames(np.zeros((1,) * 6 + (4, 4), np.uint8)[0, 0])


def test_bad_paths_name_the_file(tmp_path):
    missing = tmp_path / "nowhere.tif"
    with pytest.raises(FrameFileNotFoundError, match="nowhere.tif") as info:
        open_frames(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    other = tmp_path / "data.xyz"
    other.write_text("?")
    with pytest.raises(FrameSourceError, match=r"data\.xyz is not a supported file type"):
        open_frames(other)
    corrupt = tmp_path / "broken.tif"
    corrupt.write_bytes(b"II*\x00garbage" * 10)
    with pytest.raises(FrameSourceError, match=r"broken\.tif is not a readable TIFF"):
        open_frames(corrupt)
    with pytest.raises(FrameSourceError, match=r"not supported"):
        open_frames(object())
    source = open_frames(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(FrameSourceError, match=r"already a FrameSource; channel"):
        open_frames(source, channel=0)


def test_folder_errors_name_the_folder_and_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(FrameSourceError, match=r"empty has no images"):
        open_frames(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mixed / "a1.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(mixed / "a2.png")
    with pytest.raises(FrameSourceError, match=r"a1\.png is \(8, 8\).*a2\.png is \(8, 9\)"):
        open_frames(mixed)
    depth = tmp_path / "depth"
    depth.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(depth / "a1.png")
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(depth / "a2.png")
    with pytest.raises(FrameSourceError, match=r"uint8 .* uint16"):
        open_frames(depth)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(corrupt / "f1.png")
    (corrupt / "f2.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(FrameSourceError, match=r"f2\.png is not a readable image"):
        open_frames(corrupt)


def test_folder_checks_each_read_lazily(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"{i}.png")
    source = open_frames(tmp_path)
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "1.png")  # changed after open
    (tmp_path / "2.png").unlink()  # and one removed
    assert source.read(0)[0, 0] == 0
    with pytest.raises(FrameReadError, match=r"1\.png has shape \(9, 8\), expected \(8, 8\)"):
        source.read(1)
    with pytest.raises(FrameReadError, match=r"could not read image .*2\.png"):
        source.read(2)
