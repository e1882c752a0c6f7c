"""``export_tracks``: a label stack and its lineage to the formats of the cell-tracking tools."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from napari_sam2.lineage.model import Lineage, LineageError, _whole
from napari_sam2.lineage.table import track_table

#: The formats :func:`export_tracks` writes.
TRACK_FORMATS = ("ctc", "geff")


def read_lineage(lineage: Any, labels: Any = None) -> Mapping[int, int] | Lineage:
    """The lineage an export uses: ``lineage`` as given (a daughter -> parent mapping, a
    :class:`Lineage`, a ``Session`` or a session file), else what a label file written by
    ``track(..., divisions="auto")`` records, else none.

    Raises:
        LineageError: a mapping whose ids are not whole numbers >= 1.
        SessionError: an unreadable session file.
    """
    if lineage is None and isinstance(labels, (str, os.PathLike)):
        from sam2_engine.sinks import read_info

        lineage = (read_info(labels) or {}).get("lineage")
    if lineage is None or isinstance(lineage, Lineage):
        return lineage if lineage is not None else {}
    if isinstance(lineage, (str, os.PathLike)):
        from napari_sam2.session import load_session

        return load_session(lineage).lineage
    if isinstance(lineage, Mapping):
        return {
            _key(d, "a daughter id"): _key(p, f"the parent of {d!r}") for d, p in lineage.items()
        }
    found = getattr(lineage, "lineage", None)  # a Session
    if isinstance(found, Lineage):
        return found
    raise LineageError(
        "lineage must be a dict daughter id -> parent id, a Lineage, a Session or a session "
        f"file, got {type(lineage).__name__}"
    )


def _key(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    return _whole(value, what, 1)


def export_tracks(
    labels: Any,
    path: str | os.PathLike,
    format: str = "ctc",
    lineage: Any = None,
    *,
    overwrite: bool = False,
    segmentation: bool = True,
    pixel_size: float | None = None,
    space_unit: str | None = None,
    frame_interval: float | None = None,
    time_unit: str | None = None,
) -> Path:
    """Write tracks in the Cell Tracking Challenge format or as GEFF.

    Args:
        labels: a (T, H, W) track-id stack (label value = track id; numpy, zarr, a napari
            Labels layer's data), or a label file napari-sam2 wrote (.tif, .zarr, .ome.zarr).
        path: the folder to write: a CTC result folder (``mask000.tif``..., ``res_track.txt``)
            or a GEFF zarr group (e.g. ``tracks.geff``). Written complete or not at all.
        format: ``"ctc"`` or ``"geff"``.
        lineage: daughter id -> parent id, a :class:`Lineage`, a ``Session`` or a session
            file; default: what the label file records (``track(..., divisions="auto")``),
            else no divisions.
        overwrite: replace an existing output napari-sam2 wrote (never anything else).
        segmentation: GEFF only: store the label stack in the group.
        pixel_size, space_unit, frame_interval, time_unit: GEFF only: the axes' scales and
            units, where known (e.g. ``0.65, "micrometer", 5, "minute"``).

    Returns:
        The folder written.

    Warns:
        TracksExportWarning: frames without a mask inside a track's life (nothing is dropped:
            CTC splits the track the challenge's way, GEFF links across the gap).

    Raises:
        LineageError (a ValueError): labels and lineage disagree (naming the track and
            frame), or the lineage breaks a rule.
        ValueError: an unknown format, labels that are not a (T, H, W) stack, no object.
        FileExistsError etc.: see ``sam2_engine.publish`` (outputs are never written onto
            the input, nor over what napari-sam2 did not write).
    """
    from sam2_engine.publish import check_output

    if format not in TRACK_FORMATS:
        raise ValueError(f"format must be one of {', '.join(TRACK_FORMATS)}, got {format!r}")
    inputs = [labels] if isinstance(labels, (str, os.PathLike)) else []
    check_output(path, overwrite=overwrite, inputs=inputs, folder=True)
    parents = read_lineage(lineage, labels)
    if isinstance(labels, (str, os.PathLike)):
        from sam2_engine.sinks import open_labels

        labels = open_labels(labels)
    table = track_table(labels, parents)
    if format == "ctc":
        from napari_sam2.lineage.ctc import write_ctc

        return write_ctc(table, labels, path, overwrite=overwrite, inputs=inputs)
    from napari_sam2.lineage.geff_writer import write_geff

    return write_geff(
        table,
        labels,
        path,
        segmentation=segmentation,
        pixel_size=pixel_size,
        space_unit=space_unit,
        frame_interval=frame_interval,
        time_unit=time_unit,
        overwrite=overwrite,
        inputs=inputs,
    )
