"""Per-object, per-frame measurements of label stacks, and the object-score (confidence) table.

Qt-free and napari-free. A *table* here is a plain columnar dict ``{column: 1-D numpy array}``
(all columns the same length, one row per object per frame): cheap to build, JSON-friendly
after ``.tolist()``, accepted as napari layer ``features`` and by ``pandas.DataFrame``
(:func:`to_dataframe`), and written by :func:`export_csv`.

Measurement columns (:func:`measure`, :func:`measure_frame`):

=====================  =========  =========================================================
``frame``              int64      index along the first axis of the stack (0 for a 2D image)
``label``              int64      the object id (its label value)
``area``               int64      pixels
``centroid_y/_x``      float64    pixel coordinates (row, column); NaN for an empty object
``bbox_y0/x0/y1/x1``   int64      bounding box, half-open ``[y0, y1) x [x0, x1)``; -1 if empty
``mean_intensity``     float64    mean of the image under the object (RGB: mean over the
                                  channels); NaN if empty; only with an ``image``
``area_physical``      float64    ``area * sy * sx``; only with a ``scale``
``centroid_y/x_phys``  float64    centroid times the pixel size; only with a ``scale``
=====================  =========  =========================================================

Everything is computed one frame at a time: a dask / zarr / memory-mapped stack is never
loaded whole (only ``labels[t]`` and ``image[t]`` are read), and :func:`iter_measurements`
yields each frame's rows as it goes, so a worker can report progress and stop early.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "Table",
    "concat_tables",
    "confidence_table",
    "export_csv",
    "features_for_frame",
    "iter_measurements",
    "lost_frames",
    "measure",
    "measure_frame",
    "table_series",
    "to_dataframe",
]

Table = dict[str, np.ndarray]

MEASUREMENT_COLUMNS = (
    "frame",
    "label",
    "area",
    "centroid_y",
    "centroid_x",
    "bbox_y0",
    "bbox_x0",
    "bbox_y1",
    "bbox_x1",
)
INTENSITY_COLUMNS = ("mean_intensity",)
PHYSICAL_COLUMNS = ("area_physical", "centroid_y_physical", "centroid_x_physical")
CONFIDENCE_COLUMNS = ("frame", "label", "score", "lost")

_INT_COLUMNS = {"frame", "label", "area", "bbox_y0", "bbox_x0", "bbox_y1", "bbox_x1"}
#: Above this label value, bins come from np.unique instead of one bincount bin per value.
_MAX_DIRECT_LABEL = 1 << 22


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def measure_frame(
    labels: Any,
    image: Any = None,
    *,
    frame: int = 0,
    object_ids: Iterable[int] | None = None,
    scale: Sequence[float] | None = None,
) -> Table:
    """Measure the objects of one 2D label image.

    Arguments:
        labels: ``(Y, X)`` integer label image (0 is background).
        image: ``(Y, X)`` gray or ``(Y, X, C)`` colour image of the same size (C = 3 or 4;
            the mean over the first three channels is used), or None (no intensity column).
        frame: the value of the ``frame`` column.
        object_ids: the objects to report, in this order, absent ones as empty rows; default:
            every non-zero label present, ascending.
        scale: pixel size; its last two entries are ``(sy, sx)``. Adds the physical columns.

    Returns:
        A table (see the module docstring), one row per object.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be a 2D frame, got shape {lab.shape}")
    if lab.dtype.kind not in "iub":
        raise TypeError(f"labels must have an integer dtype, got {lab.dtype}")
    values, counts, sums_y, sums_x, bins = _bin_pixels(lab)
    present = (counts > 0) & (values != 0)
    ids = values[present] if object_ids is None else np.asarray(list(object_ids), np.int64)
    # values is sorted (a range or np.unique): find each wanted id's bin
    rows = np.searchsorted(values, ids).astype(np.intp)
    found = rows < len(values)
    found[found] = values[rows[found]] == ids[found]
    safe = np.where(found, rows, 0)

    area = np.where(found, counts[safe], 0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.where(area > 0, sums_y[safe] / np.maximum(area, 1), np.nan)
        cx = np.where(area > 0, sums_x[safe] / np.maximum(area, 1), np.nan)
    table: Table = {
        "frame": np.full(len(ids), int(frame), np.int64),
        "label": ids.astype(np.int64),
        "area": area,
        "centroid_y": cy,
        "centroid_x": cx,
    }
    table.update(_bounding_boxes(bins, np.where(area > 0, safe, -1)))
    if image is not None:
        table["mean_intensity"] = _mean_intensity(image, lab.shape, bins, counts, safe, area)
    if scale is not None:
        sy, sx = (float(s) for s in list(scale)[-2:])
        table["area_physical"] = area * (sy * sx)
        table["centroid_y_physical"] = cy * sy
        table["centroid_x_physical"] = cx * sx
    return table


def iter_measurements(
    labels: Any,
    image: Any = None,
    *,
    frames: Iterable[int] | None = None,
    object_ids: Iterable[int] | None = None,
    scale: Sequence[float] | None = None,
) -> Iterator[Table]:
    """Measure a stack frame by frame: yields one table per frame (rows of that frame).

    Arguments:
        labels: ``(T, Y, X)`` label stack or ``(Y, X)`` image; numpy, dask, zarr or anything
            indexable with ``labels[t]``. Only the frames measured are read, one at a time.
        image: the intensity image, ``(T, Y, X)``, ``(T, Y, X, C)`` (RGB), or 2D for a 2D
            ``labels``; same frame size as ``labels``. None: no ``mean_intensity``.
        frames: which frames (default: all, in order).
        object_ids: the objects reported in every frame (absent ones as empty rows); default:
            the objects present in each frame.
        scale: pixel size (the layer's ``scale`` works: the last two entries are used).
    """
    shape = tuple(labels.shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"labels must be (Y, X) or (T, Y, X), got shape {shape}")
    ids = None if object_ids is None else [int(i) for i in object_ids]
    if len(shape) == 2:
        frame_list = [0] if frames is None else [int(f) for f in frames]
        if any(f != 0 for f in frame_list):
            raise IndexError(f"a 2D label image has only frame 0, asked for {frame_list}")
        for f in frame_list:
            yield measure_frame(labels, image, frame=f, object_ids=ids, scale=scale)
        return
    n = shape[0]
    _check_image(image, shape)
    for f in range(n) if frames is None else frames:
        t = int(f)
        if not 0 <= t < n:
            raise IndexError(f"frame {t} is out of range for {n} frames")
        img = None if image is None else image[t]
        yield measure_frame(labels[t], img, frame=t, object_ids=ids, scale=scale)


def measure(
    labels: Any,
    image: Any = None,
    *,
    frames: Iterable[int] | None = None,
    object_ids: Iterable[int] | None = None,
    scale: Sequence[float] | None = None,
) -> Table:
    """Measure every object in every frame: one table, rows sorted by frame, then label.

    Same arguments as :func:`iter_measurements`. Without ``object_ids``, every object seen in
    any measured frame gets a row in every measured frame (an empty row where it is absent),
    so each object's time series has no holes.
    """
    if frames is None:
        frames = range(labels.shape[0]) if len(labels.shape) == 3 else [0]
    frame_list = [int(f) for f in frames]
    blocks = list(
        iter_measurements(labels, image, frames=frame_list, object_ids=object_ids, scale=scale)
    )
    if object_ids is None and blocks:
        seen = np.unique(np.concatenate([b["label"] for b in blocks]))
        blocks = [_fill_missing(b, seen, f) for b, f in zip(blocks, frame_list, strict=True)]
    return concat_tables(blocks, columns=_columns(image is not None, scale is not None))


# --------------------------------------------------------------------------------------------
# Confidence (object scores)
# --------------------------------------------------------------------------------------------


def confidence_table(
    scores: Mapping[int, Mapping[int, float] | Sequence[float] | np.ndarray],
    *,
    frames: Iterable[int] | None = None,
    object_ids: Iterable[int] | None = None,
    threshold: float = 0.0,
) -> Table:
    """Per-object per-frame object scores as a table with a ``lost`` flag.

    Arguments:
        scores: ``{object_id: {frame: score}}`` or ``{object_id: per-frame sequence}`` (index =
            frame, NaN = not computed). The score is SAM 2's object score logit (> 0: the object
            is judged present) or any confidence where higher is better.
        frames: the frames to list (default: every frame any object has a score for).
        object_ids: the objects to list (default: the keys of ``scores``, ascending).
        threshold: ``lost`` is True where the score is <= ``threshold``, NaN or missing.

    Returns:
        A table with columns ``frame``, ``label``, ``score`` (NaN where missing), ``lost``,
        sorted by frame, then label.
    """
    per_object = {int(k): _as_frame_dict(v) for k, v in scores.items()}
    ids = sorted(per_object) if object_ids is None else [int(i) for i in object_ids]
    if frames is None:
        frame_list = sorted({f for d in per_object.values() for f in d})
    else:
        frame_list = sorted({int(f) for f in frames})
    frame_col = np.repeat(np.asarray(frame_list, np.int64), len(ids))
    label_col = np.tile(np.asarray(ids, np.int64), len(frame_list))
    score = np.array(
        [
            per_object.get(int(o), {}).get(int(f), math.nan)
            for f, o in zip(frame_col, label_col, strict=True)
        ],
        dtype=np.float64,
    )
    with np.errstate(invalid="ignore"):
        lost = ~(score > threshold)
    return {"frame": frame_col, "label": label_col, "score": score, "lost": lost}


def _as_frame_dict(values: Mapping[int, float] | Sequence[float] | np.ndarray) -> dict[int, float]:
    if isinstance(values, Mapping):
        return {int(f): float(s) for f, s in values.items() if s is not None}
    return {i: float(s) for i, s in enumerate(np.asarray(values, np.float64).ravel())}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def concat_tables(tables: Iterable[Mapping[str, np.ndarray]], columns: Sequence[str] = ()) -> Table:
    """Stack tables with the same columns, sorted by ``frame`` then ``label`` when present.

    ``columns``: the columns of the result when ``tables`` is empty.
    """
    tables = [t for t in tables if t]
    if not tables:
        return {c: np.empty(0, np.int64 if c in _INT_COLUMNS else np.float64) for c in columns}
    names = list(tables[0])
    out = {c: np.concatenate([np.asarray(t[c]) for t in tables]) for c in names}
    if "frame" in out and "label" in out:
        order = np.lexsort((out["label"], out["frame"]))
        out = {c: v[order] for c, v in out.items()}
    return out


def features_for_frame(table: Mapping[str, np.ndarray], frame: int) -> Table:
    """The rows of one frame, with an ``index`` column (= ``label``): napari Labels layer
    ``features`` then show each object's values when the cursor is over it."""
    keep = np.asarray(table["frame"]) == int(frame)
    out = {c: np.asarray(v)[keep] for c, v in table.items()}
    out["index"] = out["label"].copy()
    return out


def table_series(
    table: Mapping[str, np.ndarray], column: str
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{label: (frames, values)}`` of one column, frames ascending: what ``TimelinePlot``
    takes."""
    frames = np.asarray(table["frame"])
    labels = np.asarray(table["label"])
    values = np.asarray(table[column], dtype=np.float64)
    out = {}
    for label in np.unique(labels):
        keep = labels == label
        order = np.argsort(frames[keep], kind="stable")
        out[int(label)] = (frames[keep][order], values[keep][order])
    return out


def lost_frames(table: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
    """``{label: frames flagged lost}`` from a :func:`confidence_table`."""
    frames = np.asarray(table["frame"])
    labels = np.asarray(table["label"])
    lost = np.asarray(table["lost"], dtype=bool)
    return {int(label): np.sort(frames[(labels == label) & lost]) for label in np.unique(labels)}


def to_dataframe(table: Mapping[str, np.ndarray]) -> Any:
    """The table as a ``pandas.DataFrame`` (pandas is imported here, not at module import)."""
    import pandas as pd

    return pd.DataFrame({c: np.asarray(v) for c, v in table.items()})


def export_csv(
    table: Mapping[str, np.ndarray], path: str | os.PathLike[str], overwrite: bool = True
) -> Path:
    """Write the table as CSV (header row; NaN as an empty cell, as pandas writes it).

    Written to ``<path>.partial`` and renamed, so ``path`` is never left half-written; an
    existing file is replaced only if napari-sam2 wrote it (see :mod:`sam2_engine.publish`).
    Returns the path.
    """
    from sam2_engine.publish import Publication

    columns = list(table)
    data = [np.asarray(table[c]) for c in columns]
    n = len(data[0]) if data else 0
    with Publication(path, overwrite=overwrite, what="a measurement table") as out:
        with open(out.partial, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            for i in range(n):
                writer.writerow([_cell(col[i]) for col in data])
        return out.commit()


def _cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _columns(intensity: bool, physical: bool) -> tuple[str, ...]:
    return (
        MEASUREMENT_COLUMNS
        + (INTENSITY_COLUMNS if intensity else ())
        + (PHYSICAL_COLUMNS if physical else ())
    )


def _bin_pixels(
    lab: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin every pixel by its label: returns ``(values, counts, sum_y, sum_x, bins)`` where
    bin ``k`` holds label ``values[k]`` and ``bins`` is the ``(Y, X)`` bin of each pixel."""
    height, width = lab.shape
    flat = lab.reshape(-1)
    low = int(flat.min()) if flat.size else 0
    high = int(flat.max()) if flat.size else 0
    if low >= 0 and high <= _MAX_DIRECT_LABEL:
        bins = flat.astype(np.intp, copy=False)
        values = np.arange(high + 1, dtype=np.int64)
    else:
        uniq, bins = np.unique(flat, return_inverse=True)
        values = uniq.astype(np.int64)
        bins = bins.reshape(-1).astype(np.intp, copy=False)
    nbins = len(values)
    counts = np.bincount(bins, minlength=nbins)
    rows = np.repeat(np.arange(height, dtype=np.float64), width)
    cols = np.tile(np.arange(width, dtype=np.float64), height)
    sum_y = np.bincount(bins, weights=rows, minlength=nbins)
    sum_x = np.bincount(bins, weights=cols, minlength=nbins)
    return values, counts, sum_y, sum_x, bins.reshape(height, width)


def _bounding_boxes(bins: np.ndarray, rows: np.ndarray) -> Table:
    """Half-open boxes of the bins in ``rows`` (-1: an empty object, box -1 everywhere)."""
    from scipy import ndimage

    n = len(rows)
    box = np.full((n, 4), -1, np.int64)
    wanted = rows[rows >= 0]
    if wanted.size:
        # find_objects counts labels from 1: shift the bins by one (bin 0 is a real bin here).
        slices = ndimage.find_objects(bins + 1, max_label=int(wanted.max()) + 1)
        for k, row in enumerate(rows):
            if row >= 0 and slices[row] is not None:
                sy, sx = slices[row]
                box[k] = (sy.start, sx.start, sy.stop, sx.stop)
    return {
        "bbox_y0": box[:, 0],
        "bbox_x0": box[:, 1],
        "bbox_y1": box[:, 2],
        "bbox_x1": box[:, 3],
    }


def _mean_intensity(
    image: Any,
    shape: tuple[int, int],
    bins: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
    area: np.ndarray,
) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        img = img[..., :3].astype(np.float64).mean(axis=-1)
    if img.shape != shape:
        raise ValueError(
            f"the image frame has shape {np.shape(image)}, the labels {shape}: they must match "
            "(gray (Y, X) or RGB (Y, X, 3))"
        )
    sums = np.bincount(
        bins.reshape(-1), weights=img.reshape(-1).astype(np.float64), minlength=len(counts)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area > 0, sums[rows] / np.maximum(area, 1), np.nan)


def _check_image(image: Any, label_shape: tuple[int, ...]) -> None:
    if image is None:
        return
    shape = tuple(image.shape)
    gray = shape == label_shape
    rgb = len(shape) == len(label_shape) + 1 and shape[:-1] == label_shape and shape[-1] in (3, 4)
    if not (gray or rgb):
        raise ValueError(
            f"image of shape {shape} does not match labels of shape {label_shape}: expected "
            f"{label_shape} (gray) or {(*label_shape, 3)} (RGB)"
        )


def _fill_missing(block: Table, ids: np.ndarray, frame: int) -> Table:
    """Add empty rows for the objects of ``ids`` missing from ``frame``'s ``block``."""
    missing = np.setdiff1d(ids, block["label"])
    if not missing.size:
        return block
    empty: Table = {}
    for column, values in block.items():
        if column == "frame":
            empty[column] = np.full(missing.size, frame, np.int64)
        elif column == "label":
            empty[column] = missing.astype(np.int64)
        elif column == "area":
            empty[column] = np.zeros(missing.size, np.int64)
        elif column.startswith("bbox_"):
            empty[column] = np.full(missing.size, -1, np.int64)
        elif column == "area_physical":
            empty[column] = np.zeros(missing.size, np.float64)
        else:
            empty[column] = np.full(missing.size, np.nan, values.dtype)
    return {c: np.concatenate([block[c], empty[c]]) for c in block}
