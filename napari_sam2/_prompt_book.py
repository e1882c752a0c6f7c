"""The prompts of a tracking session, and which of them the engine has yet to see (Qt-free).

:class:`PromptBook` keeps one :class:`~napari_sam2.session.FramePrompt` per (frame, object), in
the order they were last edited, and marks every (frame, object) whose prompt changes as
*pending*. The next job takes the pending ones as :class:`~napari_sam2._records.SyncItem`
(:meth:`PromptBook.take_pending`); a job that stops early hands back those it did not send
(:meth:`PromptBook.requeue`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

from napari_sam2._records import PromptKey, SyncItem
from napari_sam2.session import FramePrompt


@dataclass
class _Pending:
    """A prompt the engine has not seen yet: the undo entry it belongs to, and whether its
    result should be written to the labels (not when replaying after undo or a load)."""

    token: int | None
    write: bool


class PromptBook:
    """The prompts per (frame, object) and the ones waiting to be sent to the engine."""

    def __init__(self) -> None:
        self._prompts: dict[PromptKey, FramePrompt] = {}
        self._pending: dict[PromptKey, _Pending] = {}

    @property
    def prompts(self) -> list[FramePrompt]:
        """All prompts, in the order they were last edited."""
        return list(self._prompts.values())

    def get(self, key: PromptKey) -> FramePrompt | None:
        return self._prompts.get(key)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def snapshot(self) -> dict[PromptKey, FramePrompt]:
        """A copy of the prompts, for an undo entry (:meth:`restore` takes it back)."""
        return dict(self._prompts)

    def changes_from_layers(
        self,
        clicks: dict[PromptKey, tuple[list[list[float]], list[int]]],
        boxes: dict[PromptKey, list[float]],
        known: Collection[int],
    ) -> dict[PromptKey, FramePrompt | None]:
        """The prompts that differ from the clicks and boxes in the prompt layers (None:
        removed), for the ``known`` objects only. Mask prompts are not in the layers: they
        stay unless clicks or a box replace them on their frame."""
        wanted: dict[PromptKey, FramePrompt] = {}
        for key in {*clicks, *boxes}:
            if key[1] not in known:
                continue
            points, labels = clicks.get(key, ([], []))
            wanted[key] = FramePrompt(
                key[0], key[1], [list(p) for p in points], list(labels), boxes.get(key)
            )
        changes: dict[PromptKey, FramePrompt | None] = {}
        for key in {*wanted, *self._prompts}:
            old, new = self._prompts.get(key), wanted.get(key)
            if new is None and old is not None and old.mask is not None:
                continue
            if not _same_prompt(old, new):
                changes[key] = new
        return changes

    def edit(self, changes: dict[PromptKey, FramePrompt | None], token: int | None) -> None:
        """Replace these prompts (None or empty: removed); their results are written."""
        for key, prompt in changes.items():
            self._prompts.pop(key, None)
            if prompt is not None and not prompt.is_empty:
                self._prompts[key] = prompt
            self._pending[key] = _Pending(token, write=True)

    def add_sent(self, prompts: dict[PromptKey, FramePrompt]) -> None:
        """Record prompts the engine already has (objects it found itself): nothing to send."""
        self._prompts.update(prompts)

    def remove_object(self, obj: int, token: int | None) -> None:
        """Drop an object's prompts (the engine forgets the object; nothing is written)."""
        for key in [key for key in self._prompts if key[1] == obj]:
            del self._prompts[key]
            self._pending[key] = _Pending(token, write=False)

    def restore(self, prompts: dict[PromptKey, FramePrompt]) -> None:
        """Go back to a :meth:`snapshot` (undo): the prompts that differ go to the engine again."""
        for key in {*prompts, *self._prompts}:
            if not _same_prompt(prompts.get(key), self._prompts.get(key)):
                self._pending[key] = _Pending(None, write=False)
        self._prompts = prompts

    def load(self, prompts: Iterable[FramePrompt]) -> None:
        """Replace every prompt (a loaded session): old and new all go to the engine again."""
        old = self._prompts
        self._prompts = {(p.frame, p.object): p for p in prompts}
        for key in {*old, *self._prompts}:
            self._pending[key] = _Pending(None, write=False)

    def clear(self) -> None:
        """Forget every prompt; the next job tells the engine to drop them."""
        self._pending = {key: _Pending(None, write=False) for key in self._prompts}
        self._prompts = {}

    def take_pending(self, *, resend_all: bool) -> list[SyncItem]:
        """The pending prompts as a job's sync items; none is pending afterwards.

        ``resend_all``: the engine starts empty (a new model or image), every prompt goes again.
        """
        if resend_all:
            for key in self._prompts:
                self._pending.setdefault(key, _Pending(None, write=False))
        items = []
        for (frame, obj), pending in self._pending.items():
            prompt = self._prompts.get((frame, obj))
            keep = any(k[1] == obj and k != (frame, obj) for k in self._prompts)
            write = pending.write and (prompt is None or prompt.mask is None)
            items.append(SyncItem(frame, obj, prompt, keep, pending.token, write))
        self._pending = {}
        return items

    def requeue(self, items: Iterable[SyncItem], done: Collection[PromptKey]) -> None:
        """A job stopped early: the items it did not send are pending again."""
        for item in items:
            key = (item.frame, item.obj)
            if key not in done:
                self._pending.setdefault(key, _Pending(item.token, item.write))


def _same_prompt(a: FramePrompt | None, b: FramePrompt | None) -> bool:
    if a is None or b is None:
        return a is b
    if (a.mask is None) != (b.mask is None):
        return False
    if a.mask is not None and not np.array_equal(a.mask, b.mask):
        return False
    return (
        np.allclose(np.reshape(a.points, (-1, 2)), np.reshape(b.points, (-1, 2)))
        if len(a.points) == len(b.points)
        else False
    ) and (list(a.labels), a.box) == (list(b.labels), b.box)
