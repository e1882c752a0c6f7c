"""The scripted API: segment an image or track objects through a stack in a few lines.

Arrays and paths in, arrays and files out, no GUI::

    import napari_sam2 as ns

    mask = ns.segment_image(image, points=[[120, 80]])          # (H, W) bool
    labels = ns.track("cells.tif", {1: {0: {"points": [[120, 80]]}}})   # (T, H, W) uint16
    ns.track("cells.tif", "session.json", output="labels.zarr")          # written to disk

These are thin callers of the tracking pipeline (:mod:`napari_sam2.tracking`): models come
from its process cache (the two most recently used, keyed by model, checkpoint file, device and
input size), outputs from the sink registry (:mod:`sam2_engine.sinks`: ``.tif``, ``.zarr``,
``.ome.zarr``). Every track result records where it came from (model name, checkpoint
SHA-256, software version, options): in the metadata of a written file (read it back with
:func:`read_info`) and in the dict ``track(..., return_info=True)`` returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from napari_sam2.lineage import export_tracks
from napari_sam2.lineage.auto import record_divisions, relabeller_for, write_with_divisions
from napari_sam2.seeding import NEW_OBJECT_IOU
from napari_sam2.session import Session, SessionError, load_session, session_from_prompts
from napari_sam2.tracking import (
    FrameOptions,
    Tracking,
    TrackingJob,
    clear_model_cache,
    load_model,
    session_options,
)
from napari_sam2.tracking.plan import FrameRange
from napari_sam2.tracking.redetect import REDETECT_OPTIONS, Redetect
from sam2_engine.constants import DEFAULT_MODEL, DIRECTIONS, label_dtype_name
from sam2_engine.options import PredictorOptions
from sam2_engine.sinks import check_output as _check_sink_output
from sam2_engine.sinks import merge_to_labels, open_labels, open_sink, read_info

__all__ = [
    "DEFAULT_MODEL",
    "DIRECTIONS",
    "check_output",
    "clear_model_cache",
    "export_tracks",
    "get_model",
    "read_info",
    "segment_image",
    "track",
]

#: File suffixes of images ``segment_image`` reads with tifffile (others with PIL).
TIFF_SUFFIXES = (".tif", ".tiff")


def get_model(
    model: Any = DEFAULT_MODEL,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    image_size: int | None = None,
    allow_download: bool = False,
) -> Any:
    """A loaded model, from the process cache when it was loaded before.

    Args:
        model: one of ``sam2_engine.MODEL_NAMES`` (or a ``Sam2Config``).
        checkpoint: an official ``.pt`` file; ``None`` takes the cached one (see
            ``napari-sam2 models``), downloading it first only if ``allow_download``.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        image_size: the model's input side (default: the model's own, 1024). Smaller is much
            faster (about 4x per halving on the encoder, more on tracking) but less accurate:
            the official weights were trained at 1024. A multiple of 32.
        allow_download: fetch the checkpoint from the official address if it is not cached.

    Raises:
        ValueError: unknown model name (the message lists the valid ones), bad image size.
        ModelNotFoundError: not cached and downloads not allowed (says where to put the file).
        DownloadError, CheckpointError: the download or the file failed.
    """
    options = PredictorOptions(device=device, image_size=image_size)
    return load_model(model, options, checkpoint=checkpoint, allow_download=allow_download).model


# --------------------------------------------------------------------------- images
def _read_image(image: Any) -> Any:
    """An image array from an array, a PIL image or a path (TIFF via tifffile, else PIL)."""
    if not isinstance(image, (str, os.PathLike)):
        return image
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        return tifffile.imread(path)
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB") if img.mode not in ("L", "I;16", "F") else img)


def _as_rgb(image: Any, contrast_limits: tuple[float, float] | None) -> np.ndarray:
    """8-bit images as they are; others (16-bit, float) through the same contrast mapping as
    video frames (``contrast_limits``, else robust percentiles), so ``segment_image`` on a
    frame sees what ``track`` sees on it."""
    from sam2_engine.frames import open_frames
    from sam2_engine.image_input import check_image

    pixels = check_image(image)  # (H, W) or (H, W, 3), or an error naming the problem
    if pixels.dtype == np.uint8 and contrast_limits is None:
        return pixels
    axes = "YX" if pixels.ndim == 2 else "YXC"
    return open_frames(pixels, axes=axes, contrast_limits=contrast_limits).read_rgb(0)


def segment_image(
    image: Any,
    points: Any = None,
    labels: Any = None,
    box: Any = None,
    model: Any = DEFAULT_MODEL,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    multimask: bool = False,
    allow_download: bool = False,
    image_size: int | None = None,
    precision: str = "fp32",
    contrast_limits: tuple[float, float] | None = None,
    return_score: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Segment one object in one image from clicks and/or a box.

    Args:
        image: (H, W) gray or (H, W, 3) RGB array (any dtype: 8/16-bit, float), a PIL image,
            or a path to an image file.
        points: (N, 2) clicks as (x, y) pixels.
        labels: (N,) 1 for a positive click, 0 for a negative one (default: all positive).
        box: (x0, y0, x1, y1) pixels.
        model: a model name (``sam2_engine.MODEL_NAMES``), a ``Sam2Config`` or a loaded model.
        checkpoint, device, allow_download, image_size: see :func:`get_model`.
        precision: ``"fp32"`` (exact), ``"bf16"`` or ``"fp16"`` (GPUs).
        multimask: let the model propose three masks and return the best-scoring one (better
            for a single ambiguous click); otherwise the model's single mask.
        contrast_limits: (low, high) intensities mapped to black and white (napari's contrast
            limits); default: robust percentiles for non-8-bit images, 8-bit as is.
        return_score: also return the model's predicted IoU for the mask.

    Returns:
        mask (H, W) bool, or ``(mask, score)`` with ``return_score``.

    Raises:
        ValueError: no prompt, malformed prompts (a ``PromptError``) or image, bad options.
    """
    from sam2_engine import ImagePredictor

    if points is None and box is None:
        raise ValueError("give points=[[x, y], ...] and/or box=[x0, y0, x1, y1]")
    if points is not None and labels is None:
        labels = np.ones(len(np.asarray(points, dtype=float).reshape(-1, 2)), dtype=int)
    options = PredictorOptions(device=device, image_size=image_size, precision=precision)
    pixels = _as_rgb(_read_image(image), contrast_limits)
    loaded = load_model(model, options, checkpoint=checkpoint, allow_download=allow_download)
    predictor = ImagePredictor(loaded.model, precision=options.precision)
    predictor.set_image(pixels)
    masks, scores, _ = predictor.predict(
        point_coords=points, point_labels=labels, box=box, multimask_output=multimask
    )
    best = int(np.argmax(scores))
    mask = masks[best] > 0
    return (mask, float(scores[best])) if return_score else mask


# --------------------------------------------------------------------------- outputs
def check_output(
    output: str | os.PathLike, overwrite: bool = False, inputs: Sequence[Any] = ()
) -> Path:
    """Check that labels can be written to ``output`` (a .tif/.tiff, .zarr or .ome.zarr path).

    Done before any work, so a run never fails at the end for a reason known at the start.

    Raises:
        ValueError: an unsupported suffix, or ``output`` is one of ``inputs`` (or inside one).
        FileExistsError: ``output`` (or ``output.partial``, left by an interrupted run) exists
            and ``overwrite`` is False, or it exists and napari-sam2 did not write it (never
            replaced), or another run is writing it.
        NotADirectoryError / FileNotFoundError / PermissionError: the folder is not usable.
    """
    return _check_sink_output(output, overwrite=overwrite, inputs=inputs)


# --------------------------------------------------------------------------- tracking
def _as_session(prompts: Any) -> Session:
    if isinstance(prompts, Session):
        prompts.validate()
        return prompts
    if isinstance(prompts, (str, os.PathLike)):
        return load_session(prompts)
    if isinstance(prompts, Mapping):
        return session_from_prompts(dict(prompts))
    raise SessionError(
        "prompts must be a dict (object id -> frame -> {'points', 'labels', 'box', 'mask'}), "
        f"a Session or a session file path, got {type(prompts).__name__}"
    )


def _progress_bar(progress: Any, total: int) -> tuple[Any, bool]:
    """(progress object, whether we own it): a new tqdm bar for True, the caller's object."""
    if progress is True:
        return tqdm(total=total, desc="Tracking", unit="frame", leave=False), True
    if progress is False or progress is None:
        return None, False
    if getattr(progress, "total", 0) is None:  # e.g. tqdm(total=None): tell it now
        progress.total = total
    return progress, False


def track(
    video: Any,
    prompts: Any,
    model: Any = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
    direction: str = "both",
    frames: FrameRange = None,
    output: Any = None,
    overwrite: bool = False,
    stream: bool = False,
    progress: Any = True,
    allow_download: bool = False,
    image_size: int | None = None,
    precision: str | None = None,
    return_info: bool = False,
    axes: str | None = None,
    axis: str | None = None,
    index: Mapping[str, int] | None = None,
    channel: int | Sequence[int] | None = None,
    contrast_limits: tuple[float, float] | None = None,
    redetect_every: int | None = None,
    redetect_options: Mapping[str, Any] | None = None,
    divisions: Any = None,
    **predictor_options: Any,
) -> Any:
    """Track prompted objects through a video or stack; returns the label stack.

    Args:
        video: anything ``sam2_engine.frames.open_frames`` reads: a numpy / dask / zarr array
            ((T, H, W), (T, H, W, C), ...), a TIFF / OME-TIFF, a zarr / OME-Zarr store, a
            folder of images, a video file (.mp4, .avi, .mov, ...). Read lazily; files are
            closed when tracking ends (a ``FrameSource`` passed in is closed too).
        prompts: object id -> frame -> ``{"points": [[x, y], ...], "labels": [1, 0, ...],
            "box": [x0, y0, x1, y1], "mask": (H, W) bool}`` (any subset; labels default to
            positive), or a session file saved by the plugin, or a ``Session``.
        model: a model name, a ``Sam2Config`` or a loaded model; default: the session's model,
            else ``"sam2.1_hiera_tiny"``.
        checkpoint, allow_download: see :func:`get_model`.
        device, image_size, precision: how the model runs (see
            ``sam2_engine.options.PredictorOptions``); default: what a session recorded, else
            ``"auto"``, the model's own size and ``"fp32"`` (exact).
        direction: ``"both"`` (forward from the earliest prompted frame, then backward from
            the frame before it: every frame once), ``"forward"`` (from the earliest prompted
            frame) or ``"backward"`` (from the latest prompted frame towards frame 0). Frames
            not reached stay 0.
        frames: the frames to cover (a ``range``, a ``slice`` or ``(start, stop)``); every
            prompt must lie inside. Default: the whole video. ``labels[i]`` is frame
            ``start + i``.
        output: where the labels go: ``None`` (a new numpy array), an array of shape
            (frames, H, W) to fill (a napari Labels layer's data, a zarr array...), or a path
            ending in .tif / .tiff (ImageJ hyperstack), .zarr or .ome.zarr (an NGFF image of
            the frames with the labels in its labels group). A file is written as
            ``<output>.partial`` and renamed when complete; if the run stops (an error, Ctrl-C)
            the finished frames stay in ``<output>.partial``.
        overwrite: replace an existing output file that napari-sam2 wrote (refused otherwise,
            before any work; a file it did not write is never replaced).
        stream: return an iterator of ``(frame_idx, labels (H, W))`` in the order frames are
            tracked, instead of the stack (frames are also written to ``output`` if given).
        progress: ``True`` for a tqdm bar, ``False`` for none, or an object with
            ``update(n)`` (a tqdm bar or ``napari.utils.progress`` of your own; a ``total``
            of None is set to the number of frames to track).
        return_info: also return a dict recording the model, checkpoint SHA-256, software
            version, direction, frames, objects and options (what a written file records).
        axes, axis, index, channel, contrast_limits: how to read the frames, as in
            ``open_frames`` (e.g. ``axis="Z"`` tracks through a 3-D stack); default: what a
            session recorded, else the file's own metadata.
        redetect_every: every this many frames of the forward pass, segment everything on the
            frame just tracked and add the masks that overlap no tracked object (IoU above
            ``napari_sam2.seeding.NEW_OBJECT_IOU``) as new objects from there (new cells
            entering); ``info["first_frames"]`` records where each object starts. Slow: one
            segment-everything per N frames.
        redetect_options: ``AutomaticMaskGenerator`` options for it (and ``"iou"``); default
            ``points_per_side=16``.
        divisions: ``"auto"`` to find divisions while tracking (or a
            ``napari_sam2.lineage.DivisionSettings``: ``min_area``, ``frames``): when an
            object's mask splits into parts of at least ``min_area`` pixels (default 20) for
            ``frames`` consecutive frames (default 3) of a forward pass, each part gets a new
            id from the split on and the object's id ends (see docs/lineage.md). The
            lineage (daughter -> parent) and the divisions are recorded in ``info`` and in a
            written file (``export_tracks`` reads them). Not with ``stream``.
        **predictor_options: more ``PredictorOptions`` (``fill_hole_area``,
            ``non_overlap_masks``, ``max_frames_in_memory``, ...).

    Returns:
        The (frames, H, W) label stack (uint16; uint32 for ids above 65535): a numpy array,
        the caller's ``output`` array, or the written file opened read-only (``np.memmap``
        for TIFF, a zarr array); with ``stream=True`` an iterator instead. With
        ``return_info=True``, a pair ``(result, info)``.

    Raises:
        SessionError (a ValueError): malformed prompts or session file, a prompt on a frame
            that does not exist or outside ``frames``, coordinates outside the image.
        OptionsError (a ValueError): an unknown or bad option.
        FileExistsError etc.: see :func:`check_output`.
        ValueError, ModelNotFoundError, ...: see :func:`get_model`; unreadable video
            (``FrameSourceError``).
    """
    session = _as_session(prompts)
    options = session_options(
        session, device=device, image_size=image_size, precision=precision, **predictor_options
    )
    if isinstance(output, (str, os.PathLike)):
        check_output(output, overwrite, inputs=[video])
    redetect = None
    if redetect_every is not None:
        extra = dict(redetect_options or {})
        iou = extra.pop("iou", NEW_OBJECT_IOU)
        redetect = Redetect(redetect_every, iou, {**REDETECT_OPTIONS, **extra})
    dtype = label_dtype_name(session.object_ids)
    relabeller = relabeller_for(divisions, session.object_ids, dtype)
    if relabeller is not None and stream:
        raise ValueError(
            "divisions='auto' rewrites frames once a division is confirmed: use stream=False"
        )
    job = TrackingJob(
        video,
        session,
        model=model,
        checkpoint=checkpoint,
        allow_download=allow_download,
        options=options,
        frame_options=FrameOptions(axes, axis, index, channel, contrast_limits),
        direction=direction,
        frames=frames,
        show_download=progress is not False,
        redetect=redetect,
    )
    run = Tracking(job)
    try:
        sink = open_sink(
            output,
            run.shape,
            run.label_dtype,
            overwrite=overwrite,
            inputs=[video],
            info=run.info,
            source=run.read_frame,
        )
    except BaseException:
        run.close()
        raise
    bar, own_bar = _progress_bar(progress, run.frame_count)
    if stream:
        labels_iter = _stream(run, sink, bar, own_bar)
        return (labels_iter, run.info) if return_info else labels_iter
    try:
        with run:
            if relabeller is None:
                run.write(sink, progress=bar)
            else:
                write_with_divisions(run.frames(), sink, relabeller, bar)
                for info in (run.info, getattr(sink, "info", {})):
                    record_divisions(info, relabeller)
        result = _finish(sink, run.info)
    finally:
        if own_bar:
            bar.close()
    return (result, run.info) if return_info else result


def _finish(sink: Any, info: dict[str, Any]) -> Any:
    """Publish a file sink with the run's final ``info`` and open its result read-only; an
    array sink's array."""
    if hasattr(sink, "info"):
        sink.info.update(info)  # objects found while tracking, their first frames
    sink.close()
    path = getattr(sink, "path", None)
    return sink.array if path is None else open_labels(path)


def _stream(run: Tracking, sink: Any, bar: Any, own_bar: bool) -> Iterator[tuple[int, Any]]:
    """Yield ``(frame_idx, labels)`` as frames are tracked, writing each to ``sink`` too."""
    try:
        with run:
            for index, obj_ids, masks in run.frames():
                labels = merge_to_labels(obj_ids, masks, dtype=sink.dtype)
                sink.write_labels(index, labels)
                if bar is not None:
                    bar.update(1)
                yield index + run.first, labels
        _finish(sink, run.info)
    except BaseException:
        sink.abort()
        raise
    finally:
        if own_bar:
            bar.close()
