"""npe2 writer: a Labels layer saved as an ImageJ-compatible TIFF.

Axes: ``YX`` (2D), ``TYX`` or ``ZYX`` (3D), ``TZYX`` (4D). A 3D layer is ``TYX`` unless its
``axis_labels`` or ``metadata["axes"]`` say z (the plugin's z-stacks), or ``axes=`` is given.
The dtype is the smallest that holds the label values: uint8, uint16 (or int16 for small
negative values) give an ImageJ hyperstack (Fiji opens it with the right axes, pixel size,
z spacing and frame interval from the layer's scale and units); larger values are written as
int32 (else the data's own integer dtype) with tifffile's shaped metadata recording the axes
(tifffile, napari, Bio-Formats read it; ImageJ shows a plain stack).

The data are written plane by plane (a dask or zarr Labels layer is never loaded whole) into
``<path>.partial`` next to the target, which is renamed over ``path`` only once complete: an
interrupted write never leaves a truncated file under ``path`` nor destroys an older one, and
an existing file is replaced only if napari-sam2 wrote it (:mod:`sam2_engine.publish`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TIFF_SUFFIXES", "label_tiff_dtype", "save_labels_tiff", "write_labels"]

TIFF_SUFFIXES = (".tif", ".tiff")

_TIME_NAMES = {"t", "time", "frame", "frames"}
_Z_NAMES = {"z", "depth", "slice", "slices", "plane"}
#: pint unit names -> ImageJ's short unit strings.
_IMAGEJ_UNITS = {
    "micrometer": "micron",
    "micron": "micron",
    "nanometer": "nm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "angstrom": "A",
}
_IMAGEJ_TIME_UNITS = {"second": "sec", "millisecond": "ms", "minute": "min", "hour": "hour"}


def write_labels(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer hook for ``labels``: returns ``[written path]``.

    ``attributes`` is the layer's state (``scale``, ``units``, ``axis_labels``, ``metadata``,
    ``multiscale``: then the full-resolution level is saved); a path without a
    ``.tif``/``.tiff`` suffix gets ``.tif``.
    """
    target = Path(path)
    if target.suffix.lower() not in TIFF_SUFFIXES:
        target = target.with_name(target.name + ".tif")
    if attributes.get("multiscale") and isinstance(data, Sequence):
        data = data[0]  # the full-resolution level
    if not hasattr(data, "ndim"):
        data = np.asarray(data)
    axes = _axes_from_attributes(data.ndim, attributes)
    written = save_labels_tiff(
        data,
        target,
        axes=axes,
        scale=attributes.get("scale"),
        units=attributes.get("units"),
    )
    return [str(written)]


def save_labels_tiff(
    labels: Any,
    path: str | os.PathLike[str],
    *,
    axes: str | None = None,
    scale: Sequence[float] | None = None,
    units: Sequence[Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Save a label image or stack as a TIFF, atomically. What the dock's Export button calls.

    Arguments:
        labels: a napari Labels layer (its ``data``, ``scale``, ``units``, ``axis_labels`` and
            ``metadata`` are used) or an integer array (numpy, dask, zarr) of 2 to 4 dims.
        path: the ``.tif`` file to write.
        axes: ``"YX"``, ``"TYX"``, ``"ZYX"`` or ``"TZYX"``; default from the layer or ``ndim``.
        scale: pixel size per axis (layer order); the last two give the ImageJ pixel size,
            ``Z`` the slice spacing and ``T`` the frame interval.
        units: unit per axis (strings or pint units, as napari's ``layer.units``).
        overwrite: replace an existing file napari-sam2 wrote (default); else, and for any
            other file, ``FileExistsError``.

    Returns:
        The written path.
    """
    data = labels
    if _is_layer(labels):
        data = labels.data[0] if getattr(labels, "multiscale", False) else labels.data
        state = {
            "axis_labels": getattr(labels, "axis_labels", None),
            "metadata": getattr(labels, "metadata", None),
        }
        axes = axes or _axes_from_attributes(data.ndim, state)
        scale = list(labels.scale) if scale is None else scale
        units = getattr(labels, "units", None) if units is None else units
    if getattr(data, "dtype", None) is None:
        data = np.asarray(data)
    if np.dtype(data.dtype).kind not in "iub":
        raise TypeError(f"labels must have an integer dtype, got {data.dtype}")
    axes = (axes or _default_axes(data.ndim)).upper()
    if len(axes) != data.ndim or axes not in ("YX", "TYX", "ZYX", "TZYX"):
        raise ValueError(
            f"labels of shape {tuple(data.shape)} cannot be saved with axes {axes!r}: "
            "use YX, TYX, ZYX or TZYX (a 2D to 4D Labels layer)"
        )
    from sam2_engine.publish import Publication
    from sam2_engine.sinks.tiff_sink import read_tiff_info

    low, high = _value_range(data)
    dtype = label_tiff_dtype(low, high, np.dtype(data.dtype))
    imagej = dtype in (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))
    options = _tiff_options(axes, scale, units, imagej)
    import tifffile

    with Publication(
        path,
        overwrite=overwrite,
        recognise=lambda p: read_tiff_info(p) is not None,
        what="a labels TIFF",
    ) as out:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tifffile.imwrite(
                out.partial,
                _planes(data, dtype),
                shape=tuple(int(n) for n in data.shape),
                dtype=dtype,
                photometric="minisblack",
                imagej=imagej,
                **options,
            )
        return out.commit()


def label_tiff_dtype(low: int, high: int, dtype: np.dtype | None = None) -> np.dtype:
    """The TIFF dtype for labels in ``[low, high]``: uint8, uint16, int16 (ImageJ-compatible),
    else int32, else ``dtype`` (the data's own 64-bit or unsigned 32-bit type)."""
    for candidate in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(candidate)
        if info.min <= low and high <= info.max:
            return np.dtype(candidate)
    if dtype is None or dtype.kind not in "iu":
        raise ValueError(f"label values {low}..{high} fit no TIFF integer dtype")
    return dtype


def _is_layer(obj: Any) -> bool:
    """A napari layer (duck-typed: napari need not be imported)."""
    return hasattr(obj, "scale") and hasattr(obj, "axis_labels") and hasattr(obj, "data")


def _default_axes(ndim: int) -> str:
    return {2: "YX", 3: "TYX", 4: "TZYX"}.get(ndim, "?" * ndim)


def _axes_from_attributes(ndim: int, attributes: Mapping[str, Any]) -> str:
    """``TYX``/``ZYX`` for a 3D layer from ``metadata["axes"]`` or ``axis_labels``."""
    metadata = attributes.get("metadata") or {}
    given = metadata.get("axes") if isinstance(metadata, Mapping) else None
    if isinstance(given, str) and len(given) == ndim and given.upper().endswith("YX"):
        return given.upper()
    if ndim == 3:
        names = attributes.get("axis_labels") or ()
        first = str(names[0]).lower() if len(names) == 3 else ""
        if first in _Z_NAMES:
            return "ZYX"
    return _default_axes(ndim)


def _value_range(data: Any) -> tuple[int, int]:
    """Min and max label, plane by plane (no whole-stack load for dask / zarr)."""
    if data.size == 0:
        return 0, 0
    if isinstance(data, np.ndarray):
        return int(data.min()), int(data.max())
    low, high = None, None
    for plane in _planes(data, None):
        lo, hi = int(plane.min()), int(plane.max())
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return int(low or 0), int(high or 0)


def _planes(data: Any, dtype: np.dtype | None) -> Iterator[np.ndarray]:
    """The 2D planes of ``data`` in C order, each loaded on its own and cast to ``dtype``."""
    lead = tuple(int(n) for n in data.shape[:-2])
    for index in np.ndindex(*lead):
        plane = np.asarray(data[index] if index else data)
        yield plane if dtype is None else plane.astype(dtype, copy=False)


def _unit_name(unit: Any) -> str:
    return str(unit).strip().lower() if unit is not None else ""


def _tiff_options(
    axes: str, scale: Sequence[float] | None, units: Sequence[Any] | None, imagej: bool
) -> dict[str, Any]:
    """tifffile keywords: axes metadata, and the calibration when ``scale`` is not all ones."""
    metadata: dict[str, Any] = {"axes": axes}
    options: dict[str, Any] = {"metadata": metadata}
    scale = [float(s) for s in scale] if scale is not None else [1.0] * len(axes)
    names = [_unit_name(u) for u in units] if units is not None else [""] * len(axes)
    if len(scale) != len(axes) or len(names) != len(axes):
        return options
    sy, sx = scale[-2:]
    space_unit = _IMAGEJ_UNITS.get(names[-1])
    if (sy, sx) != (1.0, 1.0) or space_unit:
        options["resolution"] = (1.0 / sx, 1.0 / sy)
        if imagej:
            metadata["unit"] = space_unit or "pixel"
    for axis, step, unit in zip(axes[:-2], scale, names, strict=False):
        if not imagej:
            continue
        if axis == "Z" and (step != 1.0 or unit in _IMAGEJ_UNITS):
            metadata["spacing"] = step
        elif axis == "T" and (step != 1.0 or unit in _IMAGEJ_TIME_UNITS):
            metadata["finterval"] = step
            if unit in _IMAGEJ_TIME_UNITS:
                metadata["tunit"] = _IMAGEJ_TIME_UNITS[unit]
    return options
