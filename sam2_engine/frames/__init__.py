"""Lazy frame sources: any video-like input read one frame at a time, and the preprocessing
from a frame to the model's input.

``open_frames`` turns numpy/dask/zarr arrays, TIFF/OME-TIFF files, zarr/OME-Zarr stores,
folders of images and video files into a ``FrameSource``; ``FrameSource.read_rgb`` gives a
display-ready frame and ``to_model_input`` the model's ``(3, S, S)`` input.
"""

from .array_source import ArraySource
from .base import FrameSource
from .errors import FrameFileNotFoundError, FrameReadError, FrameSourceError, FrameSourceWarning
from .folder_source import FolderSource, natural_key
from .intensity import DEFAULT_PERCENTILES, apply_contrast, estimate_contrast_limits
from .layout import FrameLayout, guess_axes, resolve_layout
from .open import open_frames
from .paged import PagedArray
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_rgb, to_model_input
from .tiff_source import TiffSource
from .video_reader import VideoReader
from .video_source import VideoSource
from .zarr_source import ZarrSource

__all__ = [
    "DEFAULT_PERCENTILES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArraySource",
    "FolderSource",
    "FrameFileNotFoundError",
    "FrameLayout",
    "FrameReadError",
    "FrameSource",
    "FrameSourceError",
    "FrameSourceWarning",
    "PagedArray",
    "TiffSource",
    "VideoReader",
    "VideoSource",
    "ZarrSource",
    "apply_contrast",
    "estimate_contrast_limits",
    "guess_axes",
    "natural_key",
    "open_frames",
    "resize_rgb",
    "resolve_layout",
    "to_model_input",
]
