"""Frame sources: the interface, numpy and dask arrays, layouts (axes, frame axis, index,
channels) and the errors that name a bad layout argument.

Files (TIFF, zarr, folders, images) are tested in ``test_frame_files.py``, intensity and the
model input in ``test_frame_intensity.py``, video files in ``test_video_source.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from sam2_engine.frames import ArraySource, FrameSource, FrameSourceError, open_frames
from sam2_engine.frames.intensity import sample_indices
from tests.support.frame_stacks import stack


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


# -- bad layout arguments --------------------------------------------------------------------


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
