"""Columnar tables (``{column: 1-D numpy array}``): stacking, per-frame and per-object views,
pandas and CSV export."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Table",
    "concat_tables",
    "export_csv",
    "features_for_frame",
    "table_series",
    "to_dataframe",
]

Table = dict[str, np.ndarray]

_INT_COLUMNS = {"frame", "label", "area", "bbox_y0", "bbox_x0", "bbox_y1", "bbox_x1"}


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
