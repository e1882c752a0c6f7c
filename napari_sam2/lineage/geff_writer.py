"""GEFF (the Graph Exchange File Format of the tracking tools) through the ``geff`` package.

The output is a zarr group (a folder, e.g. ``tracks.geff``) holding the graph:

- **nodes**: one per object per frame, with properties ``t`` (frame), ``y``, ``x`` (centroid,
  pixels), ``area`` (pixels), ``seg_id`` (the object's label value in the segmentation),
  ``track_id`` (its track: the GEFF *tracklet*) and ``lineage_id`` (the track's first
  ancestor: the GEFF *lineage*);
- **edges**: a track's consecutive nodes (links, across a gap too) and each division's parent
  -> daughter (edge property ``division``: 1 for those, 0 for links);
- **axes** ``t``, ``y``, ``x`` (types time, space, space) in frames and pixels; with a pixel
  size or frame interval, their ``scale`` and ``scaled_unit``;
- with ``segmentation=True`` (the default), the label stack as ``segmentation`` inside the
  group (a (T, H, W) zarr array, one chunk per frame), named in ``related_objects`` with
  ``node_prop = "seg_id"``;
- ``extra.napari_sam2``: the software that wrote it.

``geff`` is needed only here: ``pip install "napari-sam2[geff]"``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from napari_sam2.lineage.table import TracksExportWarning, TrackTable
from sam2_engine.constants import INFO_KEY, software

#: The array of the label stack inside the GEFF group.
SEGMENTATION_NAME = "segmentation"


def _geff_modules() -> tuple[Any, Any]:
    try:
        import geff
        import geff.core_io
    except ImportError:
        raise ImportError(
            'GEFF export needs the geff package: pip install "napari-sam2[geff]" (or geff)'
        ) from None
    return geff, geff.core_io


def graph_arrays(
    table: TrackTable,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``(node ids, node properties, edges (E, 2), division flag per edge)`` of the graph."""
    nodes = table.nodes
    ids = np.arange(len(nodes), dtype=np.uint64)
    same = nodes.track[1:] == nodes.track[:-1]
    links = np.stack([ids[:-1][same], ids[1:][same]], axis=1)
    first = {
        int(t): int(i) for t, i in zip(*np.unique(nodes.track, return_index=True), strict=True)
    }
    last = {
        int(t): int(len(nodes) - 1 - i)
        for t, i in zip(*np.unique(nodes.track[::-1], return_index=True), strict=True)
    }
    divisions = np.array(
        [(last[p], first[d]) for d, p in sorted(table.lineage.parents().items())], np.uint64
    ).reshape(-1, 2)
    edges = np.concatenate([links, divisions]).astype(np.uint64)
    flags = np.r_[np.zeros(len(links), np.uint8), np.ones(len(divisions), np.uint8)]
    roots = np.array([table.lineage.root(int(t)) for t in nodes.track], np.int64)
    props = {
        "t": nodes.t.astype(np.int64),
        "y": nodes.y.astype(np.float64),
        "x": nodes.x.astype(np.float64),
        "area": nodes.area.astype(np.int64),
        "seg_id": nodes.track.astype(np.int64),
        "track_id": nodes.track.astype(np.int64),
        "lineage_id": roots,
    }
    return ids, props, edges, flags


def write_geff(
    table: TrackTable,
    labels: Any,
    path: str | os.PathLike,
    *,
    segmentation: bool = True,
    pixel_size: float | None = None,
    space_unit: str | None = None,
    frame_interval: float | None = None,
    time_unit: str | None = None,
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
) -> Path:
    """Write the tracks as a GEFF group (see the module docstring) through the atomic publish.

    Arguments:
        table: the tracks of ``labels`` (:func:`~napari_sam2.lineage.table.track_table`).
        labels: the (T, H, W) label stack (stored when ``segmentation``).
        path: the folder to write (e.g. ``tracks.geff``).
        segmentation: store the label stack in the group too.
        pixel_size, space_unit: the size of a pixel and its unit (e.g. 0.65, ``"micrometer"``).
        frame_interval, time_unit: the time between frames and its unit (e.g. 5, ``"minute"``).
        overwrite, inputs: see :class:`sam2_engine.publish.Publication`.

    Returns:
        The folder written.
    """
    from sam2_engine.publish import Publication

    geff, core_io = _geff_modules()
    from geff_spec import Axis, GeffMetadata, RelatedObject

    ids, props, edges, flags = graph_arrays(table)
    for line in table.missing:
        warnings.warn(f"{line} (kept: links span the gap)", TracksExportWarning, stacklevel=3)
    space = _scaled(pixel_size, space_unit, "pixel_size")
    time = _scaled(frame_interval, time_unit, "frame_interval")
    metadata = GeffMetadata(
        geff_version=geff.__version__,
        directed=True,
        axes=[
            Axis(name="t", type="time", **time),
            Axis(name="y", type="space", **space),
            Axis(name="x", type="space", **space),
        ],
        node_props_metadata={},
        edge_props_metadata={},
        track_node_props={"tracklet": "track_id", "lineage": "lineage_id"},
        related_objects=(
            [RelatedObject(type="labels", path=SEGMENTATION_NAME, node_prop="seg_id")]
            if segmentation
            else None
        ),
        extra={INFO_KEY: {"software": software()}},
    )
    with Publication(
        path, overwrite=overwrite, inputs=inputs, folder=True, what="writing GEFF tracks"
    ) as out:
        core_io.write_arrays(
            geff_store=str(out.partial),
            node_ids=ids,
            node_props={name: {"values": v, "missing": None} for name, v in props.items()},
            edge_ids=edges,
            edge_props={"division": {"values": flags, "missing": None}},
            metadata=metadata,
        )
        if segmentation:
            _write_segmentation(out.partial / SEGMENTATION_NAME, labels)
        return out.commit()


def _scaled(scale: float | None, unit: str | None, name: str) -> dict[str, Any]:
    if unit is not None and scale is None:
        raise ValueError(f"a unit ({unit!r}) needs its {name} too")
    if scale is None:
        return {}
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{name} must be a positive number, got {scale!r}")
    return {"scale": float(scale), "scaled_unit": unit}


def _write_segmentation(path: Path, labels: Any) -> None:
    import zarr

    count, height, width = labels.shape
    dtype = np.asarray(labels[0]).dtype
    array = zarr.open_array(
        str(path),
        mode="w",
        shape=(count, height, width),
        chunks=(1, height, width),
        dtype=dtype,
        zarr_format=2,
    )
    for t in range(count):
        array[t] = np.asarray(labels[t])
