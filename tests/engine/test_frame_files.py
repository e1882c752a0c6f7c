"""Frame sources from files: TIFF, zarr, image folders and single images, and the errors that
name the file. Every file is generated in ``tmp_path``."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from sam2_engine.frames import (
    FolderSource,
    FrameFileNotFoundError,
    FrameReadError,
    FrameSourceError,
    TiffSource,
    ZarrSource,
    natural_key,
    open_frames,
)
from tests.support.frame_stacks import stack

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


# -- bad files -------------------------------------------------------------------------------


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


def test_a_cut_tiff_is_described_once_without_tifffiles_log_lines(tmp_path, caplog) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, stack(6, 48, 64), photometric="minisblack", compression="zlib")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with caplog.at_level("DEBUG", logger="tifffile"), pytest.raises(FrameSourceError, match="cut"):
        open_frames(path)
    assert not [r for r in caplog.records if r.name == "tifffile"]  # no 'invalid page offset'
