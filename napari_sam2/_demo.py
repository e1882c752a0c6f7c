"""The demo job (``napari-sam2 demo``): track a few cells of the sample time-lapse end to end.

It generates the cells time-lapse, clicks once inside a few cells on frame 0 (points taken
from the sample's ground truth), tracks them with the default model and writes what a user
would look at: the input stack and the labels (TIFF, to open in napari or Fiji), an overlay
image (a few frames side by side) and an overlay video. With the ground truth at hand it also
reports how well each cell was followed (IoU per frame).

The checkpoint is taken from the cache, downloaded if allowed; when that fails (offline), the
demo continues with random weights unless told not to: the masks are then meaningless, but every
step of the pipeline runs, which is what a first try on a new machine should show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.constants import DEFAULT_MODEL

#: The model input side used with random weights when none is given (speed over nothing).
FALLBACK_IMAGE_SIZE = 512

#: Frames shown side by side in the overlay image.
OVERLAY_PANELS = 4


@dataclass
class DemoResult:
    """What the demo did and where its files are."""

    folder: Path
    frames: int
    objects: list[int]
    model: str
    image_size: int
    random_weights: bool
    seconds_model: float
    seconds_tracking: float
    iou: dict[int, float]
    files: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal."""
        weights = "RANDOM weights (meaningless masks)" if self.random_weights else "its checkpoint"
        per_frame = self.seconds_tracking / max(self.frames, 1)
        ious = ", ".join(f"cell {k}: {v:.2f}" for k, v in self.iou.items())
        lines = [
            f"Tracked {len(self.objects)} cells through {self.frames} frames of the sample "
            f"time-lapse with {self.model} at {self.image_size} px, {weights}.",
            f"Model ready in {self.seconds_model:.1f} s; tracking took "
            f"{self.seconds_tracking:.1f} s ({per_frame:.1f} s per frame).",
            f"Mean IoU with the ground truth: {ious}.",
            f"Files in {self.folder}:",
            *(f"  {name:<14} {path.name}" for name, path in self.files.items()),
            *(f"  {name:<14} skipped: {why}" for name, why in self.skipped.items()),
            f"View them: napari {self.files['image']} {self.files['labels']} "
            "(right-click the labels layer > Convert to Labels)",
        ]
        return "\n".join(lines)


def click_points(truth: np.ndarray, objects: int) -> dict[int, tuple[float, float]]:
    """One click (x, y) deep inside each of the ``objects`` largest cells of frame 0 that are
    still there (same label) on the last frame: the pixel farthest from the cell's border."""
    from scipy import ndimage

    first, last = truth[0], truth[-1]
    labels, areas = np.unique(first[first > 0], return_counts=True)
    kept = [
        int(k) for k, _ in sorted(zip(labels, areas, strict=True), key=lambda p: -p[1]) if k in last
    ]
    points = {}
    for label in kept[:objects]:
        depth = ndimage.distance_transform_edt(first == label)
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        points[label] = (float(x), float(y))
    return points


def _mean_iou(labels: np.ndarray, truth: np.ndarray, ids: list[int]) -> dict[int, float]:
    scores = {}
    for obj_id in ids:
        found, real = labels == obj_id, truth == obj_id
        inter = np.logical_and(found, real).sum(axis=(1, 2))
        union = np.logical_or(found, real).sum(axis=(1, 2))
        scores[obj_id] = float(np.mean(inter / np.maximum(union, 1)))
    return scores


def _get_model(
    model: str,
    checkpoint: Path | None,
    device: str,
    image_size: int | None,
    download: bool,
    fallback: bool,
    warn: Callable[[str], Any],
) -> tuple[Any, bool]:
    """(model, random weights?): the real checkpoint if it can be had, else random weights."""
    from napari_sam2.api import get_model
    from sam2_engine.errors import DownloadError, ModelNotFoundError

    try:
        return get_model(
            model,
            checkpoint=checkpoint,
            device=device,
            image_size=image_size,
            allow_download=download and checkpoint is None,
        ), False
    except (ModelNotFoundError, DownloadError) as error:
        if not fallback:
            raise
        reason = str(error).splitlines()[0]
    from sam2_engine import build_model, get_config

    size = image_size or FALLBACK_IMAGE_SIZE
    warn(
        f"WARNING: the {model} checkpoint is not available: {reason}\n"
        f"WARNING: continuing with RANDOM weights at {size} px: the masks are meaningless; "
        "this only shows the pipeline runs. For real masks get the checkpoint "
        f"(napari-sam2 models download {model}, or models import {model} FILE), or pass "
        "--no-fallback to stop here instead."
    )
    # objects judged present, so that random weights still draw masks (see build_model)
    config = get_config(model, image_size=size)
    return build_model(config, seed=0, device=_device(device), object_score_bias=2.0), True


def _device(device: str) -> Any:
    from sam2_engine.devices import resolve_device

    return resolve_device(device)


def _overlay_image(image: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    """The overlay of ``OVERLAY_PANELS`` evenly spaced frames, side by side, as a PNG."""
    from PIL import Image, ImageDraw

    from napari_sam2.video_export import overlay_frame
    from sam2_engine.frames import open_frames
    from sam2_engine.publish import Publication

    source = open_frames(image)
    picks = np.unique(np.linspace(0, len(source) - 1, OVERLAY_PANELS).round().astype(int))
    gap = 4
    height, width = labels.shape[1:]
    sheet = Image.new("RGB", (len(picks) * (width + gap) - gap, height), "white")
    for i, t in enumerate(picks):
        panel = Image.fromarray(overlay_frame(source.read_rgb(int(t)), labels[t]))
        ImageDraw.Draw(panel).text((4, 2), f"t={t}", fill="white")
        sheet.paste(panel, (i * (width + gap), 0))
    with Publication(path, overwrite=True, what="the demo's overlay") as out:
        sheet.save(out.partial, format="PNG")
        return out.commit()


#: The files the demo writes (and replaces on a later run).
OUTPUT_NAMES = ("cells.tif", "labels.tif", "overlay.png", "overlay.mp4")


def _check_outputs(folder: Path) -> None:
    """Before any work: the demo replaces its own earlier files, never anything else."""
    from sam2_engine.publish import OutputError, check_output

    for name in OUTPUT_NAMES:
        try:
            check_output(folder / name, overwrite=True)
        except OutputError as err:
            raise type(err)(
                f"{folder / name} is in the way and is not the demo's own earlier output: "
                "nothing was written. Run the demo into another folder (-o FOLDER)"
            ) from None


def run_demo(
    folder: str | Path,
    *,
    frames: int = 6,
    objects: int = 3,
    model: str = DEFAULT_MODEL,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    image_size: int | None = None,
    precision: str = "fp32",
    download: bool = True,
    fallback: bool = True,
    warn: Callable[[str], Any] = print,
    progress: bool = True,
) -> DemoResult:
    """Run the demo, writing into ``folder`` (created; the demo's own files are replaced).

    Args:
        frames: frames of the time-lapse to track (the default keeps it to 1-3 minutes on a
            2-core CPU at the model's full 1024 px input).
        objects: cells to click on frame 0 (one positive click each).
        model, checkpoint, device, image_size: see :func:`napari_sam2.api.get_model`.
        precision: ``fp32`` (exact), ``bf16`` or ``fp16``.
        download: download the checkpoint if it is not cached.
        fallback: when the checkpoint cannot be had, warn and use random weights (at
            ``FALLBACK_IMAGE_SIZE`` unless ``image_size`` is given) instead of failing.
        warn: where warnings go (the CLI passes a writer to stderr).
    """
    import tifffile

    from napari_sam2 import make_cells_timelapse
    from napari_sam2.api import track
    from sam2_engine.publish import Publication

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _check_outputs(folder)
    sample = make_cells_timelapse(n_frames=frames)
    clicks = click_points(sample.truth, objects)
    prompts = {k: {0: {"points": [list(xy)]}} for k, xy in clicks.items()}

    started = time.perf_counter()
    net, random_weights = _get_model(
        model, checkpoint, device, image_size, download, fallback, warn
    )
    loaded = time.perf_counter()
    files = {"image": folder / "cells.tif", "labels": folder / "labels.tif"}
    with Publication(files["image"], overwrite=True, what="the demo's stack") as out:
        tifffile.imwrite(out.partial, sample.image, imagej=True, metadata={"axes": "TYX"})
        out.commit()
    labels = np.asarray(
        track(
            sample.image,
            prompts,
            net,
            output=files["labels"],
            overwrite=True,
            progress=progress,
            precision=precision,
        )
    )
    tracked = time.perf_counter()
    files["overlay image"] = _overlay_image(sample.image, labels, folder / "overlay.png")
    skipped = {}
    try:
        from napari_sam2.video_export import export_video

        files["overlay video"] = export_video(
            sample.image,
            labels,
            folder / "overlay.mp4",
            kind="overlay",
            overwrite=True,
            progress=progress,
        )
    except (ImportError, ValueError, OSError) as error:  # e.g. no H.264 encoder in this PyAV
        skipped["overlay video"] = str(error).splitlines()[0]
    return DemoResult(
        folder=folder,
        frames=frames,
        objects=list(clicks),
        model=model,
        image_size=net.image_size,
        random_weights=random_weights,
        seconds_model=loaded - started,
        seconds_tracking=tracked - loaded,
        iou=_mean_iou(labels, sample.truth, list(clicks)),
        files=files,
        skipped=skipped,
    )
