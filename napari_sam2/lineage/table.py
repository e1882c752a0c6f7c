"""Tracks read from a label stack: one node per object per frame, each track's frames, and the
checks of labels against a lineage, shared by every export.

A track's frames are those where its label has pixels. A frame with no mask inside a track's
life (a gap), or inside the life a session's lineage declares for it, is *reported*, never
dropped (:attr:`TrackTable.missing`); labels and lineage that contradict each other (a daughter
with a mask before its parent's last one, a track of the lineage with no mask, a mask outside
the declared life) are a :class:`LineageError` naming the track and the frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_sam2.lineage.model import Lineage, LineageError, _span


class TracksExportWarning(UserWarning):
    """An export reports frames without a mask for a live track (nothing is dropped)."""


@dataclass(frozen=True)
class Nodes:
    """One row per object per frame, sorted by track then frame.

    Attributes:
        track: the label (track id); t: the frame; y, x: the centroid (pixels);
        area: the mask's pixels.
    """

    track: np.ndarray
    t: np.ndarray
    y: np.ndarray
    x: np.ndarray
    area: np.ndarray

    def __len__(self) -> int:
        return len(self.track)


@dataclass(frozen=True)
class TrackTable:
    """A label stack's tracks, checked against its lineage.

    Attributes:
        nodes: every object on every frame.
        lineage: each track's first and last frame with a mask, and its parent.
        gaps: track -> frames inside its life without a mask.
        missing: one line per track with frames missing (gaps, or frames its declared life
            has and the labels do not), for a warning.
        num_frames: T of the label stack.
    """

    nodes: Nodes
    lineage: Lineage
    gaps: dict[int, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    num_frames: int = 0


def measure(labels: Any) -> Nodes:
    """Centroid and area of every object on every frame of a (T, H, W) label stack, read one
    frame at a time (a memory-mapped or lazy stack stays on disk)."""
    shape = tuple(getattr(labels, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"labels must be a (T, H, W) stack, got shape {shape}")
    rows: list[tuple[np.ndarray, ...]] = []
    for t in range(shape[0]):
        frame = np.asarray(labels[t])
        if frame.dtype.kind not in "iu":
            raise ValueError(f"labels must hold whole numbers, got dtype {frame.dtype}")
        where = np.flatnonzero(frame)
        if not where.size:
            continue
        if frame.dtype.kind == "i" and frame.min() < 0:
            raise ValueError(f"labels are >= 0 (track ids), frame {t} holds {frame.min()}")
        ids, inverse = np.unique(frame.ravel()[where], return_inverse=True)
        area = np.bincount(inverse)
        y = np.bincount(inverse, weights=where // shape[2]) / area
        x = np.bincount(inverse, weights=where % shape[2]) / area
        rows.append((ids.astype(np.int64), np.full(ids.size, t), y, x, area))
    if not rows:
        empty = np.zeros(0)
        return Nodes(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty)
    track, t, y, x, area = (np.concatenate(column) for column in zip(*rows, strict=True))
    order = np.lexsort((t, track))
    return Nodes(track[order], t[order], y[order], x[order], area[order].astype(np.int64))


def track_table(labels: Any, lineage: Mapping[int, int] | Lineage | None = None) -> TrackTable:
    """The tracks of a (T, H, W) label stack with their parents.

    Arguments:
        labels: track ids per pixel (0 background), numpy or any array read frame by frame.
        lineage: daughter id -> parent id, or a :class:`Lineage` (a session's) whose declared
            lives are checked against the masks too.

    Raises:
        LineageError: labels and lineage disagree, or the lineage breaks a rule.
        ValueError: no object in the labels, or labels that are not a (T, H, W) stack of
            whole numbers.
    """
    nodes = measure(labels)
    if not len(nodes):
        raise ValueError("the labels hold no object on any frame: there are no tracks to export")
    ids, first = np.unique(nodes.track, return_index=True)
    last = np.r_[first[1:], len(nodes)] - 1
    spans = {
        int(i): (int(nodes.t[a]), int(nodes.t[b])) for i, a, b in zip(ids, first, last, strict=True)
    }
    declared = lineage if isinstance(lineage, Lineage) else None
    parents = declared.parents() if declared is not None else dict(lineage or {})
    table = Lineage.from_parents(parents, spans)
    gaps = {}
    for i, a, b in zip(ids, first, last, strict=True):
        frames = nodes.t[a : b + 1]
        if frames[-1] - frames[0] + 1 != frames.size:
            gaps[int(i)] = sorted(set(range(int(frames[0]), int(frames[-1]) + 1)) - set(frames))
    missing = [f"track {i}: no mask on frame(s) {_ranges(f)}" for i, f in gaps.items()]
    if declared is not None:
        missing += _check_declared(declared, spans, len(labels))
    return TrackTable(nodes, table, gaps, missing, len(labels))


def _check_declared(
    declared: Lineage, spans: dict[int, tuple[int, int]], num_frames: int
) -> list[str]:
    """Masks against a declared lineage: errors for masks outside a track's life, report
    lines for frames of its life without a mask (before its first or after its last mask)."""
    report = []
    for track in declared:
        if track.id not in spans:
            raise LineageError(
                f"track {track.id} (from frame {track.start}) is in the lineage, but the labels "
                "have no mask of it on any frame"
            )
        first, last = spans[track.id]
        if first < track.start or (track.end is not None and last > track.end):
            frame = first if first < track.start else last
            raise LineageError(
                f"track {track.id} has a mask on frame {frame}, outside its life in the lineage "
                f"(frames {_span(track)})"
            )
        end = track.end if track.end is not None else last
        lost = [*range(track.start, first), *range(last + 1, min(end, num_frames - 1) + 1)]
        if lost:
            report.append(f"track {track.id}: no mask on frame(s) {_ranges(lost)} of its life")
    return report


def _ranges(frames: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    parts, start = [], None
    for i, frame in enumerate(frames):
        if start is None:
            start = frame
        if i + 1 == len(frames) or frames[i + 1] != frame + 1:
            parts.append(str(start) if start == frame else f"{start}-{frame}")
            start = None
    return ", ".join(parts)
