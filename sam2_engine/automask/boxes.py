"""Boxes around masks, box non-maximum suppression and the crop-edge test, in plain torch.

Boxes are (x0, y0, x1, y1) with *inclusive* pixel indices of the mask's extreme pixels, as the
official generator reports them (so ``x1 - x0`` is the width minus one).
"""

from __future__ import annotations

import numpy as np
import torch

#: ``box_nms`` switches from one sort to two past this many boxes on the CPU (and past
#: ``_GPU_SWITCH`` elsewhere), as ``torchvision.ops.batched_nms`` does. With equal scores the
#: two orders can differ; following the same rule keeps the official order of records.
_CPU_SWITCH = 1000
_GPU_SWITCH = 25_000


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool masks -> (N, 4) int64 inclusive boxes; an empty mask gets (0, 0, 0, 0)."""
    n, height, width = masks.shape
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.int64, device=masks.device)
    rows = masks.any(dim=2).to(torch.uint8)  # (N, H)
    cols = masks.any(dim=1).to(torch.uint8)  # (N, W)
    # argmax returns the first maximum: the first row / column holding a pixel
    y0 = rows.argmax(dim=1)
    x0 = cols.argmax(dim=1)
    y1 = height - 1 - rows.flip(1).argmax(dim=1)
    x1 = width - 1 - cols.flip(1).argmax(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1)
    empty = rows.amax(dim=1) == 0
    return boxes.masked_fill(empty[:, None], 0)


def box_areas(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) half-open (x0, y0, x1, y1) boxes -> (N,) areas, in the boxes' dtype."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _greedy_keep(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Positions kept by greedy suppression of (N, 4) float32 ``boxes`` sorted best first."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0) * (y1 - y0)
    zero = np.float32(0)
    suppressed = np.zeros(len(boxes), dtype=bool)
    kept = []
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        kept.append(i)
        rest = slice(i + 1, None)
        inter_w = np.maximum(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), zero)
        inter_h = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), zero)
        inter = inter_w * inter_h
        iou = inter / (areas[i] + areas[rest] - inter)  # float32, as torchvision computes it
        suppressed[rest] |= iou.astype(np.float64) > iou_threshold
    return np.asarray(kept, dtype=np.int64)


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression; returns the kept indices, best score first.

    A box is dropped when its IoU with a better box already kept is above ``iou_threshold``.
    The result equals ``torchvision.ops.batched_nms`` with one category, including the order
    of equal scores: the boxes are visited in the order ``scores.sort(descending=True)``
    gives, and past a size threshold the kept indices are sorted once more that way.

    Args:
        boxes: (N, 4) (x0, y0, x1, y1); IoU is computed in float32.
        scores: (N,) float.
        iou_threshold: the IoU above which the worse of two boxes goes.

    Returns:
        (K,) int64 indices into ``boxes``, on the boxes' device.
    """
    device = boxes.device
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=device)
    # a few thousand boxes at most: the greedy pass runs on the CPU
    boxes, scores = boxes.float().cpu(), scores.cpu()
    order = scores.sort(descending=True)[1]
    keep = order[torch.from_numpy(_greedy_keep(boxes[order].numpy(), float(iou_threshold)))]
    switch = _CPU_SWITCH if device.type == "cpu" else _GPU_SWITCH
    if n > switch:
        keep = keep.sort()[0]
        keep = keep[scores[keep].sort(descending=True)[1]]
    return keep.to(device)


def near_crop_edge(
    boxes: torch.Tensor,
    crop_box: tuple[int, int, int, int],
    image_box: tuple[int, int, int, int],
    tolerance: float = 20.0,
) -> torch.Tensor:
    """(N,) bool: the box (in image coordinates) lies within ``tolerance`` pixels of an edge
    of its crop that is not also an edge of the image (such masks are likely cut by the crop)."""
    crop = torch.tensor(crop_box, dtype=torch.float32, device=boxes.device)
    image = torch.tensor(image_box, dtype=torch.float32, device=boxes.device)
    boxes = boxes.float()
    at_crop_edge = (boxes - crop).abs() <= tolerance
    at_image_edge = (boxes - image).abs() <= tolerance
    return (at_crop_edge & ~at_image_edge).any(dim=1)


def xyxy_to_xywh(box) -> list[float]:
    """(x0, y0, x1, y1) -> [x0, y0, x1 - x0, y1 - y0] as floats (the records' format)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]
