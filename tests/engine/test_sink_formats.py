"""The sink registry: formats by suffix, provenance written and read by the sink, OME-Zarr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam2_engine.sinks import (
    OmeZarrSink,
    TiffSink,
    ZarrSink,
    check_output,
    format_for,
    open_labels,
    open_sink,
    read_info,
    sink_formats,
)

T, H, W = 4, 12, 16
INFO = {"model": "test_small", "frames": [0, T], "objects": [1, 2]}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.tif", TiffSink),
        ("a.TIFF", TiffSink),
        ("a.zarr", ZarrSink),
        ("cells.ome.zarr", OmeZarrSink),  # the longest suffix wins over .zarr
        ("CELLS.OME.ZARR", OmeZarrSink),
    ],
)
def test_the_suffix_picks_the_format(name: str, kind: type) -> None:
    assert format_for(name).sink is kind


def test_unknown_suffixes_list_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in one of .*\.ome\.zarr.*\.tif"):
        format_for("labels.png")
    with pytest.raises(ValueError, match="must end in one of"):
        check_output(tmp_path / "labels.h5")
    assert {f.name for f in sink_formats()} >= {"tiff", "zarr", "ome-zarr"}


@pytest.mark.parametrize("name", ["a.tif", "a.zarr", "a.ome.zarr"])
def test_every_format_records_provenance_and_opens_read_only(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    sink = open_sink(path, (T, H, W), np.uint16, info=INFO)
    sink.write_labels(2, np.full((H, W), 2))
    sink.info["direction"] = "both"  # provenance can grow until the sink is closed
    sink.close()
    info = read_info(path)
    assert info["model"] == "test_small" and info["direction"] == "both"
    assert info["software"].startswith("napari-sam2")
    labels = open_labels(path)
    assert labels.shape == (T, H, W) and labels.dtype == np.uint16
    assert (np.asarray(labels[2]) == 2).all() and not np.asarray(labels[0]).any()


@pytest.mark.parametrize("name", ["a.tif", "a.zarr", "a.ome.zarr"])
def test_a_one_frame_stack_stays_three_dimensional(tmp_path: Path, name: str) -> None:
    with open_sink(tmp_path / name, (1, H, W)) as sink:
        sink.write_labels(0, np.ones((H, W)))
    assert np.asarray(open_labels(tmp_path / name)).shape == (1, H, W)


def test_arrays_and_none() -> None:
    sink = open_sink(None, (T, H, W), np.uint32)
    assert sink.array.shape == (T, H, W) and sink.array.dtype == np.uint32
    target = np.zeros((T, H, W), np.int32)
    assert open_sink(target, (T, H, W)).array is target
    with pytest.raises(ValueError, match=r"\(frames, H, W\)"):
        open_sink(np.zeros((T, H, W + 1)), (T, H, W))


def _frames(rgb: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (T, H, W, 3) if rgb else (T, H, W)
    return rng.integers(0, 4000, shape).astype(np.uint8 if rgb else np.uint16)


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
def test_ome_zarr_is_an_ngff_image_with_a_labels_group(tmp_path: Path, rgb: bool) -> None:
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models.v04 import Image, ImageLabel

    frames = _frames(rgb)
    path = tmp_path / "cells.ome.zarr"
    with OmeZarrSink(path, (T, H, W), source=lambda i: frames[i], info=INFO) as sink:
        for t in (3, 1, 0, 2):  # any order
            sink.write_labels(t, np.full((H, W), t + 1))
    root = zarr.open_group(str(path), mode="r")
    Image.from_zarr(root)  # validates the NGFF 0.4 metadata
    ImageLabel.from_zarr(root["labels/sam2"])
    image = np.asarray(root["0"])
    expected = np.moveaxis(frames, -1, 1) if rgb else frames
    np.testing.assert_array_equal(image, expected)  # the frames, in their own dtype
    nodes = list(Reader(parse_url(str(path)))())
    shapes = [node.data[0].shape for node in nodes if node.data]
    label_shape = (T, 1, H, W) if rgb else (T, H, W)
    assert shapes == [expected.shape, label_shape]  # what napari-ome-zarr shows as layers
    labels = np.asarray(open_labels(path))
    assert labels.shape == (T, H, W)
    assert [int(labels[t, 0, 0]) for t in range(T)] == [1, 2, 3, 4]


def test_ome_zarr_without_frames_has_an_empty_image(tmp_path: Path) -> None:
    with OmeZarrSink(tmp_path / "l.ome.zarr", (T, H, W)) as sink:
        sink.write_labels(0, np.ones((H, W)))
    import zarr

    root = zarr.open_group(str(tmp_path / "l.ome.zarr"), mode="r")
    assert root["0"].shape == (T, H, W) and not np.asarray(root["0"]).any()
