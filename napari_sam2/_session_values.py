"""Strict readers for the values of a session file or a plain prompt dict (no torch).

Every value is checked against its rule and refused with the rule named, never truncated or
guessed: a frame of 0.9 is not frame 0, an object id of ``True`` is not object 1, a flat list
of four numbers is not two points, and a mask full of NaN is not a full mask.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Largest mask a session may hold (pixels): far above any frame napari-sam2 tracks, and small
#: enough that a corrupt size cannot ask for gigabytes before anything is checked.
MAX_MASK_PIXELS = 2**30


class ValueRuleError(ValueError):
    """A value broke its rule (the session reader turns it into a ``SessionError``)."""


def whole(value: Any, what: str, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (an integral float such as 3.0 is accepted)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueRuleError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or not float(value).is_integer():
            raise ValueRuleError(f"{what} must be a whole number, got {value!r}")
        number = int(value)
    else:
        try:
            number = operator.index(value)
        except TypeError:
            raise ValueRuleError(f"{what} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ValueRuleError(f"{what} must be >= {minimum}, got {number}")
    return number


def key(value: Any, what: str, minimum: int = 0) -> int:
    """A whole number used as a dict key: also its decimal text (JSON keys are strings)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.isdecimal():
            raise ValueRuleError(f"{what} must be a whole number, got {value!r}")
        value = int(text)
    return whole(value, what, minimum)


def real(value: Any, what: str) -> float:
    """A finite number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueRuleError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueRuleError(f"{what} must be a finite number, got {value!r}")
    return number


def points(value: Any, what: str) -> list[list[float]]:
    """Clicks as ``[[x, y], ...]``: a list of pairs (an (N, 2) array), each finite."""
    if value is None:
        return []
    array = np.asarray(value, dtype=object)
    if array.size == 0:
        return []
    if array.ndim != 2 or array.shape[1] != 2:
        flat = array.ndim == 1 and array.size % 2 == 0
        hint = f"; for pairs write {_as_pairs(array)}" if flat else ""
        raise ValueRuleError(
            f"{what} must be a list of [x, y] pairs, got shape {array.shape}{hint}"
        )
    return [[real(x, f"{what}: x"), real(y, f"{what}: y")] for x, y in array]


def _as_pairs(flat: np.ndarray) -> str:
    pairs = [[flat[i], flat[i + 1]] for i in range(0, min(len(flat), 4), 2)]
    return str(pairs)[:-1] + (", ...]" if len(flat) > 4 else "]")


def labels(value: Any, count: int, what: str) -> list[int]:
    """1 (positive) or 0 (negative) per click; default all positive."""
    if value is None:
        return [1] * count
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueRuleError(f"{what} must be a list of 1 (positive) or 0 (negative)")
    result = [whole(v, f"{what}: a label") for v in value]
    if any(v not in (0, 1) for v in result):
        raise ValueRuleError(f"{what} must be 1 (positive) or 0 (negative), got {result}")
    return result


def box(value: Any, what: str) -> list[float] | None:
    """``[x0, y0, x1, y1]``: four finite numbers, or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueRuleError(f"{what} must be [x0, y0, x1, y1], got {value!r}")
    corners = [real(v, f"{what}: a corner") for v in value]
    if len(corners) != 4:
        raise ValueRuleError(f"{what} must be [x0, y0, x1, y1], got {len(corners)} numbers")
    return corners


def mask(value: Any, what: str) -> np.ndarray | None:
    """A 2-D mask: bool, or numbers where > 0 is inside (NaN and complex refused)."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueRuleError(f"{what} must be a 2-D (H, W) mask, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise ValueRuleError(f"{what} must hold bool or numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueRuleError(f"{what} holds NaN or infinite values: give a bool mask")
    return array > 0


def rle_counts(rle: Any, what: str) -> tuple[int, int, list[int]]:
    """(height, width, run lengths) of a run-length encoded mask, checked before decoding."""
    if not isinstance(rle, dict) or set(rle) != {"size", "counts"}:
        raise ValueRuleError(f"{what} must be {{'size': [H, W], 'counts': [...]}}")
    size = rle["size"]
    if not isinstance(size, list) or len(size) != 2:
        raise ValueRuleError(f"{what}: size must be [H, W], got {size!r}")
    height, width = (whole(v, f"{what}: size", minimum=1) for v in size)
    if height * width > MAX_MASK_PIXELS:
        raise ValueRuleError(
            f"{what}: {height} x {width} pixels is larger than any frame napari-sam2 reads "
            f"(at most {MAX_MASK_PIXELS} pixels); the session file is damaged"
        )
    if not isinstance(rle["counts"], list):
        raise ValueRuleError(f"{what}: counts must be a list of run lengths")
    counts = [whole(c, f"{what}: a run length") for c in rle["counts"]]
    if sum(counts) != height * width:
        raise ValueRuleError(
            f"{what}: run lengths add up to {sum(counts)}, not {height} x {width} = "
            f"{height * width}"
        )
    return height, width, counts


def rle_labels(rle: Any, what: str) -> tuple[int, int, list[int], list[int]]:
    """(height, width, label values, run lengths) of a run-length encoded label image."""
    if not isinstance(rle, dict) or set(rle) != {"size", "values", "counts"}:
        raise ValueRuleError(f"{what} must be {{'size': [H, W], 'values': [...], 'counts': [...]}}")
    height, width, counts = rle_counts({"size": rle["size"], "counts": rle["counts"]}, what)
    if not isinstance(rle["values"], list) or len(rle["values"]) != len(counts):
        raise ValueRuleError(f"{what}: one label value per run is needed")
    labels = [whole(v, f"{what}: a label value") for v in rle["values"]]
    return height, width, labels, counts
