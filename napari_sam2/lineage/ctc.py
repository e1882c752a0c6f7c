"""The Cell Tracking Challenge format: a folder of 16-bit label frames and a track file.

As the challenge specifies for results (``XX_RES``): ``mask000.tif``, ``mask001.tif``, ...
(three digits; four for sequences of more than 1000 frames), one uncompressed 16-bit TIFF per
frame whose pixel values are track ids (0 background), and ``res_track.txt`` with one line
``L B E P`` per track: its label, first frame, last frame and parent label (0: none), the
parent ending before the track begins.

A track must be present on every frame from ``B`` to ``E``. A track with frames missing in
between (a gap) is written the challenge's way: the part after the gap becomes a new track
whose parent is the part before it, and a warning lists every such split.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from napari_sam2.lineage.model import LineageError
from napari_sam2.lineage.table import TracksExportWarning, TrackTable

#: The largest label the challenge's 16-bit masks hold.
MAX_CTC_LABEL = 2**16 - 1


def mask_name(frame: int, num_frames: int, prefix: str = "mask") -> str:
    """``mask007.tif``: three digits, four when the sequence has more than 1000 frames."""
    width = 3 if num_frames <= 1000 else max(4, len(str(num_frames - 1)))
    return f"{prefix}{frame:0{width}d}.tif"


def ctc_rows(table: TrackTable) -> tuple[list[tuple[int, int, int, int]], dict[int, list]]:
    """The ``L B E P`` rows (sorted by label), and the splits of tracks with gaps: track ->
    ``[(first frame of a part after a gap, its new label), ...]``."""
    next_label = table.lineage.next_id()
    parts: dict[int, list[tuple[int, int, int]]] = {}  # track -> [(label, begin, end), ...]
    for track in table.lineage:
        frames = table.nodes.t[table.nodes.track == track.id]
        breaks = (np.flatnonzero(np.diff(frames) > 1) + 1).tolist()
        bounds = zip([0, *breaks], [*(b - 1 for b in breaks), frames.size - 1], strict=True)
        parts[track.id] = []
        for k, (a, b) in enumerate(bounds):
            label = track.id if k == 0 else next_label
            next_label += k > 0
            parts[track.id].append((label, int(frames[a]), int(frames[b])))
    rows = []
    for track in table.lineage:
        parent = 0 if track.parent is None else parts[track.parent][-1][0]
        for label, begin, end in parts[track.id]:
            rows.append((label, begin, end, parent))
            parent = label
    splits = {
        track: [(begin, label) for label, begin, _ in found[1:]]
        for track, found in parts.items()
        if len(found) > 1
    }
    return sorted(rows), splits


def write_ctc(
    table: TrackTable,
    labels: Any,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
) -> Path:
    """Write a CTC result folder (see the module docstring) through the atomic publish.

    Arguments:
        table: the tracks of ``labels`` (:func:`~napari_sam2.lineage.table.track_table`).
        labels: the (T, H, W) label stack, read one frame at a time.
        path: the folder to write (e.g. ``01_RES``).
        overwrite, inputs: see :class:`sam2_engine.publish.Publication`.

    Returns:
        The folder written.

    Raises:
        LineageError: a label above 65535 (the challenge's masks are 16-bit).
    """
    from sam2_engine.publish import Publication

    rows, splits = ctc_rows(table)
    for line in table.missing:
        warnings.warn(f"{line} (kept: see the track file)", TracksExportWarning, stacklevel=3)
    for track, parts in splits.items():
        listed = ", ".join(f"track {label} from frame {frame}" for frame, label in parts)
        warnings.warn(
            f"track {track} has gaps: written as track {track} and {listed}, each the parent "
            "of the next (the challenge's way to write a gap)",
            TracksExportWarning,
            stacklevel=3,
        )
    with Publication(
        path, overwrite=overwrite, inputs=inputs, folder=True, what="writing CTC tracks"
    ) as out:
        out.partial.mkdir()
        write_ctc_files(out.partial, table, labels, rows=(rows, splits))
        return out.commit()


def write_ctc_files(
    folder: Path,
    table: TrackTable,
    labels: Any,
    *,
    prefix: str = "mask",
    track_file: str = "res_track.txt",
    rows: tuple[list[tuple[int, int, int, int]], dict[int, list]] | None = None,
) -> None:
    """Write the frames and the track file into an existing ``folder`` (no publish: for a
    folder of one's own, such as a ground truth's ``TRA`` with ``prefix="man_track"`` and
    ``track_file="man_track.txt"``).

    Raises:
        LineageError: a label above 65535.
    """
    import tifffile

    rows, splits = rows or ctc_rows(table)
    top = max(label for label, *_ in rows)
    if top > MAX_CTC_LABEL:
        raise LineageError(
            f"track {top} does not fit the challenge's 16-bit masks (labels up to "
            f"{MAX_CTC_LABEL}): relabel the tracks first"
        )
    for t in range(table.num_frames):
        frame = np.asarray(labels[t]).astype(np.uint16)
        for track, parts in splits.items():
            _relabel_parts(frame, t, track, parts)
        tifffile.imwrite(folder / mask_name(t, table.num_frames, prefix), frame)
    text = "".join(f"{label} {begin} {end} {parent}\n" for label, begin, end, parent in rows)
    (folder / track_file).write_text(text, encoding="ascii")


def _relabel_parts(frame: np.ndarray, t: int, track: int, parts: list[tuple[int, int]]) -> None:
    """On frame ``t``, the pixels of ``track`` take the label of the part ``t`` belongs to."""
    label = track
    for first, part_label in parts:
        if t >= first:
            label = part_label
    if label != track:
        frame[frame == track] = label
