"""The napari sample-data commands declared in ``napari.yaml``: LayerData tuples
``(data, kwargs, layer_type)`` of the generated stacks, without importing napari."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_sam2._sample_data.cells import make_cells_timelapse
from napari_sam2._sample_data.nuclei import make_nuclei_stack
from napari_sam2._sample_data.rgb_video import make_rgb_video
from napari_sam2._sample_data.ultrasound import make_ultrasound_cine

__all__ = [
    "LayerDataTuple",
    "cells_timelapse_sample",
    "nuclei_stack_sample",
    "rgb_video_sample",
    "ultrasound_cine_sample",
]

LayerDataTuple = tuple[np.ndarray, dict[str, Any], str]


def _contrast_limits(image: np.ndarray) -> list[float]:
    """Robust display range (0.1 and 99.9 percentiles), as napari's ``contrast_limits``."""
    low, high = np.percentile(image[:: max(image.shape[0] // 8, 1)], (0.1, 99.9))
    return [float(low), float(max(high, low + 1))]


def _metadata(generator: str, axes: str, **extra: Any) -> dict[str, Any]:
    return {"source": "napari-sam2 synthetic sample", "generator": generator, "axes": axes, **extra}


def cells_timelapse_sample() -> list[LayerDataTuple]:
    """napari sample: fluorescent cells moving and dividing (2D+t, uint16)."""
    image = make_cells_timelapse().image
    kwargs = {
        "name": "cells (2D+t)",
        "colormap": "gray",
        "contrast_limits": _contrast_limits(image),
        "metadata": _metadata("make_cells_timelapse", "TYX", bit_depth=12),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]


def nuclei_stack_sample() -> list[LayerDataTuple]:
    """napari sample: a 3D stack of nuclei (z is the axis to propagate along, uint16)."""
    image = make_nuclei_stack().image
    kwargs = {
        "name": "nuclei (3D)",
        "colormap": "gray",
        "contrast_limits": _contrast_limits(image),
        "metadata": _metadata("make_nuclei_stack", "ZYX", bit_depth=12, voxel_zyx=(2.5, 1, 1)),
        "axis_labels": ("z", "y", "x"),
        "scale": (2.5, 1.0, 1.0),  # the voxel size: z steps are 2.5 pixels deep
    }
    return [(image, kwargs, "image")]


def ultrasound_cine_sample() -> list[LayerDataTuple]:
    """napari sample: an ultrasound-like cine loop (uint8)."""
    image = make_ultrasound_cine().image
    kwargs = {
        "name": "ultrasound cine",
        "colormap": "gray",
        "contrast_limits": [0, 255],
        "metadata": _metadata("make_ultrasound_cine", "TYX"),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]


def rgb_video_sample() -> list[LayerDataTuple]:
    """napari sample: a short RGB video with two moving objects (uint8)."""
    image = make_rgb_video().image
    kwargs = {
        "name": "RGB video",
        "rgb": True,
        "metadata": _metadata("make_rgb_video", "TYXC"),
        "axis_labels": ("t", "y", "x"),
    }
    return [(image, kwargs, "image")]
