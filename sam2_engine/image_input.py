"""Checking a still image and turning it into a float RGB tensor."""

from __future__ import annotations

import numpy as np
import torch

from .errors import ImageInputError
from .resources import check_memory, estimate_image_bytes, frame_memory_hint


def check_image(image, name: str = "image") -> np.ndarray:
    """Validate an image and return it as (H, W) or (H, W, 3) numpy array.

    Accepts (H, W) gray, (H, W, 1), (H, W, 3) RGB numpy arrays or torch tensors, and PIL
    images. Raises :class:`ImageInputError` naming ``name`` for anything else.
    """
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ImageInputError(
            f"{name} must be a numpy array or PIL image, got {type(image).__name__}"
        )
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        hint = ""
        if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
            hint = " (channels first? use np.moveaxis(image, 0, -1))"
        elif image.ndim == 3 and image.shape[-1] == 4:
            hint = " (RGBA? drop alpha with image[..., :3])"
        raise ImageInputError(
            f"{name} must be (H, W) gray or (H, W, 3) RGB, got shape {image.shape}{hint}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageInputError(f"{name} is empty: shape {image.shape}")
    if image.dtype.kind == "c":
        raise ImageInputError(
            f"{name} holds complex numbers ({image.dtype}); the model needs real intensities "
            "and would drop the imaginary part. Convert it first: np.abs(image) for the "
            "magnitude, image.real or image.imag for one part"
        )
    if image.dtype == bool or image.dtype.kind not in "uif":
        raise ImageInputError(
            f"{name} must hold numbers (uint8, uint16, float...), got {image.dtype}"
        )
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise ImageInputError(f"{name} contains NaN or infinite values; replace them first")
    height, width = image.shape[:2]
    check_memory(
        estimate_image_bytes(height, width, image.dtype, 1 if image.ndim == 2 else 3),
        "cpu",
        f"Preparing {name} of {height}x{width} {image.dtype}",
        frame_memory_hint(),
    )
    return image


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, 3) image -> (3, H, W) float32 in [0, 1].

    uint8 is divided by 255 (as the official predictor does). Floats already in [0, 1] are
    kept. Anything else (16-bit, other ranges) is stretched between its 0.5 and 99.5
    percentiles.
    """
    if image.dtype == np.uint8:
        scaled = image.astype(np.float32) / 255.0
    elif image.dtype.kind == "f" and image.min() >= 0.0 and image.max() <= 1.0:
        scaled = image.astype(np.float32)
    else:
        low, high = (float(v) for v in np.percentile(image, (0.5, 99.5)))
        if high <= low:
            high = low + 1
        scaled = np.clip((image.astype(np.float32) - low) / (high - low), 0.0, 1.0)
        scaled = scaled.astype(np.float32, copy=False)
    if scaled.ndim == 2:
        scaled = np.repeat(scaled[..., None], 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(scaled.transpose(2, 0, 1)))
