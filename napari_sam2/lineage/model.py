"""The lineage model: each object is a track with a first and last frame and an optional parent.

A division on frame ``t`` ends the parent on frame ``t - 1`` and starts two or more daughters
on ``t``. A :class:`Lineage` is an immutable value: every operation returns a new one (sharing
the unchanged :class:`Track` values), so keeping one per undo step costs a reference, and every
lineage that exists has passed :meth:`Lineage.validate`. Nothing here imports torch, napari or
Qt.

Rules (each broken one is a :class:`LineageError` naming the track and the frame):

- track ids are whole numbers >= 1 (the label values), each used once;
- a track starts on a frame >= 0 and ends on a frame >= its start, or is open (``end`` None:
  it runs until its masks stop);
- a parent exists, is never its own ancestor (no cycles), has an end, and every daughter
  starts after it: ``daughter.start > parent.end``;
- a parent has at least two daughters (a division makes two or more cells).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sam2_engine.constants import MAX_OBJECT_ID


class LineageError(ValueError):
    """A lineage (or a change to one) breaks a rule; the message names the track and frame."""


@dataclass(frozen=True)
class Track:
    """One object's life: frames ``start``..``end`` (inclusive; ``end`` None: open)."""

    id: int
    start: int
    end: int | None = None
    parent: int | None = None

    def alive(self, frame: int) -> bool:
        """Whether the track lives on ``frame``."""
        return self.start <= frame and (self.end is None or frame <= self.end)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start, "end": self.end, "parent": self.parent}


@dataclass(frozen=True)
class Division:
    """A parent ending on ``frame - 1`` and its daughters starting on ``frame``."""

    parent: int
    frame: int
    daughters: tuple[int, ...]


@dataclass(frozen=True)
class Lineage:
    """Tracks and their parents; immutable, always valid (see the module docstring).

    Build one with ``Lineage()`` and :meth:`add` / :meth:`divide`, or from a plain
    daughter -> parent mapping and the tracks' frames with :meth:`from_parents`.

    Raises (at construction):
        LineageError: the tracks break a rule.
    """

    tracks: tuple[Track, ...] = ()
    _by_id: dict[int, Track] = field(init=False, repr=False, compare=False)
    _daughters: dict[int, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[int, Track] = {}
        for track in self.tracks:
            checked = _checked_track(track)
            if checked.id in by_id:
                raise LineageError(f"track {checked.id} is used twice (a track id is used once)")
            by_id[checked.id] = checked
        ordered = tuple(by_id[i] for i in sorted(by_id))
        daughters: dict[int, list[int]] = {}
        for track in ordered:
            if track.parent is not None:
                daughters.setdefault(track.parent, []).append(track.id)
        object.__setattr__(self, "tracks", ordered)
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_daughters", {p: tuple(d) for p, d in daughters.items()})
        self.validate()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_parents(
        cls, parents: Mapping[int, int], spans: Mapping[int, tuple[int, int | None]]
    ) -> Lineage:
        """A lineage from a daughter -> parent mapping and each track's (first, last) frame.

        Raises:
            LineageError: a daughter or parent without frames in ``spans``, or a broken rule.
        """
        for daughter, parent in parents.items():
            for role, track_id in (("daughter", daughter), ("parent", parent)):
                if track_id not in spans:
                    raise LineageError(
                        f"the lineage names track {track_id} (the {role} in {daughter} -> "
                        f"{parent}), but the labels have no mask of it on any frame"
                    )
        return cls(
            tuple(
                Track(_whole(i, "a track id", 1), *span, parent=parents.get(i))
                for i, span in spans.items()
            )
        )

    def add(self, track_id: int, start: int, end: int | None = None) -> Lineage:
        """This lineage with a new root track (no parent).

        Raises:
            LineageError: the id is in use, or a bad frame.
        """
        self._check_new(track_id)
        return Lineage((*self.tracks, Track(track_id, start, end)))

    def divide(self, parent: int, frame: int, daughters: Sequence[int]) -> Lineage:
        """This lineage with ``parent`` dividing on ``frame`` into ``daughters`` (new ids):
        the parent ends on ``frame - 1``, each daughter starts on ``frame`` (open end).

        Raises:
            LineageError: fewer than two daughters, a daughter id in use, an unknown parent,
                a parent that is not alive on ``frame - 1``, or that divides already.
        """
        frame = _whole(frame, "a division frame")
        mother = self[parent]
        where = f"track {parent} dividing on frame {frame}"
        if len(daughters) < 2:
            raise LineageError(f"{where}: a division needs at least two daughters, got {daughters}")
        if len(set(daughters)) != len(daughters):
            raise LineageError(f"{where}: daughter ids repeat: {list(daughters)}")
        if self.daughters(parent):
            (first, *_) = self.daughters(parent)
            raise LineageError(
                f"{where}: it divides already on frame {self[first].start} into "
                f"{list(self.daughters(parent))}"
            )
        if not mother.alive(frame - 1):
            raise LineageError(
                f"{where}: the parent must live on frame {frame - 1} (it lives on frames "
                f"{_span(mother)})"
            )
        for daughter in daughters:
            self._check_new(daughter, f"{where}: ")
        born = (Track(d, frame, None, parent) for d in daughters)
        kept = (replace(t, end=frame - 1) if t.id == parent else t for t in self.tracks)
        return Lineage((*kept, *born))

    def undivide(self, parent: int) -> Lineage:
        """This lineage without ``parent``'s division: its daughters and their descendants go,
        and the parent is open again.

        Raises:
            LineageError: an unknown track, or one that does not divide.
        """
        if not self.daughters(parent):
            raise LineageError(f"track {self[parent].id} does not divide: nothing to undo")
        gone = {d for daughter in self.daughters(parent) for d in self.descendants(daughter)}
        kept = (
            replace(t, end=None) if t.id == parent else t for t in self.tracks if t.id not in gone
        )
        return Lineage(tuple(kept))

    def remove(self, track_id: int) -> Lineage:
        """This lineage without a track and its descendants.

        Raises:
            LineageError: an unknown track, or a daughter whose parent would be left with one
                daughter (undo the division with :meth:`undivide` instead).
        """
        track = self[track_id]
        if track.parent is not None and len(self.daughters(track.parent)) <= 2:
            raise LineageError(
                f"track {track_id} is one of the two daughters of track {track.parent} (division "
                f"on frame {track.start}): undo that division instead"
            )
        gone = set(self.descendants(track_id))
        return Lineage(tuple(t for t in self.tracks if t.id not in gone))

    def ended(self, track_id: int, end: int | None) -> Lineage:
        """This lineage with the track ending on ``end`` (None: open).

        Raises:
            LineageError: an unknown track, an end before its start, or after its daughters
                start.
        """
        self[track_id]  # an unknown track is named
        return Lineage(tuple(replace(t, end=end) if t.id == track_id else t for t in self.tracks))

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._by_id

    def __getitem__(self, track_id: int) -> Track:
        try:
            return self._by_id[track_id]
        except (KeyError, TypeError):
            raise LineageError(f"track {track_id!r} is not in the lineage") from None

    @property
    def ids(self) -> list[int]:
        """The track ids, in increasing order."""
        return [t.id for t in self.tracks]

    def daughters(self, track_id: int) -> tuple[int, ...]:
        """The daughters of a track (empty if it does not divide)."""
        return self._daughters.get(track_id, ())

    def descendants(self, track_id: int) -> list[int]:
        """The track and every track below it, parents before daughters."""
        found, todo = [], [track_id]
        while todo:
            current = todo.pop(0)
            found.append(current)
            todo.extend(self.daughters(current))
        return found

    def root(self, track_id: int) -> int:
        """The first ancestor of a track (itself if it has no parent)."""
        track = self[track_id]
        while track.parent is not None:
            track = self[track.parent]
        return track.id

    def roots(self) -> list[int]:
        """Tracks without a parent."""
        return [t.id for t in self.tracks if t.parent is None]

    def parents(self) -> dict[int, int]:
        """daughter id -> parent id, for every daughter."""
        return {t.id: t.parent for t in self.tracks if t.parent is not None}

    def tree(self) -> dict[int, tuple[int, ...]]:
        """parent id -> its daughters, for every dividing track (the object list's tree)."""
        return dict(self._daughters)

    def divisions(self) -> list[Division]:
        """Every division, by frame then parent."""
        found = [
            Division(parent, self[daughters[0]].start, daughters)
            for parent, daughters in self._daughters.items()
        ]
        return sorted(found, key=lambda d: (d.frame, d.parent))

    def next_id(self, taken: Iterable[int] = ()) -> int:
        """The smallest id above every track and every id in ``taken``."""
        return max([0, *self._by_id, *taken]) + 1

    # ------------------------------------------------------------------ checks
    def validate(self, num_frames: int | None = None) -> None:
        """Check the rules of the module docstring (and, when given, that every frame is
        below ``num_frames``).

        Raises:
            LineageError: naming the track and the frame.
        """
        for track in self.tracks:
            if num_frames is not None and max(track.start, track.end or 0) >= num_frames:
                raise LineageError(
                    f"track {track.id} lives on frames {_span(track)}, but the image has frames "
                    f"0..{num_frames - 1}"
                )
            if track.parent is not None:
                self._check_parent(track)
        for parent, daughters in self._daughters.items():
            if len(daughters) < 2:
                raise LineageError(
                    f"track {parent} divides on frame {self[daughters[0]].start} into one daughter "
                    f"({daughters[0]}): a division needs at least two daughters"
                )

    def _check_parent(self, track: Track) -> None:
        if track.parent not in self._by_id:
            raise LineageError(
                f"track {track.id} (from frame {track.start}) has parent {track.parent}, which "
                "is not in the lineage"
            )
        seen = {track.id}
        current = self._by_id[track.parent]
        while True:
            if current.id in seen:
                raise LineageError(
                    f"track {track.id} is its own ancestor: the parents form a cycle through "
                    f"tracks {sorted(seen)}"
                )
            seen.add(current.id)
            if current.parent is None or current.parent not in self._by_id:
                break
            current = self._by_id[current.parent]
        parent = self._by_id[track.parent]
        if parent.end is None or track.start <= parent.end:
            ends = "never ends" if parent.end is None else f"ends on frame {parent.end}"
            raise LineageError(
                f"track {track.id} starts on frame {track.start}, but its parent {parent.id} "
                f"{ends}: a daughter starts after its parent ends"
            )

    def _check_new(self, track_id: int, where: str = "") -> None:
        _whole(track_id, f"{where}a track id", 1)
        if track_id in self._by_id:
            track = self._by_id[track_id]
            raise LineageError(
                f"{where}track {track_id} exists already (from frame {track.start}): a track id "
                "is used once"
            )

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> list[dict[str, Any]]:
        """The tracks as ``[{"id", "start", "end", "parent"}, ...]`` (what sessions store)."""
        return [t.to_json() for t in self.tracks]

    @classmethod
    def from_json(cls, data: Any) -> Lineage:
        """Inverse of :meth:`to_json`; every value checked by its rule.

        Raises:
            LineageError: a malformed entry or a broken rule.
        """
        if not isinstance(data, list):
            raise LineageError(f"tracks must be a list, got {type(data).__name__}")
        tracks = []
        for entry in data:
            if not isinstance(entry, dict) or not {"id", "start"} <= set(entry):
                raise LineageError(f"a track is {{'id', 'start', 'end', 'parent'}}, got {entry!r}")
            where = f"track {entry['id']!r}"
            end, parent = entry.get("end"), entry.get("parent")
            tracks.append(
                Track(
                    _whole(entry["id"], "a track id", 1),
                    _whole(entry["start"], f"{where}: the start"),
                    None if end is None else _whole(end, f"{where}: the end"),
                    None if parent is None else _whole(parent, f"{where}: the parent", 1),
                )
            )
        return cls(tuple(tracks))


def _span(track: Track) -> str:
    """``"3..9"``, or ``"3.. (open)"``."""
    return f"{track.start}..{'(open)' if track.end is None else track.end}"


def _whole(value: Any, what: str, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (no bools, no fractions, at most the largest label)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise LineageError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        number = operator.index(value)
    except TypeError:
        raise LineageError(f"{what} must be a whole number, got {value!r}") from None
    if not minimum <= number <= MAX_OBJECT_ID:
        raise LineageError(f"{what} must be in {minimum}..{MAX_OBJECT_ID}, got {number}")
    return number


def _checked_track(track: Any) -> Track:
    if not isinstance(track, Track):
        raise LineageError(f"a lineage holds Track values, got {type(track).__name__}")
    where = f"track {track.id!r}"
    start = _whole(track.start, f"{where}: the start")
    end = None if track.end is None else _whole(track.end, f"{where}: the end")
    if end is not None and end < start:
        raise LineageError(f"{where} ends on frame {end}, before it starts (frame {start})")
    parent = None if track.parent is None else _whole(track.parent, f"{where}: the parent", 1)
    if parent == track.id:
        raise LineageError(f"{where} (from frame {start}) is its own parent: a cycle")
    return Track(_whole(track.id, "a track id", 1), start, end, parent)
