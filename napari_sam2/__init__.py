"""napari-sam2: SAM 2 segmentation and tracking for napari, scripts and the command line.

The model runs on ``sam2_engine`` (pure torch + numpy). Importing this package is cheap: it
imports neither torch nor napari nor Qt; those load only when a widget, a predictor or a
command needs them. The scripted API (``segment_image``, ``track``, ... from
:mod:`napari_sam2.api`) is re-exported here lazily: torch loads on first use of one of them.
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
from napari_sam2._sample_dividing import DividingCells, make_dividing_cells

try:
    __version__ = _distribution_version("napari-sam2")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: Names re-exported lazily: name -> module that defines it.
_LAZY = {
    "segment_image": "napari_sam2.api",
    "track": "napari_sam2.api",
    "get_model": "napari_sam2.api",
    "clear_model_cache": "napari_sam2.api",
    "read_info": "napari_sam2.api",
    "export_tracks": "napari_sam2.lineage",
    "tracks_layer_data": "napari_sam2.lineage",
    "Lineage": "napari_sam2.lineage",
    "prompts_from_labels": "napari_sam2.seeding",
    "segment_everything": "napari_sam2.seeding",
    "Session": "napari_sam2.session",
    "load_session": "napari_sam2.session",
    "save_session": "napari_sam2.session",
}


def __getattr__(name: str):
    """Import the scripted API on first use (PEP 562), so ``import napari_sam2`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_sam2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DividingCells",
    "Lineage",
    "Session",
    "SyntheticStack",
    "__version__",
    "clear_model_cache",
    "export_tracks",
    "get_model",
    "load_session",
    "make_cells_timelapse",
    "make_dividing_cells",
    "make_nuclei_stack",
    "make_rgb_video",
    "make_ultrasound_cine",
    "prompts_from_labels",
    "read_info",
    "save_session",
    "segment_everything",
    "segment_image",
    "track",
    "tracks_layer_data",
]
