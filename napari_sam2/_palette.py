"""The object colours shared by layers, dock widgets and plots."""

from __future__ import annotations

#: Object colours, in order of object id (matplotlib's tab10 without its gray, which reads as
#: "no object" next to the image).
OBJECT_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)


def object_color(obj_id: int) -> str:
    """The colour of object ``obj_id`` (ids start at 1; colours repeat after nine objects)."""
    return OBJECT_COLORS[(obj_id - 1) % len(OBJECT_COLORS)]
