"""The undo stack of the tracking controller (Qt-free).

Each user action opens an :class:`UndoEntry` holding copies of what it is about to change
(objects, prompts, protected frames, scores). Results that arrive later from a job (a click's
mask, propagated frames) add the label frames they replace to the entry of the action that
caused them, found by its token, so one undo takes back the action and its results together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Undo steps kept.
UNDO_DEPTH = 30


@dataclass
class UndoEntry:
    """What one action replaced. None means the action did not touch that part."""

    label: str
    token: int
    objects: list[Any] | None = None
    active: int | None = None
    prompts: dict[tuple[int, int], Any] | None = None
    protected: set[int] | None = None
    scores: dict[int, dict[int, float]] | None = None
    #: the lineage (an immutable value), recorded with the objects
    lineage: Any = None
    #: label frames as they were before the action's results were written
    frames: dict[int, np.ndarray] = field(default_factory=dict)


class UndoHistory:
    """A bounded stack of :class:`UndoEntry`."""

    def __init__(self, depth: int = UNDO_DEPTH) -> None:
        self.depth = depth
        self._entries: list[UndoEntry] = []
        self._next_token = 1

    def __bool__(self) -> bool:
        return bool(self._entries)

    @property
    def label(self) -> str | None:
        """What the next undo takes back (None: nothing)."""
        return self._entries[-1].label if self._entries else None

    def open(self, label: str, **snapshot: Any) -> UndoEntry:
        """Push a new entry with ``snapshot`` (copies made by the caller)."""
        entry = UndoEntry(label, self._next_token, **snapshot)
        self._next_token += 1
        self._entries.append(entry)
        del self._entries[: -self.depth]
        return entry

    def find(self, token: int | None) -> UndoEntry | None:
        """The entry with this token, if still on the stack."""
        for entry in reversed(self._entries):
            if entry.token == token:
                return entry
        return None

    def pop(self) -> UndoEntry | None:
        return self._entries.pop() if self._entries else None

    def discard_if_unused(self, token: int | None) -> bool:
        """Drop the top entry if it has ``token`` and recorded no label frames."""
        if self._entries and self._entries[-1].token == token and not self._entries[-1].frames:
            self._entries.pop()
            return True
        return False

    def clear(self) -> None:
        self._entries.clear()
