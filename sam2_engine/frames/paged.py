"""An N-D array-like whose data is stored as separate 2-D pages (TIFF pages, image files,
video frames) and read one page at a time."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import FrameReadError


class PagedArray:
    """Shape ``lead_shape + page_shape``; indexing reads only the pages it needs.

    Supports numpy basic indexing (integers and slices) as used by ``FrameLayout.read``.
    Page ``k`` (in C order over ``lead_shape``) comes from ``read_page(k)``, whose result must
    have ``page_shape``; a page of another shape raises ``FrameReadError`` naming it through
    ``describe(k)``.

    Attributes:
        reads (int): how many pages have been read (for tests and benchmarks).
    """

    def __init__(
        self,
        lead_shape: Sequence[int],
        page_shape: Sequence[int],
        dtype: np.dtype,
        read_page: Callable[[int], np.ndarray],
        describe: Callable[[int], str] = lambda k: f"page {k}",
    ) -> None:
        self.lead_shape = tuple(int(n) for n in lead_shape)
        self.page_shape = tuple(int(n) for n in page_shape)
        self.dtype = np.dtype(dtype)
        self._read_page = read_page
        self._describe = describe
        self._lock = threading.Lock()
        self.reads = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lead_shape + self.page_shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def page(self, k: int) -> np.ndarray:
        """Page ``k``, checked against ``page_shape`` and cast to ``dtype``."""
        with self._lock:
            data = np.asarray(self._read_page(k))
            self.reads += 1
        if data.shape != self.page_shape:
            raise FrameReadError(
                f"{self._describe(k)} has shape {data.shape}, expected {self.page_shape} "
                "like the first one"
            )
        return data.astype(self.dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.ndim or any(not isinstance(k, (int, np.integer, slice)) for k in key):
            raise IndexError(f"PagedArray supports only integers and slices, got {key!r}")
        key = key + (slice(None),) * (self.ndim - len(key))
        n_lead = len(self.lead_shape)
        lead_ranges = []
        for k, size in zip(key[:n_lead], self.lead_shape, strict=True):
            if isinstance(k, slice):
                lead_ranges.append(range(*k.indices(size)))
            else:
                position = int(k) + size if int(k) < 0 else int(k)
                if not 0 <= position < size:
                    raise IndexError(f"index {k} is out of range for an axis of size {size}")
                lead_ranges.append(range(position, position + 1))
        page_key = key[n_lead:]
        planes = []
        for position in itertools.product(*lead_ranges):
            flat = int(np.ravel_multi_index(position, self.lead_shape)) if n_lead else 0
            planes.append(self.page(flat)[page_key])
        kept = [len(r) for r, k in zip(lead_ranges, key, strict=False) if isinstance(k, slice)]
        if not planes:  # an empty slice: the right shape without reading anything
            empty_page = np.broadcast_to(np.zeros((), self.dtype), self.page_shape)
            return np.empty(kept + list(empty_page[page_key].shape), self.dtype)
        return np.stack(planes).reshape(kept + list(planes[0].shape))
