"""sam2_engine: a clean-room SAM 2 implementation in pure torch + numpy.

The model (``sam2_engine.modeling``), its configurations, weights handling and predictors.
It never imports napari, Qt or the official ``sam2`` package
(``tests/engine/test_engine_isolation.py`` checks this). Keep this file import-light:
submodules are imported where they are used.
"""

from importlib import import_module

from .allocator import ask_torch_for_huge_pages

# before torch's first CPU allocation, which is when it reads the setting (see allocator.py)
ask_torch_for_huge_pages()

# Public names and the submodule each lives in. They are imported on first use, so that light
# parts (frame sources, sinks, configs) can be used without paying for torch (e.g. the napari
# reader opening a video).
_EXPORTS = {
    "AutomaticMaskGenerator": "automask",
    "build_model": "build",
    "load_model": "build",
    "save_random_checkpoint": "build",
    "MODEL_NAMES": "configs",
    "PRESETS": "configs",
    "HieraConfig": "configs",
    "Sam2Config": "configs",
    "get_config": "configs",
    "thin_config": "configs",
    "Sam2EngineError": "errors",
    "ImagePredictor": "image_predictor",
    "VideoPredictor": "video_predictor",
    "VideoState": "video_state",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sam2_engine' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
