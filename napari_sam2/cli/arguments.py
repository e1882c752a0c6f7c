"""Turning command-line values into the API's arguments (prompts, frames, options)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """The command line cannot work as given: reported like argparse's errors, exit status 2."""


def _prompt_values(text: str, option: str, form: str, coords: int) -> tuple[int, list, int]:
    """``"3,10.5,20[,2]"`` -> (frame 3, [10.5, 20.0], object 2 (default 1))."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (coords + 1, coords + 2):
        raise UsageError(f"{option} expects {form}, got {text!r}")
    frame, obj = values[0], values[coords + 1] if len(values) > coords + 1 else 1.0
    if not frame.is_integer() or frame < 0:
        raise UsageError(f"{option} {text!r}: the frame T must be a whole number >= 0")
    if not obj.is_integer() or obj < 1:
        raise UsageError(f"{option} {text!r}: the object OBJ must be a whole number >= 1")
    return int(frame), values[1 : coords + 1], int(obj)


def prompts_from_args(points: Sequence[str], neg_points: Sequence[str], boxes: Sequence[str]):
    """The plain prompt structure (object -> frame -> prompt) from --point / --box values."""
    prompts: dict[int, dict[int, dict[str, list]]] = {}
    for texts, label, option in ((points, 1, "--point"), (neg_points, 0, "--neg-point")):
        for text in texts:
            frame, xy, obj = _prompt_values(text, option, "T,X,Y[,OBJ]", 2)
            spec = prompts.setdefault(obj, {}).setdefault(frame, {})
            spec.setdefault("points", []).append(xy)
            spec.setdefault("labels", []).append(label)
    for text in boxes:
        frame, box, obj = _prompt_values(text, "--box", "T,X0,Y0,X1,Y1[,OBJ]", 4)
        spec = prompts.setdefault(obj, {}).setdefault(frame, {})
        if "box" in spec:
            raise UsageError(f"two --box values for object {obj} on frame {frame}")
        spec["box"] = box
    return prompts


def frame_range(text: str | None) -> slice | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UsageError(f"--frames expects START:STOP (e.g. 0:50 or 10:), got {text!r}") from None
    return slice(start, stop)


def ints(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(
            f"{option} expects whole numbers separated by commas, got {text!r}"
        ) from None


def frame_options(args: argparse.Namespace) -> dict[str, Any]:
    channel = ints(args.channel, "--channel")
    contrast = None
    if args.contrast is not None:
        try:
            low, high = (float(v) for v in args.contrast.split(","))
        except ValueError:
            raise UsageError(f"--contrast expects LOW,HIGH, got {args.contrast!r}") from None
        contrast = (low, high)
    return {
        "axes": args.axes,
        "axis": args.axis,
        "channel": channel[0] if channel and len(channel) == 1 else channel,
        "contrast_limits": contrast,
    }


def predictor_options(args: argparse.Namespace) -> dict[str, Any]:
    """The predictor options given on the command line (None: not given), checked.

    Raises:
        UsageError: a flag's value breaks the option's rule (the message names the rule).
    """
    from sam2_engine.options import OptionsError, PredictorOptions

    names = ("device", "image_size", "precision", "fill_hole_area", "max_frames_in_memory")
    given = {name: getattr(args, name, None) for name in names}
    batch_mb = getattr(args, "object_batch_mb", None)
    if batch_mb is not None:
        if batch_mb < 0:
            raise UsageError(f"--object-batch-mb must be a whole number >= 0, got {batch_mb}")
        given["object_batch_bytes"] = batch_mb * 2**20
    try:
        PredictorOptions().updated(**given)
    except OptionsError as err:
        text = str(err)
        name = next((n for n in names if text.startswith(n)), None)
        if name is not None:
            text = text.replace(name, f"--{name.replace('_', '-')}", 1)
        raise UsageError(text) from None
    return given


#: Segment-everything flags: argument name -> (``AutomaticMaskGenerator`` keyword, minimum).
GENERATOR_FLAGS = {
    "points_per_side": ("points_per_side", 1),
    "pred_iou_thresh": ("pred_iou_thresh", None),
    "stability_thresh": ("stability_score_thresh", None),
    "min_area": ("min_mask_region_area", 0),
}


def generator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The segment-everything settings given, as ``AutomaticMaskGenerator`` keywords."""
    given = {}
    for name, (keyword, minimum) in GENERATOR_FLAGS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if minimum is not None and value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")
        given[keyword] = value
    return given


def seed_labels(text: str) -> tuple[str, int]:
    """``"cells.tif@3"`` -> ("cells.tif", 3); without ``@T`` the frame is 0 (a file whose
    name holds an ``@`` is taken whole when it exists)."""
    path, at, frame = text.rpartition("@")
    if not at or Path(text).exists():
        return text, 0
    if not frame.strip().isdecimal():
        raise UsageError(f"--seed-labels expects LABELS[@T] with T a frame number, got {text!r}")
    return path, int(frame)


def check_model_name(name: str | None) -> None:
    from sam2_engine import MODEL_NAMES

    if name is not None and name not in MODEL_NAMES:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def say(message: str) -> None:
    print(message, file=sys.stderr)


def warn(message: str, hint: str = "") -> None:
    """A warning, one line on stderr (with what to change, if given)."""
    say(f"napari-sam2: warning: {message}" + (f" ({hint})" if hint else ""))
