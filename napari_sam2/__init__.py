"""napari-sam2: SAM 2 segmentation and tracking for napari, scripts and the command line.

The model runs on ``sam2_engine`` (pure torch + numpy). Importing this package is cheap: it
imports neither torch nor napari nor Qt; those load only when a widget, a predictor or a
command needs them.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from napari_sam2._sample_data import (
    SyntheticStack,
    make_cells_timelapse,
    make_nuclei_stack,
    make_rgb_video,
    make_ultrasound_cine,
)

try:
    __version__ = _distribution_version("napari-sam2")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "SyntheticStack",
    "__version__",
    "make_cells_timelapse",
    "make_nuclei_stack",
    "make_rgb_video",
    "make_ultrasound_cine",
]
