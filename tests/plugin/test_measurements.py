"""Per-object per-frame measurements (exact numbers on a synthetic stack), lazy dask input,
the confidence table and CSV export."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from napari_sam2 import _measurements as m

T, H, W = 3, 16, 20


@pytest.fixture
def stack():
    """Frame 0: object 1 (a 4x6 block) and object 2 (one pixel); frame 1: object 2 only (a 2x3
    block); frame 2: empty. Intensity ``100 * frame + row``, as gray and as RGB."""
    labels = np.zeros((T, H, W), np.uint16)
    labels[0, 2:6, 3:9] = 1
    labels[0, 10, 12] = 2
    labels[1, 7:9, 0:3] = 2
    rows = np.arange(H, dtype=np.float64)[None, :, None]
    gray = (100 * np.arange(T)[:, None, None] + rows + np.zeros((T, H, W))).astype(np.uint16)
    rgb = np.stack([gray, gray + 3, gray + 6], axis=-1).astype(np.uint16)
    return labels, gray, rgb


def row(table, frame, label):
    (index,) = np.flatnonzero((table["frame"] == frame) & (table["label"] == label))
    return {column: values[index] for column, values in table.items()}


def test_exact_areas_centroids_boxes_and_intensities(stack):
    labels, gray, _ = stack
    table = m.measure(labels, gray, scale=(5.0, 0.5, 0.25))
    assert list(table["frame"]) == [0, 0, 1, 1, 2, 2]  # every object in every frame
    assert list(table["label"]) == [1, 2, 1, 2, 1, 2]

    one = row(table, 0, 1)
    assert one["area"] == 24
    assert (one["centroid_y"], one["centroid_x"]) == (3.5, 5.5)
    assert (one["bbox_y0"], one["bbox_x0"], one["bbox_y1"], one["bbox_x1"]) == (2, 3, 6, 9)
    assert one["mean_intensity"] == 3.5  # rows 2..5
    assert one["area_physical"] == 24 * 0.5 * 0.25
    assert (one["centroid_y_physical"], one["centroid_x_physical"]) == (1.75, 1.375)

    two = row(table, 0, 2)
    assert two["area"] == 1 and (two["centroid_y"], two["centroid_x"]) == (10.0, 12.0)
    assert (two["bbox_y0"], two["bbox_x0"], two["bbox_y1"], two["bbox_x1"]) == (10, 12, 11, 13)
    assert two["mean_intensity"] == 10.0

    moved = row(table, 1, 2)
    assert moved["area"] == 6 and (moved["centroid_y"], moved["centroid_x"]) == (7.5, 1.0)
    assert moved["mean_intensity"] == 107.5

    for frame, label in [(1, 1), (2, 1), (2, 2)]:  # absent objects: empty rows
        empty = row(table, frame, label)
        assert empty["area"] == 0 and empty["area_physical"] == 0
        assert math.isnan(empty["centroid_y"]) and math.isnan(empty["centroid_x"])
        assert math.isnan(empty["mean_intensity"]) and empty["bbox_y0"] == -1
    assert table["area"].dtype == np.int64 and table["centroid_y"].dtype == np.float64


def test_rgb_image_is_averaged_over_channels(stack):
    labels, gray, rgb = stack
    by_gray = m.measure(labels, gray)
    by_rgb = m.measure(labels, rgb)
    np.testing.assert_allclose(by_rgb["mean_intensity"], by_gray["mean_intensity"] + 3)


def test_without_image_or_scale_the_optional_columns_are_absent(stack):
    labels, _, _ = stack
    table = m.measure(labels)
    assert tuple(table) == m.MEASUREMENT_COLUMNS


def test_object_ids_and_frames_choose_the_rows(stack):
    labels, gray, _ = stack
    table = m.measure(labels, gray, frames=[1, 0], object_ids=[2, 5])
    assert list(zip(table["frame"], table["label"], strict=True)) == [
        (0, 2),
        (0, 5),
        (1, 2),
        (1, 5),
    ]
    assert list(table["area"]) == [1, 0, 6, 0]
    with pytest.raises(IndexError):
        m.measure(labels, frames=[3])


def test_single_2d_frame_and_unusual_label_values():
    labels = np.zeros((4, 5), np.int64)
    labels[0, :2] = 2**40  # beyond a bincount bin per value: the np.unique path
    labels[3, 4] = -7
    table = m.measure(labels)
    assert list(table["label"]) == [-7, 2**40] and list(table["area"]) == [1, 2]
    assert list(table["centroid_x"]) == [4.0, 0.5] and list(table["bbox_y1"]) == [4, 1]
    one = m.measure_frame(labels, frame=9, object_ids=[2**40])
    assert list(one["frame"]) == [9] and list(one["area"]) == [2]
    assert len(m.measure(np.zeros((3, 4, 4), np.uint8))["label"]) == 0


def test_bad_inputs_are_explained(stack):
    labels, gray, _ = stack
    with pytest.raises(ValueError, match="does not match"):
        m.measure(labels, gray[:, :5])
    with pytest.raises(TypeError, match="integer"):
        m.measure(labels.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(T, Y, X\)"):
        m.measure(labels[None])


class CountingFrames:
    """An array-like that counts which frames dask asked for."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads: list[int] = []

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        if isinstance(first, slice):
            self.reads.extend(range(*first.indices(self.shape[0])))
        else:
            self.reads.append(int(first))
        return self.data[key]


def test_dask_stacks_are_read_one_frame_at_a_time(stack):
    da = pytest.importorskip("dask.array")
    labels, gray, _ = stack
    lab_src, img_src = CountingFrames(labels), CountingFrames(gray)
    lazy_labels = da.from_array(lab_src, chunks=(1, H, W), meta=np.empty((0, 0, 0), np.uint16))
    lazy_image = da.from_array(img_src, chunks=(1, H, W), meta=np.empty((0, 0, 0), np.uint16))

    frames = m.iter_measurements(lazy_labels, lazy_image)
    next(frames)
    assert lab_src.reads == [0] and img_src.reads == [0]  # nothing read ahead
    rest = list(frames)
    assert len(rest) == 2 and lab_src.reads == [0, 1, 2] and img_src.reads == [0, 1, 2]

    lab_src.reads.clear()
    table = m.measure(lazy_labels, lazy_image, frames=[1])
    assert lab_src.reads == [1]
    assert table["mean_intensity"][0] == 107.5
    eager = m.measure(labels, gray)
    lazy = m.measure(lazy_labels, lazy_image)
    for column in eager:
        np.testing.assert_array_equal(lazy[column], eager[column])


def test_confidence_table_flags_lost_frames():
    scores = {2: {0: 3.0, 1: -0.5, 3: 0.0}, 1: [2.0, float("nan"), 1.0, 4.0]}
    table = m.confidence_table(scores)
    assert list(table["frame"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(table["label"]) == [1, 2] * 4
    np.testing.assert_array_equal(table["score"], [2.0, 3.0, np.nan, -0.5, 1.0, np.nan, 4.0, 0.0])
    assert list(table["lost"]) == [False, False, True, True, False, True, False, True]
    lost = m.lost_frames(table)
    assert list(lost[1]) == [1] and list(lost[2]) == [1, 2, 3]
    series = m.table_series(table, "score")
    assert list(series[2][0]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(series[2][1], [3.0, -0.5, np.nan, 0.0])

    ranged = m.confidence_table(scores, frames=range(6), object_ids=[2], threshold=1.0)
    assert list(ranged["frame"]) == list(range(6))
    assert list(ranged["lost"]) == [False, True, True, True, True, True]


def test_features_dataframe_and_csv(stack, tmp_path):
    labels, gray, _ = stack
    table = m.measure(labels, gray)
    features = m.features_for_frame(table, 0)
    assert list(features["index"]) == [1, 2] and list(features["area"]) == [24, 1]

    frame = m.to_dataframe(table)
    assert list(frame.columns) == list(table) and len(frame) == 6

    path = m.export_csv(table, tmp_path / "measurements.csv")
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(table)
    assert rows[0]["area"] == "24" and rows[0]["centroid_y"] == "3.5"
    assert rows[2]["centroid_y"] == "" and rows[2]["bbox_y0"] == "-1"  # frame 1, object 1
    pd = pytest.importorskip("pandas")
    back = pd.read_csv(path)
    np.testing.assert_allclose(back["mean_intensity"], table["mean_intensity"])
    assert not list(tmp_path.glob("*.partial"))
    assert m.export_csv(m.confidence_table({1: [1.0, -1.0]}), tmp_path / "c.csv").read_text() == (
        "frame,label,score,lost\n0,1,1.0,False\n1,1,-1.0,True\n"
    )


def test_empty_table_keeps_its_columns():
    table = m.concat_tables([], columns=m.MEASUREMENT_COLUMNS)
    assert tuple(table) == m.MEASUREMENT_COLUMNS and all(len(v) == 0 for v in table.values())
