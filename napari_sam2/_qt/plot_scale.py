"""Scales of the timeline plot: colours, round tick values and their labels (no Qt widgets)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qtpy.QtGui import QColor


def to_qcolor(color: Any) -> QColor:
    """A ``QColor`` from a QColor, a name or hex string, or an RGB(A) sequence: floats in
    [0, 1] (napari's label colours) or ints in [0, 255]."""
    if isinstance(color, QColor):
        return QColor(color)
    if isinstance(color, str):
        return QColor(color)
    values = np.asarray(color, dtype=np.float64).ravel()
    if values.size not in (3, 4):
        raise ValueError(f"not a colour: {color!r}")
    if values.max(initial=0.0) <= 1.0:
        return QColor.fromRgbF(*(float(v) for v in values))
    return QColor(*(int(round(v)) for v in values))


def nice_ticks(low: float, high: float, max_ticks: int = 6, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or max_ticks < 1:
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, max_ticks)
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(s * power for s in steps if s * power >= raw)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 12))
        value += step
    return ticks


def format_value(value: float) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:g}M"
    if size >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"
