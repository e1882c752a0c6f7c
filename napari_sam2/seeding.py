"""Objects to track, found in one go: from a label image, or by segmenting everything.

- :func:`prompts_from_labels` turns each label of an (H, W) label image (a Cellpose or StarDist
  result, a painted Labels layer) into an object with the same id and a mask prompt;
- :func:`segment_everything` runs SAM 2's automatic mask generator on one image and returns a
  label image (largest masks first, overlaps resolved, ids 1..N);
- :func:`new_objects` picks, among the masks of a frame, those that overlap no tracked object
  (what re-detection adds as new objects entering the video).

The prompt structure they return plugs into :func:`napari_sam2.track` as ``prompts``. Nothing
here imports napari or Qt; torch only loads with a model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from napari_sam2.session import SessionError

#: Labels smaller than this many pixels are skipped by default (specks, not cells).
MIN_OBJECT_AREA = 16
#: A found mask overlapping a tracked object by more than this IoU is that object, not a new one.
NEW_OBJECT_IOU = 0.1


def prompts_from_labels(
    labels: Any, frame: int = 0, *, min_area: int = MIN_OBJECT_AREA, warn: Any = None
) -> dict[int, dict[int, dict[str, np.ndarray]]]:
    """One object per label of a label image, prompted by its mask on ``frame``.

    Args:
        labels: an (H, W) integer label image (0 is background), or a path to one (a TIFF or
            a label file napari-sam2 wrote; from a stack, its plane ``frame``); the same size
            as the video's frames.
        frame: the frame the masks belong to.
        min_area: labels with fewer pixels are skipped (and said so through ``warn``).
        warn: called with a message about skipped labels (default: ``warnings.warn``).

    Returns:
        ``{label id: {frame: {"mask": (H, W) bool}}}`` for ``track(video, prompts)``.

    Raises:
        SessionError: not a 2-D integer image, no label left, negative or oversized ids.
    """
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or frame < 0:
        raise SessionError(f"the seed frame must be a whole number >= 0, got {frame!r}")
    image = _read_labels(labels, frame)
    if image.size and np.count_nonzero(image) == image.size and image.max() != image.min():
        raise SessionError(
            "this label image has no background (no pixel is 0): it looks like an intensity "
            "image, not labels; give a label image (Cellpose, StarDist, a painted Labels layer)"
        )
    ids, counts = np.unique(image[image != 0], return_counts=True)
    if ids.size and ids.min() < 0:
        raise SessionError(f"label values must be >= 0, found {int(ids.min())}")
    if ids.size and ids.max() > np.iinfo(np.uint32).max:
        raise SessionError(f"label {int(ids.max())} is above the largest object id 2**32 - 1")
    small = [int(i) for i, n in zip(ids, counts, strict=True) if n < min_area]
    kept = [int(i) for i, n in zip(ids, counts, strict=True) if n >= min_area]
    if small:
        message = (
            f"{len(small)} label(s) smaller than {min_area} pixels were skipped: {_listed(small)}"
        )
        if warn is None:
            import warnings

            warnings.warn(f"{message} (min_area= changes the threshold)", stacklevel=2)
        else:
            warn(message)
    if not kept:
        found = "no label at all" if not ids.size else f"only labels under {min_area} pixels"
        raise SessionError(f"the label image holds {found}: there is no object to track")
    return {obj: {int(frame): {"mask": image == obj}} for obj in kept}


def _read_labels(labels: Any, frame: int) -> np.ndarray:
    """The (H, W) label image: a 2-D image as is; a file holding a stack, its plane ``frame``."""
    if isinstance(labels, (str, os.PathLike)):
        from sam2_engine.sinks import format_for, open_labels

        if not os.path.exists(labels):
            raise FileNotFoundError(f"label image not found: {labels}")
        try:
            format_for(labels)
            image = open_labels(labels)
        except ValueError:  # not one of ours: any TIFF
            import tifffile

            image = tifffile.imread(labels)
        if image.ndim == 3 and image.shape[0] == 1:
            image = image[0]
        elif image.ndim == 3:
            if frame >= image.shape[0]:
                raise SessionError(
                    f"{labels} holds {image.shape[0]} label frames; there is no frame {frame}"
                )
            image = image[frame]
        image = np.asarray(image)
    else:
        image = np.asarray(labels)
    if image.ndim != 2:
        raise SessionError(
            f"a seed label image is 2-D (H, W), got shape {image.shape}: pick one frame "
            "(labels[t] in Python, LABELS.tif@FRAME on the command line)"
        )
    if image.dtype.kind not in "iu":
        raise SessionError(f"a label image holds whole numbers, got dtype {image.dtype}")
    return image


def _listed(values: list[int], limit: int = 10) -> str:
    text = ", ".join(map(str, values[:limit]))
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


def labels_from_masks(masks: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """A label image from masks: the largest first, each later one only where no earlier one
    is (overlaps go to the larger mask), ids 1..N in that order; empty masks are dropped."""
    order = sorted(range(len(masks)), key=lambda i: -int(np.count_nonzero(masks[i])))
    dtype = np.uint16 if len(masks) <= np.iinfo(np.uint16).max else np.uint32
    labels = np.zeros(shape, dtype)
    next_id = 1
    for i in order:
        free = masks[i] & (labels == 0)
        if free.any():
            labels[free] = next_id
            next_id += 1
    return labels


def segment_everything(
    image: Any,
    model: Any = None,
    *,
    frame: int = 0,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    image_size: int | None = None,
    precision: str = "fp32",
    allow_download: bool = False,
    axes: str | None = None,
    axis: str | None = None,
    channel: int | tuple[int, ...] | None = None,
    contrast_limits: tuple[float, float] | None = None,
    progress: Any = None,
    **generator_options: Any,
) -> np.ndarray:
    """Segment everything on one image or one frame of a stack; returns an (H, W) label image
    (ids 1..N, largest masks first, overlaps given to the larger mask).

    Args:
        image: an image or stack: an array ((H, W) gray, (H, W, 3) RGB, or a stack), or
            any file ``track`` reads (TIFF, PNG, zarr, video...). 16-bit and float go through
            the same contrast mapping as tracking.
        model, checkpoint, device, image_size, precision, allow_download: as for
            :func:`napari_sam2.segment_image`.
        frame: which frame of a stack (0 for a single image).
        output: also write the labels there (a .tif, .zarr or .ome.zarr; one frame, with
            provenance); the rules of :func:`napari_sam2.check_output` apply.
        overwrite: replace an earlier output of napari-sam2 at ``output``.
        axes, axis, channel, contrast_limits: how to read it, as for :func:`napari_sam2.track`.
        progress: called as ``progress(points_done, points_total)``.
        **generator_options: ``sam2_engine.AutomaticMaskGenerator`` options
            (``points_per_side``, ``pred_iou_thresh``, ``stability_score_thresh``,
            ``min_mask_region_area``...).

    Raises:
        SessionError: the generator found nothing (the message says which thresholds to
            lower); ValueError: an unknown generator option, a frame outside the stack.
    """
    from napari_sam2.tracking import load_model
    from napari_sam2.tracking.redetect import check_generator_options
    from sam2_engine import AutomaticMaskGenerator
    from sam2_engine.constants import DEFAULT_MODEL
    from sam2_engine.frames import open_frames
    from sam2_engine.options import PredictorOptions
    from sam2_engine.sinks import check_output, open_sink

    check_generator_options(generator_options)
    options = PredictorOptions(device=device, image_size=image_size, precision=precision)
    if output is not None:
        check_output(output, overwrite=overwrite, inputs=[image])
    with open_frames(
        image, axes=axes, axis=axis, channel=channel, contrast_limits=contrast_limits
    ) as source:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise ValueError(f"frame must be a whole number, got {frame!r}")
        if not 0 <= frame < len(source):
            raise ValueError(f"frame {frame} is outside the {len(source)} frame(s) of the input")
        pixels, limits = source.read(int(frame)), source.contrast_limits
    loaded = load_model(
        model or DEFAULT_MODEL, options, checkpoint=checkpoint, allow_download=allow_download
    )
    generator = AutomaticMaskGenerator(
        loaded.model, precision=options.precision, **generator_options
    )
    records = generator.generate(pixels, contrast_limits=limits, progress=progress)
    if not records:
        raise SessionError(
            "segment everything found no object in this image: lower the quality thresholds "
            "(pred_iou_thresh, stability_score_thresh; --pred-iou-thresh, --stability-thresh "
            "on the command line) or use a finer grid (points_per_side, --points-per-side)"
        )
    labels = labels_from_masks([r["segmentation"] for r in records], pixels.shape[:2])
    if output is not None:
        objects = list(range(1, int(labels.max()) + 1))
        info = {**loaded.info, "frames": [int(frame), int(frame) + 1], "objects": objects}
        sink = open_sink(
            output, (1, *labels.shape), labels.dtype, overwrite=overwrite, inputs=[image],
            info={**info, "source": _source_name(image), "generator": generator_options},
        )  # fmt: skip
        try:
            sink.write_labels(0, labels)
        except BaseException:
            sink.abort()
            raise
        sink.close()
    return labels


def _source_name(image: Any) -> str:
    if isinstance(image, (str, os.PathLike)):
        return str(os.path.abspath(os.path.expanduser(image)))
    return f"array {getattr(image, 'shape', '')}"


def new_objects(
    found: np.ndarray, tracked: np.ndarray, first_id: int, iou: float = NEW_OBJECT_IOU
) -> dict[int, np.ndarray]:
    """The labels of ``found`` (a label image of everything on a frame) that overlap no
    object of ``tracked`` (that frame's tracked labels) by more than ``iou``, as masks under
    new ids from ``first_id`` on."""
    result: dict[int, np.ndarray] = {}
    tracked_ids = [t for t in np.unique(tracked) if t]
    for value in np.unique(found):
        if not value:
            continue
        mask = found == value
        overlaps = (
            np.count_nonzero(mask & (tracked == t)) / np.count_nonzero(mask | (tracked == t))
            for t in tracked_ids
        )
        if max(overlaps, default=0.0) <= iou:
            result[first_id + len(result)] = mask
    return result


def merge_prompts(*parts: Mapping[int, Mapping[int, Any]]) -> dict[int, dict[int, Any]]:
    """Prompt structures together (object -> frame -> prompt); ids must not clash."""
    merged: dict[int, dict[int, Any]] = {}
    for part in parts:
        for obj, frames in part.items():
            if obj in merged:
                raise SessionError(f"object {obj} is seeded twice: give each object one id")
            merged[obj] = dict(frames)
    return dict(sorted(merged.items()))
