"""A napari Tracks layer's data from a label stack and its lineage (no napari import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from napari_sam2.lineage.model import Lineage
from napari_sam2.lineage.table import TrackTable, track_table


class TracksData(NamedTuple):
    """What ``viewer.add_tracks(data, graph=graph, properties=properties)`` takes.

    Attributes:
        data: (N, 4) ``[track_id, t, y, x]``, sorted by track then frame (centroids).
        graph: daughter track id -> ``[parent track id]``.
        properties: per row: ``area`` (pixels).
    """

    data: np.ndarray
    graph: dict[int, list[int]]
    properties: dict[str, np.ndarray]


def tracks_layer_data(
    labels: Any, lineage: Mapping[int, int] | Lineage | TrackTable | None = None
) -> TracksData:
    """Centroids of every track on every frame with the lineage graph, for a Tracks layer.

    Arguments:
        labels: the (T, H, W) track-id stack (ignored when ``lineage`` is a ``TrackTable``).
        lineage: daughter id -> parent id, a :class:`Lineage`, or a ready ``TrackTable``.

    Raises:
        LineageError, ValueError: see :func:`~napari_sam2.lineage.table.track_table`.
    """
    table = lineage if isinstance(lineage, TrackTable) else track_table(labels, lineage)
    nodes = table.nodes
    data = np.stack([nodes.track, nodes.t, nodes.y, nodes.x], axis=1).astype(float)
    graph = {daughter: [parent] for daughter, parent in table.lineage.parents().items()}
    return TracksData(data, graph, {"area": nodes.area.copy()})
