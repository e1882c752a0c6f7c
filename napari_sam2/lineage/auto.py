"""Automatic divisions during a tracking run: daughters relabelled as frames are written.

The engine keeps tracking a dividing object as one object (its mask covers both daughters);
ending it and starting daughters inside the engine mid-propagation is left for later. Instead,
this first version records each division found (:mod:`.detect`) and relabels the frames: from
the frame of the split on, each part gets a new id (a daughter), and the parent id ends on the
frame before. On later frames every pixel of the tracked object goes to the daughter nearest to
where it was on the previous frame, so daughters that touch again keep their ids, and a
daughter can divide again. Frames of the split already written (a split must last
``frames`` frames before it counts) are written again, relabelled; sinks allow that.

Divisions are looked for on forward passes only; frames of a backward pass (before the first
prompt) are written as tracked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from napari_sam2.lineage.detect import DivisionDetector, DivisionEvent, DivisionSettings

#: (frame index, obj_ids, (N, 1, H, W) mask logits), as the tracking pipeline yields them.
TrackedFrame = tuple[int, Sequence[int], Any]


class DivisionRelabeller:
    """Relabels label frames, in tracking order, so that daughters get their own ids.

    Arguments:
        first_id: the first daughter id (above every object id of the run).
        settings: how divisions are found.
        max_id: the largest id the labels' dtype holds.

    Attributes:
        events: the divisions found, in order.
        parents: daughter id -> parent id.
    """

    def __init__(
        self, first_id: int, settings: DivisionSettings | None = None, max_id: int = 2**16 - 1
    ) -> None:
        self.detector = DivisionDetector(settings)
        self.next_id = first_id
        self.max_id = max_id
        self.events: list[DivisionEvent] = []
        self.parents: dict[int, int] = {}
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=self.detector.settings.frames)
        self._leaves: dict[int, list[int]] = {}  # tracked label -> the daughters it goes to now
        self._centres: dict[int, tuple[float, float]] = {}  # daughter -> where it was last seen

    def push(self, frame: int, labels: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Relabel one tracked frame; returns the frames to write now, ``(frame, labels)``:
        this one, and earlier ones rewritten when a division was confirmed."""
        if self.parents and np.isin(labels, list(self.parents)).any():
            clash = sorted(set(np.unique(labels).tolist()) & set(self.parents))
            raise ValueError(
                f"object(s) {clash} appear on frame {frame}, but those ids were given to "
                "daughters of divisions found earlier"
            )
        forward = bool(self._recent) and frame == self._recent[-1][0] + 1
        if not forward:
            self._recent.clear()
        out = np.array(labels)
        if forward:
            previous = self._recent[-1][1]
            for label, leaves in self._leaves.items():
                _give_nearest(out, out == label, previous, leaves, self._centres)
        self._recent.append((frame, out))
        rewritten: dict[int, np.ndarray] = {frame: out}
        for event in self.detector.update(frame, out):
            rewritten.update(self._divide(event))
        self._remember_centres(out)
        return sorted(rewritten.items())

    def _divide(self, event: DivisionEvent) -> dict[int, np.ndarray]:
        """Give the event's parts new ids on the recent frames from the split on."""
        count = len(event.areas)
        if self.next_id + count - 1 > self.max_id:
            raise ValueError(
                f"track {event.parent} divides on frame {event.frame}, but daughter id "
                f"{self.next_id + count - 1} does not fit the labels (largest {self.max_id})"
            )
        daughters = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        self.events.append(event)
        self.parents.update(dict.fromkeys(daughters, event.parent))
        handed_on = False
        for leaves in self._leaves.values():  # a daughter divides: its pixels go on
            if event.parent in leaves:
                leaves[leaves.index(event.parent) : leaves.index(event.parent) + 1] = daughters
                handed_on = True
        if not handed_on:
            self._leaves[event.parent] = list(daughters)
        changed = {}
        reference = np.array([0, *daughters], np.int64)[event.parts]
        for index, frame_labels in self._recent:
            if index < event.frame:
                continue
            _give_nearest(frame_labels, frame_labels == event.parent, reference, daughters, {})
            reference = frame_labels
            changed[index] = frame_labels
        return changed

    def _remember_centres(self, labels: np.ndarray) -> None:
        from scipy import ndimage

        leaves = [leaf for all_leaves in self._leaves.values() for leaf in all_leaves]
        if not leaves:
            return
        with np.errstate(invalid="ignore", divide="ignore"):  # a leaf absent here: NaN
            found = ndimage.center_of_mass(np.ones(labels.shape, np.uint8), labels, leaves)
        for leaf, centre in zip(leaves, found, strict=True):
            if np.isfinite(centre[0]):
                self._centres[leaf] = (float(centre[0]), float(centre[1]))


def _give_nearest(
    labels: np.ndarray,
    pixels: np.ndarray,
    reference: np.ndarray,
    ids: Sequence[int],
    centres: dict[int, tuple[float, float]],
) -> None:
    """Set ``labels[pixels]`` to the id (of ``ids``) nearest to each pixel in ``reference``;
    where ``reference`` holds none of them, to the one whose last centre is nearest."""
    from scipy import ndimage

    if not pixels.any():
        return
    source = np.isin(reference, ids)
    if source.any():
        rows, cols = np.nonzero(pixels | source)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        _, (near_rows, near_cols) = ndimage.distance_transform_edt(
            ~source[box], return_indices=True
        )
        inside = pixels[box]
        labels[box][inside] = reference[box][near_rows[inside], near_cols[inside]]
        return
    known = [i for i in ids if i in centres]
    if known:
        rows, cols = np.nonzero(pixels)
        centre = np.array([centres[i] for i in known])
        distance = (rows[:, None] - centre[:, 0]) ** 2 + (cols[:, None] - centre[:, 1]) ** 2
        labels[rows, cols] = np.asarray(known, labels.dtype)[distance.argmin(axis=1)]


def write_with_divisions(
    frames: Iterable[TrackedFrame],
    sink: Any,
    relabeller: DivisionRelabeller,
    progress: Any = None,
) -> list[DivisionEvent]:
    """Write tracked frames into ``sink`` (left open), finding divisions as they come.

    Returns:
        The divisions found. On an error the sink is aborted (finished frames kept) and the
        error carries a note saying where.
    """
    from sam2_engine.sinks import merge_to_labels

    try:
        for index, obj_ids, masks in frames:
            labels = merge_to_labels(obj_ids, masks, sink.threshold, dtype=sink.dtype)
            for frame, relabelled in relabeller.push(index, labels):
                sink.write_labels(frame, relabelled)
            if progress is not None:
                progress.update(1)
    except BaseException as error:
        sink.abort()
        error.add_note(sink.error_note())
        raise
    return relabeller.events


def record_divisions(info: dict[str, Any], relabeller: DivisionRelabeller) -> dict[str, Any]:
    """Add the divisions found to a provenance dict (what a written file records): ``lineage``
    (daughter id -> parent id, keys as text as in JSON) and ``divisions`` (parent, frame,
    daughters); returns ``info``."""
    info["lineage"] = {str(d): p for d, p in relabeller.parents.items()}
    info["divisions"] = [
        {
            "parent": e.parent,
            "frame": e.frame,
            "daughters": [d for d, p in relabeller.parents.items() if p == e.parent],
        }
        for e in relabeller.events
    ]
    return info


def relabeller_for(
    divisions: Any, object_ids: Sequence[int], label_dtype: Any
) -> DivisionRelabeller | None:
    """The relabeller a run with ``divisions`` needs: None for ``None``; ``"auto"`` (default
    settings) or a :class:`DivisionSettings`; daughters numbered above ``object_ids``.

    Raises:
        ValueError: another value.
    """
    if divisions is None:
        return None
    if isinstance(divisions, str) and divisions == "auto":
        divisions = DivisionSettings()
    if not isinstance(divisions, DivisionSettings):
        raise ValueError(f"divisions must be None, 'auto' or a DivisionSettings, got {divisions!r}")
    top = int(np.iinfo(np.dtype(label_dtype)).max)
    return DivisionRelabeller(max(object_ids, default=0) + 1, divisions, max_id=top)
