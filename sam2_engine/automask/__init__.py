"""Segment everything: the automatic mask generator and its helpers.

``generator`` (the :class:`AutomaticMaskGenerator`), ``grids`` (point grids, crop boxes),
``boxes`` (mask boxes, box NMS, crop-edge test), ``masks`` (stability score, RLE) and
``candidates`` (the masks still under consideration).
"""

from .generator import OUTPUT_MODES, AutomaticMaskGenerator

__all__ = ["OUTPUT_MODES", "AutomaticMaskGenerator"]
