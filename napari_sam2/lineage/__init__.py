"""Lineage: tracks with a first and last frame and a parent, divisions, and the exports the
cell-tracking tools read (Cell Tracking Challenge, GEFF, napari Tracks layers).

Qt-free and napari-free, for the dock, the scripted API and the command line alike:

- :mod:`.model`: :class:`Track`, :class:`Lineage` (an immutable value: add, divide, undivide,
  remove, query, validate, JSON), :class:`LineageError`;
- :mod:`.parts`: a mask's connected parts, :func:`divide_by_mask` (division by hand);
- :mod:`.detect`, :mod:`.auto`: divisions found as frames are tracked, daughters relabelled;
- :mod:`.table`: tracks read from a label stack, checked against a lineage;
- :mod:`.ctc`, :mod:`.geff_writer`, :mod:`.napari_tracks`, :mod:`.export`: the exports;
- :mod:`.metrics`: CTC metrics of a result against a ground truth (traccuracy, py-ctcmetrics).
"""

from napari_sam2.lineage.detect import DivisionDetector, DivisionEvent, DivisionSettings
from napari_sam2.lineage.export import TRACK_FORMATS, export_tracks, read_lineage
from napari_sam2.lineage.model import Division, Lineage, LineageError, Track
from napari_sam2.lineage.napari_tracks import TracksData, tracks_layer_data
from napari_sam2.lineage.parts import DEFAULT_MIN_AREA, divide_by_mask, label_parts
from napari_sam2.lineage.table import TracksExportWarning, TrackTable, track_table

__all__ = [
    "DEFAULT_MIN_AREA",
    "TRACK_FORMATS",
    "Division",
    "DivisionDetector",
    "DivisionEvent",
    "DivisionSettings",
    "Lineage",
    "LineageError",
    "Track",
    "TrackTable",
    "TracksData",
    "TracksExportWarning",
    "divide_by_mask",
    "export_tracks",
    "label_parts",
    "read_lineage",
    "track_table",
    "tracks_layer_data",
]
