"""A mask's connected parts: what a division by hand turns into daughters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_sam2.lineage.model import Lineage, LineageError

#: Smallest part (pixels) that counts as a cell when a mask is split into its parts.
DEFAULT_MIN_AREA = 20


def label_parts(mask: np.ndarray, min_area: int = DEFAULT_MIN_AREA) -> tuple[np.ndarray, list[int]]:
    """The connected parts (4-connected) of a 2-D mask of at least ``min_area`` pixels.

    Returns:
        ``(parts, areas)``: an (H, W) uint16 image where part ``i`` (1-based, largest first)
        has value ``i`` and smaller fragments are 0, and the parts' areas.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is 2-D (H, W), got shape {mask.shape}")
    components, count = ndimage.label(mask)
    areas = np.bincount(components.ravel(), minlength=count + 1)[1:]
    keep = [i + 1 for i in np.argsort(-areas, kind="stable") if areas[i] >= min_area]
    lut = np.zeros(count + 1, np.uint16)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.uint16)
    return lut[components], [int(areas[i - 1]) for i in keep]


def divide_by_mask(
    lineage: Lineage,
    parent: int,
    frame: int,
    mask: np.ndarray,
    *,
    min_area: int = DEFAULT_MIN_AREA,
    taken: Sequence[int] = (),
) -> tuple[Lineage, dict[int, np.ndarray]]:
    """Divide ``parent`` on ``frame`` into the connected parts of its ``mask`` there.

    The daughters get new ids (above every track and every id in ``taken``, e.g. the
    session's objects), largest part first. The caller prompts each daughter with its mask on
    ``frame``.

    Returns:
        ``(lineage, {daughter id: (H, W) bool mask})``.

    Raises:
        LineageError: fewer than two parts of ``min_area`` pixels, or a division the lineage
            refuses (see :meth:`Lineage.divide`).
    """
    parts, areas = label_parts(mask, min_area)
    if len(areas) < 2:
        raise LineageError(
            f"track {parent} on frame {frame}: its mask has {len(areas)} part(s) of at least "
            f"{min_area} pixels, a division needs two or more (separate the daughters, or click "
            "each one)"
        )
    first = lineage.next_id(taken)
    daughters = list(range(first, first + len(areas)))
    divided = lineage.divide(parent, frame, daughters)
    return divided, {d: parts == i for i, d in enumerate(daughters, start=1)}
