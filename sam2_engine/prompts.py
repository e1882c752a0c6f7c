"""Checking and converting user prompts (points, labels, boxes, masks, object ids, frame
indices) for both predictors.

Every function raises :class:`PromptError` (a ``ValueError``) with a message that names the
argument, what was wrong and what is expected; flags that are not booleans raise ``TypeError``.
Nothing is rounded, truncated or reshaped silently: ``obj_id=1.7``, ``frame_idx=True`` and a
flat ``[10, 20, 30, 40]`` points list are refused rather than guessed.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from .errors import PromptError

#: 1 positive click, 0 negative click, 2 / 3 box top-left / bottom-right corner.
VALID_LABELS = (0, 1, 2, 3)

#: Most clicks (box corners included) one prompt may hold. Every click is a token of the mask
#: decoder, whose cost grows with their number (and with its square in self-attention): 1000
#: clicks take about 0.8 s per decoder call with the tiny model on 2 CPU cores, 100 000 took 15
#: minutes. Prompts are meant to be a handful of clicks; pass a mask for dense input.
MAX_POINTS = 1000


def _as_float_array(value, name: str, *, allow_bool: bool = False) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes, dict, set)):
        raise PromptError(f"{name} must be numbers, got {type(value).__name__}: {value!r:.80}")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in ("biufO" if allow_bool else "iufO"):
            raise PromptError(f"{name} must be real numbers, got values of type {raw.dtype}")
        array = raw.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        if isinstance(err, PromptError):
            raise
        raise PromptError(
            f"{name} must be numbers in a regular (rectangular) array, got "
            f"{type(value).__name__}: {err}"
        ) from None
    if not np.all(np.isfinite(array)):
        shown = array.ravel()[:8].tolist()
        raise PromptError(
            f"{name} contains NaN or infinite values: {shown}{' ...' if array.size > 8 else ''}"
        )
    return array


def check_integer(
    value, name: str, *, minimum: int | None = None, error: type[ValueError] = PromptError
) -> int:
    """``value`` as an int, refusing what would be truncated or guessed.

    Accepts Python and numpy integers; refuses booleans, floats (``1.7`` and ``1.0`` alike:
    nothing is truncated) and anything else with ``error`` (:class:`PromptError` by default, a
    ``ValueError``) naming ``name``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be an integer, got the boolean {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        hint = ""
        if isinstance(value, (float, np.floating)):
            hint = " (floats are not truncated; pass int(...) if that is what you mean)"
        raise error(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}){hint}"
        ) from None
    if minimum is not None and number < minimum:
        raise error(f"{name} must be >= {minimum}, got {number}")
    return number


def check_number(value, name: str, *, minimum: float | None = None) -> float:
    """``value`` as a finite float (``minimum`` or more), else ``ValueError`` naming ``name``;
    booleans and strings are refused rather than read as 1/0 or parsed."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a number, got {value!r:.60}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a finite number, got {value!r:.60}") from None
    if not np.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return number


def check_flag(value, name: str) -> bool:
    """``value`` if it is a boolean (Python or numpy), else ``TypeError`` naming ``name`` (a
    string such as ``"no"`` would otherwise count as True)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_point_count(count: int, name: str = "points") -> None:
    """Refuse a prompt of more than :data:`MAX_POINTS` clicks."""
    if count > MAX_POINTS:
        raise PromptError(
            f"{name}: {count} clicks in one prompt; at most {MAX_POINTS} are allowed "
            "(sam2_engine.prompts.MAX_POINTS: each click is a decoder token and the cost grows "
            "with their number). Give a few clicks, a box, or a mask prompt instead"
        )


def check_points(points, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate clicks.

    Args:
        points: (N, 2) xy, or (B, N, 2) for a batch of prompts.
        labels: (N,) or (B, N), values in :data:`VALID_LABELS`.

    Returns:
        float64 points of shape (B, N, 2) and int32 labels of shape (B, N).
    """
    if (points is None) != (labels is None):
        raise PromptError(
            "points and labels must be given together "
            f"(got points={'None' if points is None else 'array'}, "
            f"labels={'None' if labels is None else 'array'})"
        )
    pts = _as_float_array(points, "points")
    lbl = _as_float_array(labels, "labels", allow_bool=True)
    if pts.ndim == 2:
        pts = pts[None]
    if lbl.ndim == 1:
        lbl = lbl[None]
    if pts.ndim == 1 and pts.size and pts.size % 2 == 0:
        pairs = ", ".join(f"[{x:g}, {y:g}]" for x, y in pts.reshape(-1, 2)[:2])
        raise PromptError(
            f"points must have shape (N, 2) as (x, y) pixels, got a flat list of {pts.size} "
            f"numbers; write one [x, y] pair per point, e.g. [{pairs}"
            f"{', ...' if pts.size > 4 else ''}]"
        )
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise PromptError(f"points must have shape (N, 2) as (x, y) pixels, got {pts.shape}")
    if lbl.ndim != 2 or lbl.shape != pts.shape[:2]:
        raise PromptError(
            f"labels must have one value per point: {pts.shape[1]} points "
            f"but labels of shape {lbl.shape}"
        )
    if pts.shape[0] == 0 or pts.shape[1] == 0:
        raise PromptError("points is empty: give at least one (x, y) point, or pass None")
    check_point_count(pts.shape[1])
    if np.any(lbl != np.round(lbl)) or not np.isin(lbl, VALID_LABELS).all():
        bad = sorted(set(np.unique(lbl).tolist()) - set(VALID_LABELS))
        raise PromptError(
            f"labels must be 1 (positive), 0 (negative), 2/3 (box corners); got {bad}"
        )
    return pts, lbl.astype(np.int32)


def check_box(box, *, batched: bool = False) -> np.ndarray:
    """Validate a box (x0, y0, x1, y1) or, with ``batched``, boxes (B, 4). Returns (B, 4)."""
    arr = _as_float_array(box, "box")
    if arr.shape == (4,) or arr.shape == (2, 2):
        arr = arr.reshape(1, 4)
    elif batched and arr.ndim == 2 and arr.shape[1] == 4 and arr.shape[0] > 0:
        pass
    else:
        expected = "(4,) or (B, 4)" if batched else "(4,)"
        raise PromptError(f"box must be x0, y0, x1, y1 with shape {expected}, got {arr.shape}")
    if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
        raise PromptError(
            f"box must be (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0, got {arr.tolist()}"
        )
    return arr


def check_inside(coords: np.ndarray, width: float, height: float, name: str) -> None:
    """Raise when an (..., 2) xy array falls outside the [0, width] x [0, height] image."""
    xs, ys = coords[..., 0], coords[..., 1]
    outside = (xs < 0) | (xs > width) | (ys < 0) | (ys > height)
    if np.any(outside):
        first = coords[outside][0].tolist() if coords.ndim > 1 else coords.tolist()
        raise PromptError(
            f"{name} lies outside the image: {first} is not within x 0..{width:g}, "
            f"y 0..{height:g} (coordinates are (x, y) in pixels of the input image)"
        )


def to_model_coords(
    coords: np.ndarray, width: int, height: int, image_size: int, normalize: bool
) -> torch.Tensor:
    """Map xy pixels of a (height, width) image (or [0, 1] coords if not ``normalize``) to the
    square model input (0..image_size). Returns float32."""
    coords = torch.as_tensor(coords, dtype=torch.float32)
    if normalize:
        coords = coords / torch.tensor([width, height], dtype=torch.float32)
    return coords * image_size


def check_mask(mask, height: int, width: int) -> torch.Tensor:
    """A 2-D mask prompt (H, W) of the video's size, as a bool tensor."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise PromptError(
            f"mask must be boolean or real numbers (> 0 is inside), got values of type {arr.dtype}"
        )
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise PromptError(f"mask must be 2-D (H, W), got shape {arr.shape}")
    if arr.shape != (height, width):
        raise PromptError(f"mask has shape {arr.shape} but the video frames are {(height, width)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise PromptError(
            f"mask contains {bad} NaN or infinite values (of {arr.size}); a mask must be "
            "boolean or finite numbers (> 0 is inside). Replace them, e.g. np.nan_to_num(mask)"
        )
    return torch.from_numpy(arr > 0 if arr.dtype != bool else arr.copy())


def prompt_points(
    points,
    labels,
    box,
    *,
    width: int,
    height: int,
    image_size: int,
    normalize: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Clicks and box(es) as the model takes them: box corners first (labels 2, 3), then the
    clicks, in model-input pixels.

    Args:
        points, labels: (N, 2) / (N,) or, for B prompts, (B, N, 2) / (B, N); or None.
        box: (4,) or (B, 4); or None.
        width, height: the input image's size (coordinates are checked against it, or against
            [0, 1] when ``normalize`` is False).

    Returns:
        coords (B, N, 2) float32 and labels (B, N) int32, or (None, None) without prompts.
    """
    limit_w, limit_h = (width, height) if normalize else (1, 1)
    coord_parts, label_parts = [], []
    if box is not None:
        boxes = check_box(box, batched=True)
        check_inside(boxes.reshape(-1, 2), limit_w, limit_h, "the box")
        coord_parts.append(boxes.reshape(-1, 2, 2))
        label_parts.append(np.tile(np.array([[2, 3]], dtype=np.int32), (boxes.shape[0], 1)))
    if points is not None or labels is not None:
        pts, lbl = check_points(points, labels)
        check_inside(pts, limit_w, limit_h, "a point")
        if coord_parts and coord_parts[0].shape[0] != pts.shape[0]:
            raise PromptError(
                f"{coord_parts[0].shape[0]} boxes but {pts.shape[0]} point sets: "
                "give one point set per box"
            )
        coord_parts.append(pts)
        label_parts.append(lbl)
    if not coord_parts:
        return None, None
    coords = to_model_coords(
        np.concatenate(coord_parts, axis=1), width, height, image_size, normalize
    )
    return coords, torch.from_numpy(np.concatenate(label_parts, axis=1))
