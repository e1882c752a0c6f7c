"""A least-recently-used cache of per-frame image features, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class Sized(Protocol):
    def nbytes(self) -> int: ...


V = TypeVar("V", bound=Sized)


class FeatureCache(Generic[V]):
    """Keeps the most recently used entries whose total size fits ``max_bytes``.

    The most recent entry is always kept, even when it alone exceeds the budget, so the frame
    being worked on never has to be encoded twice. Safe to use from a prefetch thread.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: int) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        return self._bytes

    def keys(self) -> list[int]:
        with self._lock:
            return list(self._entries)

    def get(self, key: int) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: int, value: V) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes()
            self._entries[key] = value
            self._bytes += value.nbytes()
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
