"""Frames from a zarr array or an OME-Zarr image (zarr format 2 or 3), one frame per read.

For OME-Zarr (NGFF 0.1 to 0.5) the first resolution level of the first multiscale image is used
and its axes come from the multiscales metadata; a plain array's axes come from its
``dimension_names`` (zarr 3) or xarray's ``_ARRAY_DIMENSIONS`` attribute (zarr 2) when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .array_source import ArraySource
from .errors import FrameSourceError
from .layout import axes_from_names

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
        **layout: ``axes``, ``axis``, ``index``, ``channel``, ``contrast_limits``,
            ``percentiles`` as for ``ArraySource``.
    """

    def __init__(self, store: Any, **layout: Any) -> None:
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
