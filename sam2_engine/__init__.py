"""sam2_engine: a clean-room SAM 2 implementation in pure torch + numpy.

The model (``sam2_engine.modeling``), its configurations, weights handling and predictors.
It never imports napari, Qt or the official ``sam2`` package (``tests/test_engine_isolation.py``
checks this). Keep this file import-light: submodules are imported where they are used.
"""

from .build import build_model, load_model, save_random_checkpoint
from .configs import MODEL_NAMES, PRESETS, HieraConfig, Sam2Config, get_config
from .errors import Sam2EngineError
from .image_predictor import ImagePredictor
from .video_predictor import VideoPredictor
from .video_state import VideoState

__all__ = [
    "MODEL_NAMES",
    "PRESETS",
    "HieraConfig",
    "ImagePredictor",
    "Sam2Config",
    "Sam2EngineError",
    "VideoPredictor",
    "VideoState",
    "build_model",
    "get_config",
    "load_model",
    "save_random_checkpoint",
]
