"""Per-mask measures and encodings: stability score, run-length encoding (COCO layout)."""

from __future__ import annotations

import numpy as np
import torch


def stability_score(logits: torch.Tensor, mask_threshold: float, offset: float) -> torch.Tensor:
    """IoU between the masks cut at ``mask_threshold + offset`` and ``mask_threshold - offset``.

    The first mask lies inside the second, so the IoU is a ratio of pixel counts. A mask with no
    pixel above the lower cut scores NaN (0 / 0), as in the official generator.

    Args:
        logits: (N, H, W) mask logits.

    Returns:
        (N,) float32.
    """
    inner = (logits > mask_threshold + offset).sum(dim=(-2, -1), dtype=torch.int64)
    outer = (logits > mask_threshold - offset).sum(dim=(-2, -1), dtype=torch.int64)
    return inner.float() / outer.float()


def mask_to_rle(mask: np.ndarray) -> dict:
    """(H, W) bool mask -> uncompressed COCO run-length encoding.

    ``{"size": [H, W], "counts": [...]}``: lengths of alternating runs of 0s and 1s over the
    pixels in column-major (Fortran) order, starting with a run of 0s (possibly of length 0).
    """
    height, width = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(height), int(width)], "counts": counts}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Uncompressed COCO run-length encoding -> (H, W) bool mask (C order)."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1  # runs alternate 0, 1, 0, ...
    flat = np.repeat(values, counts)
    if flat.size != height * width:
        raise ValueError(f"run lengths sum to {flat.size}, not {height} x {width}")
    return np.ascontiguousarray(flat.reshape(width, height).T)


def rle_area(rle: dict) -> int:
    """Number of foreground pixels of an uncompressed run-length encoding."""
    return int(sum(rle["counts"][1::2]))


def coco_rle(rle: dict) -> dict:
    """Uncompressed -> compressed COCO RLE (``counts`` as a string), with pycocotools."""
    from pycocotools import mask as mask_utils

    height, width = rle["size"]
    encoded = mask_utils.frPyObjects(rle, height, width)
    encoded["counts"] = encoded["counts"].decode("utf-8")
    return encoded
