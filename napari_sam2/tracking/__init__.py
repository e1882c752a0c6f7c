"""The tracking pipeline under the scripted API, the command line, batch runs and the dock.

- :mod:`.plan`: which frames a propagation visits (one meaning of forward, backward, both);
- :mod:`.frame_options`: how frames are read from an input;
- :mod:`.models`: the one model cache, and what outputs record about a model;
- :mod:`.run`: a job opened and run into a sink (:class:`Tracking`), and :func:`propagate`.

Predictor options are :class:`sam2_engine.options.PredictorOptions`; outputs go through
:mod:`sam2_engine.sinks`. Importing this package does not import torch.
"""

from napari_sam2.tracking.frame_options import FrameOptions
from napari_sam2.tracking.models import (
    LoadedModel,
    ModelChoice,
    clear_model_cache,
    load_model,
    model_info,
)
from napari_sam2.tracking.plan import Pass, frame_range, plan
from napari_sam2.tracking.run import Tracking, TrackingJob, propagate, session_options

__all__ = [
    "FrameOptions",
    "LoadedModel",
    "ModelChoice",
    "Pass",
    "Tracking",
    "TrackingJob",
    "clear_model_cache",
    "frame_range",
    "load_model",
    "model_info",
    "plan",
    "propagate",
    "session_options",
]
