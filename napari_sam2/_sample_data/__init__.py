"""Synthetic sample stacks, generated on the fly (no binary files in git).

Four small, deterministic stacks cover the data the plugin is made for:

* ``make_cells_timelapse``: 2D+t fluorescence of moving, dividing cells, ``(T, Y, X)`` uint16
  with a 12-bit camera's low dynamic range and shot noise.
* ``make_nuclei_stack``: a 3D stack of blob-like nuclei, ``(Z, Y, X)`` uint16; z is the axis
  the tracker propagates along.
* ``make_ultrasound_cine``: speckle inside a fan-shaped field of view with a moving bright
  structure, ``(T, Y, X)`` uint8.
* ``make_rgb_video``: a short colour video, ``(T, Y, X, 3)`` uint8: two coloured objects moving
  over a textured, slowly panning background.

Each generator returns a :class:`SyntheticStack` ``(image, truth)``: the image and an int32
label array of the generating objects (no channel axis), usable as ground truth in tests and
demos. The generators need only numpy and scipy (imported lazily), never napari or torch.

The ``*_sample`` functions are the napari sample-data commands declared in ``napari.yaml``;
they return LayerData tuples ``(data, kwargs, layer_type)`` and also do not import napari.

The code is split by job: :mod:`.rendering` (shapes, camera, ``SyntheticStack``), one module
per generator (:mod:`.cells`, :mod:`.nuclei`, :mod:`.ultrasound`, :mod:`.rgb_video`) and
:mod:`.commands` (the napari commands); every public name is importable from here, which is
also where ``napari.yaml`` points.
"""

from __future__ import annotations

from napari_sam2._sample_data.cells import make_cells_timelapse
from napari_sam2._sample_data.commands import (
    LayerDataTuple,
    cells_timelapse_sample,
    nuclei_stack_sample,
    rgb_video_sample,
    ultrasound_cine_sample,
)
from napari_sam2._sample_data.nuclei import make_nuclei_stack
from napari_sam2._sample_data.rendering import SyntheticStack
from napari_sam2._sample_data.rgb_video import make_rgb_video
from napari_sam2._sample_data.ultrasound import make_ultrasound_cine

__all__ = [
    "LayerDataTuple",
    "SyntheticStack",
    "cells_timelapse_sample",
    "make_cells_timelapse",
    "make_nuclei_stack",
    "make_rgb_video",
    "make_ultrasound_cine",
    "nuclei_stack_sample",
    "rgb_video_sample",
    "ultrasound_cine_sample",
]
