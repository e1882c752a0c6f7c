"""Video files through PyAV: frame count, fps, frame-exact random access, no seeking when reading
in order, bounded cache, bad files. Every video is written by the test itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sam2_engine.frames import (
    FrameSourceError,
    FrameSourceWarning,
    VideoReader,
    VideoSource,
    open_frames,
)

av = pytest.importorskip("av")

from tests.support.videos import FPS, HEIGHT, WIDTH, make_frames, write_video  # noqa: E402

N_FRAMES = 40


MPEG4_CONTEXT = {"gop_size": 6, "max_b_frames": 2, "bit_rate": 4_000_000}
# name: (file name, codec, pixel format, encoder options, codec context settings, exact)
VIDEOS = {
    "mp4-h264": ("clip.mp4", "libx264", "yuv420p", {"g": "8", "bf": "2", "crf": "12"}, {}, False),
    "avi-ffv1": ("clip.avi", "ffv1", "bgr0", {}, {"gop_size": 8}, True),
    "avi-mpeg4": ("clip.avi", "mpeg4", "yuv420p", {}, MPEG4_CONTEXT, False),
    "mkv-h264": ("clip.mkv", "libx264", "yuv420p", {"g": "8", "bf": "2", "crf": "12"}, {}, False),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    frames = make_frames(N_FRAMES)
    paths = {}
    for name, (file_name, codec, pix_fmt, options, context, _) in VIDEOS.items():
        folder = tmp_path_factory.mktemp(name)
        paths[name] = write_video(folder / file_name, codec, pix_fmt, frames, options, **context)
    return frames, paths


def closest(frame: np.ndarray, frames: list[np.ndarray]) -> tuple[int, float]:
    errors = [np.abs(frame.astype(np.int16) - f).mean() for f in frames]
    return int(np.argmin(errors)), float(min(errors))


@pytest.mark.parametrize("name", list(VIDEOS))
def test_random_access_is_frame_exact(written, name):
    frames, paths = written
    exact = VIDEOS[name][-1]
    source = open_frames(paths[name])
    assert isinstance(source, VideoSource)
    assert (len(source), source.height, source.width) == (N_FRAMES, HEIGHT, WIDTH)
    assert source.fps == pytest.approx(FPS) and source.metadata["fps"] == pytest.approx(FPS)
    assert source.metadata["frame_count_method"] == "packets"
    order = list(np.random.default_rng(0).permutation(N_FRAMES)) + [39, 0, 38, 1, 20, 19, 21]
    for i in order:
        frame = source.read(int(i))
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        if exact:
            np.testing.assert_array_equal(frame, frames[i])
        else:
            found, error = closest(frame, frames)
            assert found == i and error < 6.0, (i, found, error)
    assert source.stats["seeks"] > 0  # random jumps did seek
    source.close()


def test_sequential_reads_never_seek(written):
    frames, paths = written
    source = open_frames(paths["mp4-h264"])
    for i in range(N_FRAMES):
        assert closest(source.read(i), frames)[0] == i
    assert source.stats["seeks"] == 0 and source.stats["restarts"] == 0
    assert source.stats["decoded"] == N_FRAMES
    jumped = open_frames(paths["mp4-h264"])
    jumped.read(30)  # one jump...
    seeks = jumped.stats["seeks"]
    assert seeks == 1 and jumped.stats["decoded"] < 30
    for i in range(31, N_FRAMES):  # ...then in order from there: no further seeking
        assert closest(jumped.read(i), frames)[0] == i
    assert jumped.stats["seeks"] == seeks


def test_reverse_reading_uses_the_cache(written):
    frames, paths = written
    source = open_frames(paths["mp4-h264"])
    for i in reversed(range(N_FRAMES)):
        assert closest(source.read(i), frames)[0] == i
    # Each seek decodes forward and keeps the frames before the target, so going backwards
    # seeks about once per keyframe interval, not once per frame.
    assert source.stats["seeks"] + source.stats["restarts"] <= 10
    assert source.stats["cache_hits"] >= N_FRAMES - 10


def test_cache_is_bounded_in_bytes(written):
    _, paths = written
    frame_bytes = HEIGHT * WIDTH * 3
    reader = VideoReader(paths["avi-ffv1"], cache_bytes=5 * frame_bytes)
    for i in range(N_FRAMES):
        reader.frame(i)
    assert len(reader._cache) <= 5
    reader.close()


def test_mkv_without_header_count_is_counted_exactly(written):
    _, paths = written
    source = open_frames(paths["mkv-h264"])
    assert source.metadata["header_frames"] == 0 and len(source) == N_FRAMES


def test_avi_mpeg4_seeks_by_decoding_timestamp(written):
    frames, paths = written
    source = open_frames(paths["avi-mpeg4"])
    for i in (30, 12, 25, 7):
        assert closest(source.read(i), frames)[0] == i
    assert source.metadata.get("seek_by") == "dts"  # AVI indexes keyframes by dts


def test_video_channel_choice_and_rgb(written):
    frames, paths = written
    red = open_frames(paths["avi-ffv1"], channel=0)
    np.testing.assert_array_equal(red.read(5), frames[5][..., 0])
    rgb = open_frames(paths["avi-ffv1"])
    out = rgb.read_rgb(7)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, frames[7])
    with pytest.raises(FrameSourceError, match=r"axis='Z' is not one of the data's axes 'TYXC'"):
        open_frames(paths["avi-ffv1"], axis="Z")


def test_stream_without_timestamps_is_decoded_once_with_a_warning(tmp_path):
    frames = make_frames(20)
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"g": "6", "bf": "2"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.warns(FrameSourceWarning, match="decoding the whole video once"):
        reader = VideoReader(path, cache_bytes=2 * HEIGHT * WIDTH * 3)
    assert reader.n_frames == 20 and reader.info["frame_count_method"].startswith("decoding")
    for i in (15, 3, 19, 0, 8):
        assert closest(reader.frame(i), frames)[0] == i
    reader.close()


def test_bad_video_files_name_the_file(tmp_path, written):
    _, paths = written
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 50)
    with pytest.raises(FrameSourceError, match=r"garbage\.mp4 is not a readable video file"):
        open_frames(garbage)
    data = paths["mp4-h264"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: lost
    with pytest.raises(FrameSourceError, match=r"truncated\.mp4"):
        open_frames(truncated)
    audio = tmp_path / "audio.mkv"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        silence = np.zeros((1, 800), np.int16)
        frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(FrameSourceError, match=r"audio\.mkv has no video stream"):
        open_frames(audio)


def test_truncated_mkv_keeps_the_frames_it_has(written, tmp_path):
    frames, paths = written
    data = paths["mkv-h264"].read_bytes()
    truncated = tmp_path / "cut.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = open_frames(truncated)
    assert 0 < len(source) < N_FRAMES
    for i in reversed(range(len(source))):
        assert closest(source.read(i), frames)[0] == i


def test_reads_from_several_threads_are_exact(written):
    from concurrent.futures import ThreadPoolExecutor

    frames, paths = written
    source = open_frames(paths["avi-ffv1"])
    order = [int(i) for i in np.random.default_rng(3).integers(0, N_FRAMES, 60)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(source.read, order))
    for i, frame in zip(order, results, strict=True):
        np.testing.assert_array_equal(frame, frames[i])


def test_unknown_frame_timestamps_fall_back_to_counting(written):
    frames, paths = written
    reader = VideoReader(paths["mp4-h264"])
    pts = next(p for p, i in reader._pts_to_index.items() if i == 25)
    del reader._pts_to_index[pts]  # as if the decoder stamped frame 25 differently
    assert closest(reader.frame(20), frames)[0] == 20
    with pytest.warns(FrameSourceWarning, match="counting frames from the start"):
        assert closest(reader.frame(26), frames)[0] == 26
    for i in (25, 3, 39, 10):
        assert closest(reader.frame(i), frames)[0] == i
    assert "counting" in reader.info["frame_count_method"]
    reader.close()
