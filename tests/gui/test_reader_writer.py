"""The npe2 video reader (lazy, frame-exact, torch-free import) and the labels TIFF writer
(round trip, ImageJ axes, dtype choice, atomic write). Every video is written by the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_sam2 import _reader, _writer

av = pytest.importorskip("av")

from tests.support.videos import FPS, HEIGHT, WIDTH, make_frames, write_video  # noqa: E402

tifffile = pytest.importorskip("tifffile")

N_FRAMES = 12


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    frames = make_frames(N_FRAMES)
    paths = {
        "mp4": write_video(
            folder / "clip.mp4", "libx264", "yuv420p", frames, {"g": "4", "bf": "2", "crf": "10"}
        ),
        "avi": write_video(folder / "Exact Clip.AVI", "ffv1", "bgr0", frames, gop_size=4),
        "gray": write_video(folder / "gray.avi", "ffv1", "gray", frames, gop_size=4),
    }
    return frames, paths


def read_layer(path: Path):
    reader = _reader.get_reader(str(path))
    assert reader is not None
    (layer,) = reader(str(path))
    return layer


@pytest.mark.parametrize("kind", ["mp4", "avi"])
def test_reader_gives_a_lazy_frame_exact_rgb_layer(videos, kind):
    frames, paths = videos
    data, kwargs, layer_type = read_layer(paths[kind])
    assert layer_type == "image"
    assert data.shape == (N_FRAMES, HEIGHT, WIDTH, 3) and data.dtype == np.uint8
    assert data.chunks == ((1,) * N_FRAMES, (HEIGHT,), (WIDTH,), (3,))  # one chunk per frame
    assert kwargs["rgb"] is True
    assert kwargs["name"] == paths[kind].stem
    meta = kwargs["metadata"]
    assert meta["path"] == str(paths[kind]) and meta["fps"] == pytest.approx(FPS)
    assert meta["n_frames"] == N_FRAMES and meta["axes"] == "TYXC"
    for i in (7, 2, 11, 0, 5):  # random jumps, backwards too
        got = np.asarray(data[i])
        if kind == "avi":  # ffv1 is lossless
            np.testing.assert_array_equal(got, frames[i])
        else:
            errors = [np.abs(got.astype(np.int16) - f).mean() for f in frames]
            assert int(np.argmin(errors)) == i and errors[i] < 3.0


def test_reader_decodes_only_what_is_asked(videos, monkeypatch):
    from sam2_engine.frames.video_source import VideoSource

    reads: list[int] = []
    original = VideoSource.read

    def counting_read(self, index):
        reads.append(int(index))
        return original(self, index)

    monkeypatch.setattr(VideoSource, "read", counting_read)
    data, _, _ = read_layer(videos[1]["mp4"])
    assert reads == [0]  # opening reads frame 0 (its shape) and nothing else
    reads.clear()
    np.asarray(data[9])
    assert reads == [9]
    reads.clear()
    assert np.asarray(data[3:5, :2, :2]).shape == (2, 2, 2, 3)
    assert sorted(reads) == [3, 4]


def test_gray_video_gives_a_gray_layer(videos):
    frames, paths = videos
    data, kwargs, _ = read_layer(paths["gray"])
    assert data.shape == (N_FRAMES, HEIGHT, WIDTH) and kwargs["rgb"] is False
    assert kwargs["metadata"]["axes"] == "TYX" and kwargs["metadata"]["pix_fmt"] == "gray"
    gray = np.asarray(data[4]).astype(np.int16)
    luma = frames[4] @ np.array([0.299, 0.587, 0.114])
    assert np.abs(gray - luma).max() <= 3


@pytest.mark.parametrize(
    "path", ["image.tif", "labels.zarr", "movie.gif", "", ["a.mp4", "b.png"], ["a.mp4", 3]]
)
def test_reader_declines_other_paths(path):
    assert _reader.get_reader(path) is None


def test_reader_accepts_a_list_of_videos(videos):
    _, paths = videos
    reader = _reader.get_reader([str(paths["mp4"]), str(paths["avi"])])
    assert reader is not None
    layers = reader([str(paths["mp4"]), str(paths["avi"])])
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["clip", "Exact Clip"]


def test_not_a_video_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="broken.mp4"):
        _reader.read_video(str(bad))


def test_plugin_modules_import_without_torch():
    pytest.importorskip("qtpy")
    code = (
        "import sys\n"
        "import napari_sam2._reader, napari_sam2._writer, napari_sam2._measurements\n"
        "heavy = [m for m in ('torch', 'sam2_engine', 'napari', 'qtpy', 'dask', 'pandas') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import napari_sam2._qt.plots, napari_sam2._qt.measurements_widget\n"
        "heavy = [m for m in ('torch', 'sam2_engine', 'napari') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# -- writer -----------------------------------------------------------------------------------


def read_tiff(path: Path):
    with tifffile.TiffFile(path) as tif:
        return tif.asarray(), tif.series[0].axes, tif.is_imagej, tif.imagej_metadata, tif


def test_writer_round_trip_imagej_tyx(tmp_path):
    labels = np.zeros((5, 20, 30), np.int32)
    labels[1, 2:6, 3:9] = 1
    labels[3, 10:15, 4:20] = 200
    attributes = {"scale": [2.0, 0.5, 0.5], "units": ["second", "micrometer", "micrometer"]}
    written = _writer.write_labels(str(tmp_path / "labels"), labels, attributes)
    assert written == [str(tmp_path / "labels.tif")]
    data, axes, imagej, meta, _ = read_tiff(Path(written[0]))
    np.testing.assert_array_equal(data, labels)
    assert data.dtype == np.uint8 and axes == "TYX" and imagej
    assert meta["frames"] == 5 and meta["unit"] == "micron" and meta["finterval"] == 2.0
    with tifffile.TiffFile(written[0]) as tif:
        assert tif.pages[0].resolution == pytest.approx((2.0, 2.0))  # pixels per micron
    assert not list(tmp_path.glob("*.partial"))


def test_writer_z_stack_and_2d_and_uint16(tmp_path):
    stack = np.zeros((4, 8, 8), np.int64)
    stack[2, 1:3, 1:3] = 1000
    path = _writer.write_labels(
        str(tmp_path / "z.tiff"), stack, {"axis_labels": ("z", "y", "x"), "metadata": {}}
    )[0]
    data, axes, imagej, meta, _ = read_tiff(Path(path))
    assert axes == "ZYX" and imagej and meta["slices"] == 4 and data.dtype == np.uint16
    np.testing.assert_array_equal(data, stack)

    image = np.arange(12, dtype=np.uint32).reshape(3, 4)
    path = _writer.save_labels_tiff(image, tmp_path / "flat.tif")
    data, axes, imagej, _, _ = read_tiff(path)
    assert axes == "YX" and imagej
    np.testing.assert_array_equal(data, image)


def test_writer_large_ids_use_int32_with_tifffile_axes(tmp_path):
    labels = np.zeros((2, 6, 6), np.uint32)
    labels[1, :2, :2] = 70_000
    path = _writer.save_labels_tiff(labels, tmp_path / "big.tif", axes="TYX")
    data, axes, imagej, _, _ = read_tiff(path)
    assert not imagej and data.dtype == np.int32 and axes == "TYX"
    np.testing.assert_array_equal(data, labels)


def test_writer_reads_dask_plane_by_plane(tmp_path):
    da = pytest.importorskip("dask.array")
    labels = da.zeros((3, 10, 10), dtype=np.uint16, chunks=(1, 10, 10)) + 7
    path = _writer.save_labels_tiff(labels, tmp_path / "lazy.tif")
    data, axes, _, _, _ = read_tiff(path)
    assert data.dtype == np.uint8 and axes == "TYX" and (data == 7).all()


def test_writer_is_atomic_and_checks_input(tmp_path, monkeypatch):
    target = tmp_path / "keep.tif"
    _writer.save_labels_tiff(np.ones((3, 4, 4), np.uint8), target, axes="TYX")
    older = target.read_bytes()

    def failing_planes(data, dtype):
        yield np.zeros(data.shape[1:], dtype)
        raise RuntimeError("disk full")

    monkeypatch.setattr(_writer, "_planes", failing_planes)
    with pytest.raises(RuntimeError, match="disk full"):
        _writer.save_labels_tiff(np.zeros((3, 4, 4), np.uint8), target, axes="TYX")
    monkeypatch.undo()
    assert target.read_bytes() == older  # our earlier result survives a failed write
    assert not list(tmp_path.glob("*.partial*"))
    theirs = tmp_path / "theirs.tif"
    theirs.write_bytes(b"the user's file")
    with pytest.raises(FileExistsError, match="did not write"):
        _writer.save_labels_tiff(np.zeros((4, 4), np.uint8), theirs)
    assert theirs.read_bytes() == b"the user's file"
    with pytest.raises(FileExistsError):
        _writer.save_labels_tiff(np.zeros((4, 4), np.uint8), target, overwrite=False)
    with pytest.raises(TypeError, match="integer"):
        _writer.save_labels_tiff(np.zeros((4, 4), np.float32), target)
    with pytest.raises(ValueError, match="axes"):
        _writer.save_labels_tiff(np.zeros((2, 2, 2, 2, 2), np.uint8), target)


def test_manifest_declares_reader_and_writer():
    npe2 = pytest.importorskip("npe2")
    root = Path(__file__).parents[2]
    manifest = npe2.PluginManifest.from_file(root / "napari_sam2" / "napari.yaml")
    (reader,) = manifest.contributions.readers
    assert "*.mp4" in reader.filename_patterns and "*.avi" in reader.filename_patterns
    (writer,) = manifest.contributions.writers
    assert writer.layer_types == ["labels"] and ".tif" in writer.filename_extensions


def test_save_labels_tiff_takes_a_napari_layer(tmp_path):
    layers = pytest.importorskip("napari.layers")
    data = np.zeros((3, 6, 6), np.int32)
    data[1, 1:3, 1:3] = 2
    layer = layers.Labels(data, scale=(1.0, 0.25, 0.25), axis_labels=("z", "y", "x"))
    layer.units = ("micrometer", "micrometer", "micrometer")
    path = _writer.save_labels_tiff(layer, tmp_path / "layer.tif")
    out, axes, imagej, meta, _ = read_tiff(path)
    np.testing.assert_array_equal(out, data)
    assert axes == "ZYX" and imagej and meta["unit"] == "micron"


@pytest.mark.gui
def test_napari_opens_videos_and_saves_labels_through_the_manifest(
    videos, tmp_path, make_napari_viewer_proxy
):
    pytest.importorskip("napari")
    viewer = make_napari_viewer_proxy()
    frames, paths = videos
    (layer,) = viewer.open(str(paths["avi"]), plugin="napari-sam2")
    assert layer.rgb and layer.data.shape == (N_FRAMES, HEIGHT, WIDTH, 3)
    assert type(layer.data).__module__.startswith("dask")
    assert layer.metadata["path"] == str(paths["avi"])
    np.testing.assert_array_equal(np.asarray(layer.data[6]), frames[6])

    labels = viewer.add_labels(np.zeros((N_FRAMES, HEIGHT, WIDTH), np.uint8))
    labels.data[3, :4, :4] = 2
    written = labels.save(str(tmp_path / "tracked.tif"), plugin="napari-sam2")
    data, axes, imagej, _, _ = read_tiff(Path(written[0]))
    assert axes == "TYX" and imagej and (data == labels.data).all()
