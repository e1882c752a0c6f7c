"""Frames from a zarr array or an OME-Zarr image (zarr format 2 or 3), one frame per read.

For OME-Zarr (NGFF 0.1 to 0.5) the first resolution level of the first multiscale image is used
and its axes come from the multiscales metadata; a plain array's axes come from its
``dimension_names`` (zarr 3) or xarray's ``_ARRAY_DIMENSIONS`` attribute (zarr 2) when present.

zarr reads a chunk that is not in the store as the array's fill value, without a word. That is
how zarr stores blank regions (chunks equal to the fill value are not written by default), but
it is also what a deleted or never-copied chunk looks like. So when the store holds fewer chunks
than the array has, each frame read checks its own chunks, and a frame that touches a missing one
gets a ``FrameSourceWarning`` naming the frame and the chunks (``missing_chunks="warn"``, the
default), a ``FrameReadError`` (``"error"``), or nothing (``"fill"``: blank regions are expected).
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .array_source import ArraySource
from .errors import FrameReadError, FrameSourceError, FrameSourceWarning
from .layout import axes_from_names

#: What a frame that touches a chunk missing from the store does.
MISSING_CHUNKS = ("warn", "error", "fill")

#: Files that mark a directory as a zarr store (format 2 or 3).
ZARR_MARKERS = (".zarray", ".zgroup", ".zattrs", "zarr.json")


def is_zarr_path(path: Path) -> bool:
    """True for a directory that is a zarr store (by name or by its marker files)."""
    if not path.is_dir():
        return False
    return path.suffix.lower() == ".zarr" or any((path / m).exists() for m in ZARR_MARKERS)


def _multiscales(attrs: Any) -> list[dict[str, Any]] | None:
    attrs = dict(attrs)
    ome = attrs.get("ome")  # NGFF 0.5 (zarr 3) nests everything under "ome"
    if isinstance(ome, dict) and "multiscales" in ome:
        return list(ome["multiscales"])
    if "multiscales" in attrs:
        return list(attrs["multiscales"])
    return None


def _axes_names(entry: dict[str, Any]) -> list[str] | None:
    axes = entry.get("axes")
    if axes is None:  # NGFF 0.1 / 0.2: always 5-D TCZYX
        return list("tczyx")
    return [a["name"] if isinstance(a, dict) else str(a) for a in axes]


def _array_dimension_names(array: Any) -> list[str] | None:
    names = getattr(getattr(array, "metadata", None), "dimension_names", None)
    if names and all(n is not None for n in names):
        return list(names)
    names = dict(array.attrs).get("_ARRAY_DIMENSIONS")
    return list(names) if names else None


class ZarrSource(ArraySource):
    """Frames from a zarr array, a zarr group holding one array, or an OME-Zarr image.

    Arguments:
        store: a path (directory) or an opened ``zarr.Array`` / ``zarr.Group``.
        missing_chunks: ``"warn"`` (default), ``"error"`` or ``"fill"``: what reading a frame
            that touches a chunk missing from the store does (see the module docstring).
        **layout: ``axes``, ``axis``, ``index``, ``channel``, ``contrast_limits``,
            ``percentiles`` as for ``ArraySource``.
    """

    def __init__(self, store: Any, *, missing_chunks: str = "warn", **layout: Any) -> None:
        if missing_chunks not in MISSING_CHUNKS:
            raise FrameSourceError(
                f"missing_chunks={missing_chunks!r} must be one of {', '.join(MISSING_CHUNKS)}"
            )
        self.missing_chunks = missing_chunks
        self._warned: set[int] = set()
        self._warned_lock = threading.Lock()
        try:
            import zarr
        except ImportError as error:  # pragma: no cover - zarr is a test dependency
            raise FrameSourceError("reading zarr stores needs the zarr package") from error
        if isinstance(store, (str, Path)):
            self.path: Path | None = Path(store)
            name = str(self.path)
            try:
                node = zarr.open(store=str(self.path), mode="r")
            except Exception as error:
                raise FrameSourceError(f"{name} is not a readable zarr store: {error}") from error
        else:
            self.path, node, name = None, store, f"zarr {type(store).__name__}"
        array, names, info = self._find_array(zarr, node, name)
        info = {"kind": "zarr", **({"path": name} if self.path else {}), **info}
        file_axes = axes_from_names(names) if names else None
        super().__init__(array, file_axes=file_axes, metadata=info, **layout)
        self._sparse = missing_chunks != "fill" and _has_missing_chunks(array)
        self.metadata["missing_chunks"] = missing_chunks
        if self._sparse:
            self.metadata["sparse_store"] = True

    def read(self, index: int) -> np.ndarray:
        frame = super().read(index)
        if not self._sparse:
            return frame
        i = self._check_index(index)
        missing = _missing_chunk_keys(self._array, self._frame_region(i))
        if not missing:
            return frame
        where = self.metadata.get("path") or "the zarr array"
        shown = ", ".join(missing[:4])
        if len(missing) > 4:
            shown += f" and {len(missing) - 4} more"
        fill = np.asarray(self._array.fill_value).item()
        text = (
            f"frame {i} of {where} touches {len(missing)} chunk(s) missing from the store "
            f"({shown}): zarr reads them as the fill value ({fill!r})"
        )
        if self.missing_chunks == "error":
            raise FrameReadError(
                f"{text}. The store is incomplete (an interrupted copy or write?); copy it "
                'again, or open it with open_frames(..., missing_chunks="fill") if blank regions '
                "are expected."
            )
        with self._warned_lock:
            first = i not in self._warned
            self._warned.add(i)
        if first:
            warnings.warn(
                f"{text}, so that part of the frame is blank. If the store is incomplete (an "
                "interrupted copy or write?), copy it again. (Scripts opening frames with "
                'sam2_engine.open_frames choose with missing_chunks=: "fill" says nothing, '
                '"error" stops.)',
                FrameSourceWarning,
                stacklevel=2,
            )
        return frame

    def _frame_region(self, i: int) -> list[range]:
        """Index ranges of the array that frame ``i`` reads, one per dimension."""
        layout = self.layout
        region = []
        for letter, size in zip(layout.axes, layout.shape, strict=True):
            if letter == layout.axis:
                region.append(range(i, i + 1))
            elif letter == "C" and layout.channel is not None:
                chosen = layout.channel if isinstance(layout.channel, tuple) else (layout.channel,)
                region.append(range(min(chosen), max(chosen) + 1))
            elif letter in layout.index:
                region.append(range(layout.index[letter], layout.index[letter] + 1))
            else:
                region.append(range(size))
        return region

    @staticmethod
    def _find_array(zarr: Any, node: Any, name: str) -> tuple[Any, list[str] | None, dict]:
        if isinstance(node, zarr.Array):
            return node, _array_dimension_names(node), {"zarr_format": node.metadata.zarr_format}
        multiscales = _multiscales(node.attrs)
        if multiscales:
            entry = multiscales[0]
            dataset = entry["datasets"][0]["path"]
            try:
                array = node[dataset]
            except KeyError as error:
                raise FrameSourceError(
                    f"{name}: OME-Zarr multiscales name level {dataset!r}, which is missing"
                ) from error
            info = {
                "zarr_format": array.metadata.zarr_format,
                "ome_zarr": True,
                "level": dataset,
                "n_levels": len(entry["datasets"]),
            }
            return array, _axes_names(entry), info
        arrays = sorted(node.array_keys())
        if len(arrays) == 1:
            array = node[arrays[0]]
            info = {"zarr_format": array.metadata.zarr_format, "array": arrays[0]}
            return array, _array_dimension_names(array), info
        if not arrays:
            raise FrameSourceError(f"{name}: the zarr group holds no array")
        raise FrameSourceError(
            f"{name}: the zarr group holds several arrays ({', '.join(arrays)}) and no OME "
            "multiscales metadata; open one of them, e.g. "
            f"{name}/{arrays[0]}"
        )


def _has_missing_chunks(array: Any) -> bool:
    """True when the store holds fewer chunks than ``array`` has (False when it cannot tell)."""
    try:
        return int(array.nchunks_initialized) < int(array.nchunks)
    except Exception:  # a store that cannot list its keys: nothing to compare
        return False


def _missing_chunk_keys(array: Any, region: list[range]) -> list[str]:
    """Store keys of the chunks (shards, for sharded arrays) that cover ``region`` and are
    missing from ``array``'s store."""
    grid = getattr(array, "shards", None) or array.chunks
    per_dim = [
        range(r.start // c, (r.stop - 1) // c + 1) if len(r) else range(0)
        for r, c in zip(region, grid, strict=True)
    ]
    store, prefix = array.store, array.path
    missing = []
    for coords in itertools.product(*per_dim):
        key = array.metadata.encode_chunk_key(tuple(coords))
        full = f"{prefix}/{key}" if prefix else key
        if not _key_exists(store, full):
            missing.append(full)
    return missing


def _key_exists(store: Any, key: str) -> bool:
    root = getattr(store, "root", None)
    if root is not None and os.path.isdir(root):  # a local directory store: one stat
        return os.path.exists(os.path.join(root, key))
    try:
        from zarr.core.sync import sync

        return bool(sync(store.exists(key)))
    except Exception:  # cannot tell: do not cry wolf
        return True
