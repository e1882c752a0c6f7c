"""The object-score (confidence) table: per-object, per-frame scores with a ``lost`` flag."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from napari_sam2._measurements.tables import Table

__all__ = ["CONFIDENCE_COLUMNS", "confidence_table", "lost_frames"]

CONFIDENCE_COLUMNS = ("frame", "label", "score", "lost")


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


def lost_frames(table: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
    """``{label: frames flagged lost}`` from a :func:`confidence_table`."""
    frames = np.asarray(table["frame"])
    labels = np.asarray(table["label"])
    lost = np.asarray(table["lost"], dtype=bool)
    return {int(label): np.sort(frames[(labels == label) & lost]) for label in np.unique(labels)}
