"""The object colours shared by layers, dock widgets and plots."""

from __future__ import annotations

import colorsys

#: The first objects' colours, in order of object id (matplotlib's tab10 without its gray,
#: which reads as "no object" next to the image).
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
#: Hue step of later objects: the golden ratio spreads any run of consecutive ids round the
#: colour wheel, so neighbouring ids (often neighbouring cells) never look alike.
_GOLDEN = 0.618033988749895
#: Saturation and value of later objects cycle through these, giving a thousand distinct
#: colours, none of them gray or too dark to see on a dark canvas.
_SATURATIONS = (0.85, 0.6, 0.95)
_VALUES = (0.95, 0.8, 0.65)


def object_color(obj_id: int) -> str:
    """The colour of object ``obj_id`` (ids start at 1): tab10 for the first nine, then
    golden-ratio hues, distinct for hundreds of objects."""
    if 1 <= obj_id <= len(OBJECT_COLORS):
        return OBJECT_COLORS[obj_id - 1]
    step = obj_id - len(OBJECT_COLORS)
    hue = (0.11 + step * _GOLDEN) % 1.0
    saturation = _SATURATIONS[step % len(_SATURATIONS)]
    value = _VALUES[(step // len(_SATURATIONS)) % len(_VALUES)]
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in (red, green, blue)))
