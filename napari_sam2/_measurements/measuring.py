"""Measuring label stacks one frame at a time (the columns are listed in
:mod:`napari_sam2._measurements`).

Only ``labels[t]`` and ``image[t]`` are read, so a dask / zarr / memory-mapped stack is never
loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from napari_sam2._measurements.tables import Table, concat_tables

__all__ = [
    "INTENSITY_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "PHYSICAL_COLUMNS",
    "iter_measurements",
    "measure",
    "measure_frame",
]

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
#: Above this label value, bins come from np.unique instead of one bincount bin per value.
_MAX_DIRECT_LABEL = 1 << 22


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
