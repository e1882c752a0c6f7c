"""From a display-ready frame to the model's input tensor.

uint8 frames follow the official SAM 2 video loader exactly (PIL bicubic resize of the uint8
RGB image to ``S x S``, divide by 255, ImageNet mean/std), so JPEG frames give bit-identical
inputs. Float frames in [0, 1] (non-8-bit data after contrast limits) are resized per channel
with the same bicubic kernel in PIL's 32-bit float mode, without rounding to 8 bits, then clipped
to [0, 1] as the uint8 path is implicitly. The aspect ratio is not kept (as in SAM 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
from PIL import Image

from .errors import FrameSourceError
from .intensity import gray_to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_rgb(frame_rgb: np.ndarray, image_size: int) -> np.ndarray:
    """``(H, W, 3)`` (or gray ``(H, W)``) uint8 or float frame resized to
    ``(image_size, image_size, 3)`` with PIL's bicubic filter; uint8 stays uint8, floats come
    back float32 clipped to [0, 1]."""
    if not isinstance(image_size, (int, np.integer)) or image_size <= 0:
        raise FrameSourceError(f"image_size={image_size!r} must be a positive integer")
    frame = gray_to_rgb(np.asarray(frame_rgb))
    size = (int(image_size), int(image_size))
    if frame.dtype == np.uint8:
        return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC))
    if frame.dtype.kind != "f":
        raise FrameSourceError(
            f"to_model_input needs a uint8 or float frame (got {frame.dtype}); "
            "use FrameSource.read_rgb to map other dtypes"
        )
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(frame[:, :, c], dtype=np.float32)).resize(
                size, Image.Resampling.BICUBIC
            )
        )
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def to_model_input(frame_rgb: np.ndarray, image_size: int) -> torch.Tensor:
    """The model's input for one frame: ``(3, S, S)`` float32, ImageNet-normalised.

    Arguments:
        frame_rgb (np.ndarray): ``(H, W, 3)`` uint8 in [0, 255] or float in [0, 1], as
            returned by ``FrameSource.read_rgb`` (gray ``(H, W)`` is replicated).
        image_size (int): the model's square input size ``S`` (1024 for the released models).
    """
    resized = resize_rgb(frame_rgb, image_size)
    # uint8 / 255.0 is computed in float64 and then rounded to float32, like the official loader.
    values = resized / 255.0 if resized.dtype == np.uint8 else resized
    import torch  # torch-free import of the frame sources (the napari reader uses them)

    tensor = torch.from_numpy(np.ascontiguousarray(values.transpose(2, 0, 1)))
    tensor = tensor.to(torch.float32)
    tensor -= torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    tensor /= torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return tensor
