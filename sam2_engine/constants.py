"""Names and rules every layer of the project shares, in one place (no torch, no numpy).

The engine, the scripted API, the command line, batch runs and the napari dock all read these;
none of them writes its own copy.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

#: The model used when none is named: the smallest and fastest SAM 2.1.
DEFAULT_MODEL = "sam2.1_hiera_tiny"

#: Propagation directions, as the dock lists them. ``both`` runs forward from the start frame,
#: then backward from the frame before it, so that no frame is computed twice.
DIRECTIONS = ("both", "forward", "backward")

#: Suffix of an output while it is being written (``labels.tif.partial``); it is renamed to
#: the final name only once complete.
PARTIAL_SUFFIX = ".partial"

#: Key under which written outputs record their provenance (TIFF description, zarr attributes).
INFO_KEY = "napari_sam2"

#: Largest object id (label value) the project stores: labels are uint16 unless an id needs
#: uint32.
MAX_OBJECT_ID = 2**32 - 1
_UINT16_MAX = 2**16 - 1


def label_dtype_name(object_ids: Iterable[int]) -> str:
    """The dtype of label images holding these object ids: ``"uint16"`` (what ImageJ, napari
    and the Cell Tracking Challenge read), ``"uint32"`` when an id is above 65535.

    Raises:
        ValueError: an id that is not a positive integer or is above :data:`MAX_OBJECT_ID`.
    """
    top = 0
    for obj_id in object_ids:
        try:
            value = -1 if type(obj_id).__name__ in ("bool", "bool_") else operator.index(obj_id)
        except TypeError:
            value = -1
        if value < 1:
            raise ValueError(f"object ids are whole numbers >= 1 (label values), got {obj_id!r}")
        top = max(top, value)
    if top > MAX_OBJECT_ID:
        raise ValueError(f"object id {top} is above the largest label value {MAX_OBJECT_ID}")
    return "uint16" if top <= _UINT16_MAX else "uint32"


def software() -> str:
    """``"napari-sam2 <version>"``: what outputs record as the software that wrote them."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"napari-sam2 {version('napari-sam2')}"
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "napari-sam2 (not installed)"
