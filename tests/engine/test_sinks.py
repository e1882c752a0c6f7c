"""Label sinks: merging objects into label images, and writing frames as they are produced.

Fake propagations only (random logits from small generators): no model is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sam2_engine.sinks import (
    ArraySink,
    LabelSink,
    OmeZarrSink,
    TiffSink,
    ZarrSink,
    merge_to_labels,
    tiff_sink,
    write_propagation,
)
from sam2_engine.sinks.ome_zarr_sink import open_ome_zarr_labels

T, H, W = 6, 9, 11
OBJ_IDS = [2, 5, 300]  # 300 makes the labels uint16
ABSENT = -1024.0


class EngineFailure(RuntimeError):
    pass


def fake_frames(
    order: Sequence[int],
    produced: dict[int, np.ndarray],
    *,
    fail_after: int | None = None,
    error: BaseException | None = None,
    obj_ids: Sequence[int] = OBJ_IDS,
    seed: int = 0,
) -> Iterator[tuple[int, list[int], torch.Tensor]]:
    """Yields ``(frame_idx, obj_ids, masks (N, 1, H, W))`` like ``propagate_in_video``.

    Records each frame's expected labels in ``produced``; raises ``error`` after ``fail_after``
    frames. Object 5 is absent (all -1024) on odd frames.
    """
    rng = np.random.default_rng(seed)
    for count, frame_idx in enumerate(order):
        if fail_after is not None and count == fail_after:
            raise error if error is not None else EngineFailure("engine failed at a frame")
        masks = torch.from_numpy(rng.normal(0.0, 3.0, (len(obj_ids), 1, H, W)).astype(np.float32))
        if frame_idx % 2 and 5 in obj_ids:
            masks[list(obj_ids).index(5)] = ABSENT
        produced[frame_idx] = merge_to_labels(obj_ids, masks)
        yield frame_idx, list(obj_ids), masks


# --------------------------------------------------------------------------------------------
# merge_to_labels
# --------------------------------------------------------------------------------------------


def test_merge_overlap_highest_logit_wins() -> None:
    a = np.full((1, 2, 3), -5.0, np.float32)
    b = np.full((1, 2, 3), -5.0, np.float32)
    a[0, 0, :] = [1.0, 3.0, 2.0]  # row 0: both inside, the larger logit wins
    b[0, 0, :] = [2.0, 1.0, 2.0]  # exact tie at column 2: the object listed first wins
    a[0, 1, 0] = 0.5  # row 1: only one object inside
    b[0, 1, 1] = 0.5
    masks = np.stack([a, b])  # (2, 1, 2, 3)
    expected = np.array([[4, 7, 7], [7, 4, 0]], np.uint8)
    np.testing.assert_array_equal(merge_to_labels([7, 4], masks), expected)
    # torch (the merge runs in torch) and (N, H, W) input give the same
    np.testing.assert_array_equal(merge_to_labels([7, 4], torch.from_numpy(masks)), expected)
    np.testing.assert_array_equal(merge_to_labels([7, 4], masks[:, 0]), expected)


def test_merge_absent_objects_and_nan() -> None:
    masks = torch.full((3, 1, 4, 5), ABSENT)
    masks[1, 0, 1:3, 1:4] = 2.0
    labels = merge_to_labels([1, 2, 3], masks)
    expected = np.zeros((4, 5), np.uint8)
    expected[1:3, 1:4] = 2
    np.testing.assert_array_equal(labels, expected)
    assert not merge_to_labels([1, 2, 3], torch.full((3, 1, 4, 5), ABSENT)).any()
    # NaN counts as outside and does not hide another object
    masks[0, 0, 1, 1] = float("nan")
    np.testing.assert_array_equal(merge_to_labels([1, 2, 3], masks), expected)
    np.testing.assert_array_equal(merge_to_labels([1, 2, 3], masks.numpy()), expected)
    # no objects: an empty (0, 1, H, W) stack gives background
    empty = merge_to_labels([], torch.zeros((0, 1, 4, 5)))
    assert empty.shape == (4, 5) and empty.dtype == np.uint8 and not empty.any()


def test_merge_threshold() -> None:
    masks = np.array([[[[-1.0, 0.0, 0.5, 2.0]]]], np.float32)  # (1, 1, 1, 4)
    np.testing.assert_array_equal(merge_to_labels([3], masks), [[0, 0, 3, 3]])
    np.testing.assert_array_equal(merge_to_labels([3], masks, threshold=1.0), [[0, 0, 0, 3]])
    np.testing.assert_array_equal(merge_to_labels([3], masks, threshold=-1.5), [[3, 3, 3, 3]])
    bf16 = torch.from_numpy(masks).to(torch.bfloat16)
    np.testing.assert_array_equal(merge_to_labels([3], bf16, threshold=1.0), [[0, 0, 0, 3]])


@pytest.mark.parametrize(
    ("ids", "expected"),
    [([1, 255], np.uint8), ([256], np.uint16), ([2, 70000], np.uint32), ([2**32], np.uint64)],
)
def test_merge_dtype_choice(ids: list[int], expected: type) -> None:
    labels = merge_to_labels(ids, np.ones((len(ids), 1, 2, 2)))
    assert labels.dtype == expected
    assert labels[0, 0] == ids[0]


def test_merge_dtype_given() -> None:
    masks = np.ones((1, 1, 2, 2), np.float32)
    assert merge_to_labels([3], masks, dtype=np.int32).dtype == np.int32
    assert merge_to_labels([np.int64(3)], masks, dtype="uint16").dtype == np.uint16
    with pytest.raises(ValueError, match="does not fit"):
        merge_to_labels([300], masks, dtype=np.uint8)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "a", None])
def test_merge_bad_ids(bad: Any) -> None:
    with pytest.raises(ValueError, match="positive integers"):
        merge_to_labels([1, bad], np.ones((2, 1, 2, 2)))


def test_merge_bad_shapes_and_duplicates() -> None:
    with pytest.raises(ValueError, match="unique"):
        merge_to_labels([1, 1], np.ones((2, 1, 2, 2)))
    with pytest.raises(ValueError, match="2 objects but 1"):
        merge_to_labels([1], np.ones((2, 1, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        merge_to_labels([1], np.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        merge_to_labels([1], np.ones((2, 2)))


# --------------------------------------------------------------------------------------------
# Sinks: each writes exactly the frames produced, in any order
# --------------------------------------------------------------------------------------------

KINDS = ["array", "zarr", "tiff", "ome-zarr"]


def make_sink(kind: str, tmp_path: Path, fill: int = 0) -> LabelSink:
    if kind == "array":
        return ArraySink(np.full((T, H, W), fill, np.uint16))
    if kind == "zarr":
        return ZarrSink(tmp_path / "labels.zarr", (T, H, W))
    if kind == "ome-zarr":
        return OmeZarrSink(tmp_path / "labels.ome.zarr", (T, H, W))
    return TiffSink(tmp_path / "labels.tif", (T, H, W))


def read_back(sink: LabelSink, path: Path | None = None) -> np.ndarray:
    """The sink's whole (T, H, W) stack as stored (from ``path`` if given)."""
    if isinstance(sink, ArraySink):
        return np.asarray(sink.array)
    path = path or sink.path
    if isinstance(sink, OmeZarrSink):
        return np.asarray(open_ome_zarr_labels(path))
    if isinstance(sink, ZarrSink):
        import zarr

        return zarr.open_array(store=str(path), mode="r")[:]
    import tifffile

    return tifffile.imread(path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("order", [[3, 2, 1, 0], [0, 1, 2, 3, 4]], ids=["reverse", "forward"])
def test_sink_writes_exactly_the_frames_produced(
    kind: str, order: list[int], tmp_path: Path
) -> None:
    produced: dict[int, np.ndarray] = {}
    sink = make_sink(kind, tmp_path)
    seen: list[int] = []
    written = write_propagation(fake_frames(order, produced), sink, progress=seen.append)
    assert written == order == sink.frames_written == seen
    assert sink.closed
    stack = read_back(sink)
    assert stack.shape == (T, H, W) and stack.dtype == np.uint16
    for t in range(T):
        expected = produced[t] if t in produced else np.zeros((H, W), np.uint16)
        np.testing.assert_array_equal(stack[t], expected, err_msg=f"frame {t}")
    assert any(produced[t].any() for t in order)  # the fake frames are not all background
    if kind != "array":
        assert not sink.partial_path.exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "error", [EngineFailure("engine failed"), KeyboardInterrupt(), GeneratorExit()], ids=repr
)
def test_stopped_propagation_keeps_finished_frames(
    kind: str, error: BaseException, tmp_path: Path
) -> None:
    produced: dict[int, np.ndarray] = {}
    sink = make_sink(kind, tmp_path, fill=7)
    frames = fake_frames([4, 2, 0, 1, 3], produced, fail_after=3, error=error)
    with pytest.raises(type(error)) as caught:
        write_propagation(frames, sink)
    assert caught.value is error
    assert sink.frames_written == [4, 2, 0] and sink.closed
    note = " ".join(getattr(error, "__notes__", []))
    assert "3 finished frame(s) [0, 2, 4]" in note
    untouched = 7 if kind == "array" else 0
    if kind != "array":  # the final path is not touched; the partial file holds the frames
        assert not sink.path.exists() and sink.partial_path.exists()
        assert str(sink.partial_path) in note
    stack = read_back(sink, None if kind == "array" else sink.partial_path)
    for t in range(T):
        if t in (4, 2, 0):
            np.testing.assert_array_equal(stack[t], produced[t], err_msg=f"frame {t}")
        else:
            assert (stack[t] == untouched).all(), f"frame {t} was touched"
    # "keep what was done": close() publishes the finished frames under the final path
    sink.close()
    np.testing.assert_array_equal(read_back(sink), stack)
    if kind != "array":
        assert not sink.partial_path.exists()


def test_error_from_the_sink_closes_the_iterator(tmp_path: Path) -> None:
    closed: list[bool] = []

    def frames() -> Iterator[tuple[int, list[int], np.ndarray]]:
        try:
            yield 0, [1], np.ones((1, 1, H, W), np.float32)
            yield 1, [1], np.ones((1, 1, H + 1, W), np.float32)  # wrong size: the sink raises
            yield 2, [1], np.ones((1, 1, H, W), np.float32)
        finally:
            closed.append(True)

    sink = TiffSink(tmp_path / "labels.tif", (T, H, W))
    with pytest.raises(ValueError, match=r"\(10, 11\) pixels"):
        write_propagation(frames(), sink)
    assert closed == [True] and sink.frames_written == [0]
    assert (read_back(sink, sink.partial_path)[0] == 1).all()


def test_two_passes_into_one_sink_and_progress_update(tmp_path: Path) -> None:
    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    produced: dict[int, np.ndarray] = {}
    bar = Bar()
    with ZarrSink(tmp_path / "labels.zarr", (T, H, W), dtype=np.uint32) as sink:
        write_propagation(fake_frames([2, 3, 4, 5], produced), sink, progress=bar, close=False)
        assert not sink.closed
        write_propagation(fake_frames([2, 1, 0], produced, seed=1), sink, progress=bar)
    assert bar.n == 7 and sink.frames_written == [2, 3, 4, 5, 2, 1, 0]
    stack = read_back(sink)
    assert stack.dtype == np.uint32
    np.testing.assert_array_equal(stack, np.stack([produced[t] for t in range(T)]))
    with pytest.raises(ValueError, match="closed"):
        sink.write(0, [1], np.ones((1, 1, H, W)))


def test_context_manager_error_keeps_partial(tmp_path: Path) -> None:
    produced: dict[int, np.ndarray] = {}
    with pytest.raises(EngineFailure) as caught, TiffSink(tmp_path / "l.tif", (T, H, W)) as sink:
        for frame_idx, obj_ids, masks in fake_frames([1, 0, 5], produced, fail_after=2):
            sink.write(frame_idx, obj_ids, masks)
    assert sink.closed and not sink.path.exists()
    assert "2 finished frame(s) [0, 1]" in caught.value.__notes__[0]
    stack = read_back(sink, sink.partial_path)
    np.testing.assert_array_equal(stack[[0, 1]], np.stack([produced[0], produced[1]]))
    assert not stack[2:].any()


# --------------------------------------------------------------------------------------------
# ArraySink
# --------------------------------------------------------------------------------------------


def test_array_sink_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"\(T, H, W\) array"):
        ArraySink(np.zeros((H, W), np.uint16))
    with pytest.raises(TypeError, match="shape"):
        ArraySink([[[0]]])
    sink = ArraySink(np.zeros((3, H, W), np.uint16))
    with pytest.raises(ValueError, match=r"\(9, 12\) pixels .* \(9, 11\)"):
        sink.write(0, [1], np.ones((1, 1, H, W + 1)))
    with pytest.raises(ValueError, match="frame 3 is outside the sink's 3 frames"):
        sink.write(3, [1], np.ones((1, 1, H, W)))
    with pytest.raises(ValueError, match="frame -1"):
        sink.write(-1, [1], np.ones((1, 1, H, W)))
    small = ArraySink(np.zeros((3, H, W), np.uint8))
    with pytest.raises(ValueError, match="does not fit"):
        small.write(0, [300], np.ones((1, 1, H, W)))
    assert sink.frames_written == [] and small.frames_written == []
    assert not sink.array.any()


def test_array_sink_keeps_callers_dtype_and_writes_labels() -> None:
    data = np.zeros((3, H, W), np.int32)  # napari Labels data is often int32 or int64
    sink = ArraySink(data)
    sink.write(np.int64(1), [9], np.ones((1, 1, H, W), np.float32))
    sink.write_labels(2, np.full((H, W), 4, np.uint8))
    sink.close()
    assert sink.array is data and data.dtype == np.int32
    assert (data[1] == 9).all() and (data[2] == 4).all() and not data[0].any()
    with pytest.raises(ValueError, match="do not fit"):
        ArraySink(np.zeros((1, H, W), np.uint8)).write_labels(0, np.full((H, W), 256))


# --------------------------------------------------------------------------------------------
# File specifics
# --------------------------------------------------------------------------------------------


def test_tiff_metadata_imagej_and_bigtiff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tifffile

    with TiffSink(tmp_path / "a.tif", (T, H, W)) as sink:  # uint16: ImageJ hyperstack
        sink.write(1, [3], np.ones((1, 1, H, W)))
    with tifffile.TiffFile(sink.path) as tif:
        assert tif.is_imagej and not tif.is_bigtiff
        assert tif.series[0].axes == "TYX" and tif.series[0].shape == (T, H, W)
        assert len(tif.pages) == T
    with TiffSink(tmp_path / "b.tif", (T, H, W), dtype=np.uint32) as sink:  # not for ImageJ
        sink.write(0, [70000], np.ones((1, 1, H, W)))
    with tifffile.TiffFile(sink.path) as tif:
        assert not tif.is_imagej and tif.series[0].axes == "TYX"
        assert (tif.series[0].asarray()[0] == 70000).all()
    # BigTIFF when asked, and automatically above the size limit
    assert TiffSink(tmp_path / "c.tif", (T, H, W), bigtiff=True).bigtiff
    monkeypatch.setattr(tiff_sink, "BIGTIFF_THRESHOLD", T * H * W * 2 - 1)
    with TiffSink(tmp_path / "d.tif", (T, H, W)) as sink:
        sink.write(5, [2], np.ones((1, 1, H, W)))
    assert sink.bigtiff and not sink.imagej
    with tifffile.TiffFile(sink.path) as tif:
        assert tif.is_bigtiff and tif.series[0].axes == "TYX"
        assert (tif.series[0].asarray()[5] == 2).all()
    with pytest.raises(ValueError, match="ImageJ"):
        TiffSink(tmp_path / "e.tif", (T, H, W), dtype=np.uint32, imagej=True)


@pytest.mark.parametrize("kind", ["zarr", "tiff", "ome-zarr"])
def test_existing_files_need_overwrite(kind: str, tmp_path: Path) -> None:
    first = make_sink(kind, tmp_path)
    first.write_labels(0, np.ones((H, W)))
    first.close()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_sink(kind, tmp_path)
    cls = type(first)
    second = cls(first.path, (T, H, W), overwrite=True)
    second.write_labels(1, np.full((H, W), 2))
    assert (read_back(first)[0] == 1).all()  # the old file stays until the new one is closed
    second.close()
    stack = read_back(second)
    assert not stack[0].any() and (stack[1] == 2).all()


def test_zarr_format_metadata(tmp_path: Path) -> None:
    import zarr

    with ZarrSink(tmp_path / "v3.zarr", (T, H, W)) as sink:
        sink.write_labels(2, np.ones((H, W)))
    array = zarr.open_array(store=str(sink.path), mode="r")
    assert array.metadata.zarr_format == 3 and array.chunks == (1, H, W)
    assert tuple(array.metadata.dimension_names) == ("t", "y", "x")
    with ZarrSink(tmp_path / "v2.zarr", (T, H, W), chunks=(2, H, W), zarr_format=2) as sink:
        sink.write_labels(3, np.ones((H, W)))
    array = zarr.open_array(store=str(sink.path), mode="r")
    assert array.metadata.zarr_format == 2 and array.chunks == (2, H, W)
    assert array.attrs["_ARRAY_DIMENSIONS"] == ["t", "y", "x"]
    assert array[:].sum() == H * W
