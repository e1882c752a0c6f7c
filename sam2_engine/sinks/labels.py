"""Merging one frame's per-object mask logits into a single label image."""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Candidate label dtypes, smallest first (see :func:`merge_to_labels`).
_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)


def _check_obj_ids(obj_ids: Iterable[Any]) -> list[int]:
    """The object ids as Python ints; each a positive integer, no duplicates."""
    ids: list[int] = []
    for obj_id in obj_ids:
        if isinstance(obj_id, (bool, np.bool_)):
            raise ValueError(f"object ids must be positive integers, got {obj_id!r}")
        try:
            value = operator.index(obj_id)
        except TypeError:
            raise ValueError(f"object ids must be positive integers, got {obj_id!r}") from None
        if value <= 0:
            raise ValueError(
                f"object ids must be positive integers (0 is the background label), got {value}"
            )
        ids.append(value)
    if len(set(ids)) != len(ids):
        raise ValueError(f"object ids must be unique, got {ids}")
    return ids


def _label_dtype(ids: Sequence[int], dtype: Any) -> np.dtype:
    """``dtype`` checked to hold every id, or the smallest unsigned int that does."""
    top = max(ids, default=0)
    if dtype is None:
        for candidate in _UNSIGNED:
            if top <= np.iinfo(candidate).max:
                return np.dtype(candidate)
        raise ValueError(f"object id {top} does not fit any unsigned integer dtype")
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        if top > np.iinfo(dtype).max:
            raise ValueError(
                f"object id {top} does not fit the label dtype {dtype} "
                f"(largest value {np.iinfo(dtype).max}); use a larger dtype"
            )
    elif dtype.kind == "b":
        if top > 1:
            raise ValueError(f"object id {top} does not fit the label dtype bool")
    elif dtype.kind != "f":
        raise TypeError(f"label dtype must be an integer (or float) dtype, got {dtype}")
    return dtype


def _is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor implies torch is imported: no import needed
    return torch is not None and isinstance(value, torch.Tensor)


def _winners(masks: Any, threshold: float) -> np.ndarray:
    """For each pixel: 0 where no object is inside, else 1 + the index of the winning object.

    Arguments:
        masks: (N, 1, H, W) or (N, H, W) logits, numpy or torch (any device), N >= 1.

    Returns:
        (H, W) integer array (int16 or int32); computed on the tensor's device, so only this
        small image crosses to the CPU.
    """
    n = masks.shape[0]
    if _is_torch_tensor(masks):
        import torch

        logits = masks.detach().reshape(n, *masks.shape[-2:])
        if not logits.is_floating_point():
            logits = logits.float()
        logits = torch.nan_to_num(logits, nan=float("-inf"))
        top, index = logits.max(dim=0)  # (H, W) each; ties go to the first object
        winner = torch.where(top > threshold, index + 1, torch.zeros_like(index))
        small = torch.int16 if n < 2**15 - 1 else torch.int32
        return winner.to(small).cpu().numpy()
    logits = np.asarray(masks)
    logits = logits.reshape(n, *logits.shape[-2:])
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float32)
    if n == 1:  # the common case: no argmax needed (NaN > threshold is False)
        return (logits[0] > threshold).astype(np.int16)
    if np.isnan(logits).any():
        logits = np.where(np.isnan(logits), -np.inf, logits)
    index = logits.argmax(axis=0)  # (H, W); ties go to the first object
    top = np.take_along_axis(logits, index[None], axis=0)[0]
    small = np.int16 if n < 2**15 - 1 else np.int32
    return np.where(top > threshold, index + 1, 0).astype(small)


def merge_to_labels(
    obj_ids: Sequence[int],
    masks: Any,
    threshold: float = 0.0,
    dtype: Any = None,
) -> np.ndarray:
    """Merge one frame's per-object mask logits into a single label image.

    A pixel gets an object's id where that object's logit is > ``threshold``; where several
    objects are inside, the one with the highest logit wins (an exact tie goes to the object
    listed first); every other pixel is 0. NaN logits count as outside. Objects the engine marks
    absent (logits -1024 everywhere) leave no trace.

    Arguments:
        obj_ids (sequence of int): the objects' ids, positive and unique, in the order of
            ``masks``' first axis. They become the label values.
        masks (torch.Tensor or np.ndarray): (N, 1, H, W) or (N, H, W) logits, as yielded by
            ``VideoPredictor.propagate_in_video``. A tensor may live on any device; the merge
            runs there and only the (H, W) result is copied to the CPU.
        threshold (float): logit above which a pixel is inside (0.0 = probability 0.5).
        dtype: the result's dtype. Default: the smallest unsigned integer dtype that holds
            ``max(obj_ids)`` (uint8 for ids up to 255, then uint16, ...).

    Returns:
        (H, W) np.ndarray of ``dtype``.

    Raises:
        ValueError: an id that is not a positive integer, duplicate ids, an id that does not fit
            ``dtype``, or ``masks`` of the wrong shape or not matching ``obj_ids``.
    """
    ids = _check_obj_ids(obj_ids)
    out_dtype = _label_dtype(ids, dtype)
    shape = tuple(masks.shape)
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[1] != 1):
        raise ValueError(
            f"masks must have shape (num_objects, 1, H, W) or (num_objects, H, W), got {shape}"
        )
    if shape[0] != len(ids):
        raise ValueError(f"masks hold {shape[0]} objects but {len(ids)} object ids were given")
    height, width = shape[-2:]
    if not ids:
        return np.zeros((height, width), dtype=out_dtype)
    lut = np.array([0, *ids], dtype=out_dtype)  # winner index -> label value
    return lut[_winners(masks, float(threshold))]
