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

The code is split by job: :mod:`.measuring` (label stacks to tables), :mod:`.confidence` (the
object-score table) and :mod:`.tables` (stacking, views and export of any table); every public
name is importable from here.
"""

from __future__ import annotations

from napari_sam2._measurements.confidence import CONFIDENCE_COLUMNS, confidence_table, lost_frames
from napari_sam2._measurements.measuring import (
    INTENSITY_COLUMNS,
    MEASUREMENT_COLUMNS,
    PHYSICAL_COLUMNS,
    iter_measurements,
    measure,
    measure_frame,
)
from napari_sam2._measurements.tables import (
    Table,
    concat_tables,
    export_csv,
    features_for_frame,
    table_series,
    to_dataframe,
)

__all__ = [
    "CONFIDENCE_COLUMNS",
    "INTENSITY_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "PHYSICAL_COLUMNS",
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
