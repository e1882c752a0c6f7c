"""The scripted API: segment an image or track objects through a stack in a few lines.

Arrays and paths in, arrays and files out, no GUI::

    import napari_sam2 as ns

    mask = ns.segment_image(image, points=[[120, 80]])          # (H, W) bool
    labels = ns.track("cells.tif", {1: {0: {"points": [[120, 80]]}}})   # (T, H, W) uint16
    ns.track("cells.tif", "session.json", output="labels.zarr")          # written to disk

Models are loaded once per process and kept (the two most recently used), keyed by model,
checkpoint file, device and input size. Every track result records where it came from (model
name, checkpoint SHA-256, software version): in the TIFF / zarr metadata of a written file
(read it back with :func:`read_info`) and in the dict ``track(..., return_info=True)`` returns.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from napari_sam2 import __version__
from napari_sam2.session import Session, SessionError, apply_prompts, load_session
from napari_sam2.session import session_from_prompts as _session_from_plain
from sam2_engine import ImagePredictor, Sam2Config, VideoPredictor, get_config, load_model
from sam2_engine.devices import resolve_device
from sam2_engine.frames import open_frames
from sam2_engine.image_input import check_image
from sam2_engine.modeling.sam2_model import Sam2Model
from sam2_engine.sinks import (
    PARTIAL_SUFFIX,
    ArraySink,
    LabelSink,
    TiffSink,
    ZarrSink,
    merge_to_labels,
    write_propagation,
)
from sam2_engine.weights import ensure_checkpoint, file_sha256

__all__ = [
    "DEFAULT_MODEL",
    "DIRECTIONS",
    "check_output",
    "clear_model_cache",
    "get_model",
    "read_info",
    "segment_image",
    "track",
]

#: The model used when none is named: the smallest and fastest SAM 2.1.
DEFAULT_MODEL = "sam2.1_hiera_tiny"

#: Values of ``track(direction=...)``.
DIRECTIONS = ("both", "forward", "backward")

#: File suffixes ``track(output=...)`` can write.
TIFF_SUFFIXES = (".tif", ".tiff")
ZARR_SUFFIXES = (".zarr",)

#: The metadata key under which written label files record their provenance.
INFO_KEY = "napari_sam2"

#: How many loaded models the process keeps.
MAX_CACHED_MODELS = 2

ModelLike = str | Sam2Config | Sam2Model
FrameRange = range | slice | Sequence[int] | None


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class _Loaded:
    """A model and the facts about it that outputs record."""

    model: Sam2Model
    info: dict[str, Any]


_models: OrderedDict[tuple, _Loaded] = OrderedDict()
_models_lock = threading.Lock()


def _config(model: str | Sam2Config, image_size: int | None) -> Sam2Config:
    config = get_config(model) if isinstance(model, str) else model
    if image_size is None or image_size == config.image_size:
        return config
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise TypeError(f"image_size must be an integer, got {image_size!r}")
    if image_size < 64 or image_size % 32:
        raise ValueError(
            f"image_size must be a multiple of 32, at least 64 (the official models use 1024), "
            f"got {image_size}"
        )
    return replace(config, image_size=image_size)


def _load(
    model: ModelLike,
    checkpoint: str | os.PathLike | None,
    device: str,
    image_size: int | None,
    allow_download: bool,
    progress: bool = True,
) -> _Loaded:
    """A model from the process cache, loading it (and hashing its checkpoint) when new."""
    if isinstance(model, Sam2Model):
        if checkpoint is not None or image_size not in (None, model.image_size):
            raise ValueError("checkpoint and image_size apply to a model name, not a model object")
        with _models_lock:
            known = next((x for x in _models.values() if x.model is model), None)
        return known or _Loaded(model, model_info(model.config, None, None))
    config = _config(model, image_size)
    target = resolve_device(device)
    if checkpoint is None:
        checkpoint = ensure_checkpoint(
            config.name, allow_download=allow_download, progress=progress
        )
    path = Path(checkpoint).expanduser().resolve()
    stat = path.stat() if path.is_file() else None
    key = (config, str(path), stat and (stat.st_size, stat.st_mtime_ns), str(target))
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        loaded = _Loaded(
            load_model(config, checkpoint=path, device=target),
            model_info(config, path, file_sha256(path)),
        )
        _models[key] = loaded
        while len(_models) > MAX_CACHED_MODELS:
            _models.popitem(last=False)
        return loaded


def model_info(config: Sam2Config, checkpoint: Path | None, sha256: str | None) -> dict:
    """What outputs record about the model: software version, model, input size, checkpoint
    file name and SHA-256 (see :func:`read_info`)."""
    return {
        "software": f"napari-sam2 {__version__}",
        "model": config.name,
        "image_size": config.image_size,
        "checkpoint": None if checkpoint is None else checkpoint.name,
        "checkpoint_sha256": sha256,
    }


def get_model(
    model: str | Sam2Config = DEFAULT_MODEL,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    image_size: int | None = None,
    allow_download: bool = False,
) -> Sam2Model:
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
    return _load(model, checkpoint, device, image_size, allow_download).model


def clear_model_cache() -> None:
    """Forget the loaded models (frees their memory once nothing else holds them)."""
    with _models_lock:
        _models.clear()


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
    model: ModelLike = DEFAULT_MODEL,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    multimask: bool = False,
    allow_download: bool = False,
    image_size: int | None = None,
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
        multimask: let the model propose three masks and return the best-scoring one (better
            for a single ambiguous click); otherwise the model's single mask.
        contrast_limits: (low, high) intensities mapped to black and white (napari's contrast
            limits); default: robust percentiles for non-8-bit images, 8-bit as is.
        return_score: also return the model's predicted IoU for the mask.

    Returns:
        mask (H, W) bool, or ``(mask, score)`` with ``return_score``.

    Raises:
        ValueError: no prompt, malformed prompts (a ``PromptError``) or image.
    """
    if points is None and box is None:
        raise ValueError("give points=[[x, y], ...] and/or box=[x0, y0, x1, y1]")
    if points is not None and labels is None:
        labels = np.ones(len(np.asarray(points, dtype=float).reshape(-1, 2)), dtype=int)
    pixels = _as_rgb(_read_image(image), contrast_limits)
    loaded = _load(model, checkpoint, device, image_size, allow_download)
    predictor = ImagePredictor(loaded.model)
    predictor.set_image(pixels)
    masks, scores, _ = predictor.predict(
        point_coords=points, point_labels=labels, box=box, multimask_output=multimask
    )
    best = int(np.argmax(scores))
    mask = masks[best] > 0
    return (mask, float(scores[best])) if return_score else mask


# --------------------------------------------------------------------------- outputs
def check_output(output: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that labels can be written to ``output`` (a .tif/.tiff file or a .zarr store).

    Done before any work, so a run never fails at the end for a reason known at the start.

    Raises:
        ValueError: an unsupported suffix.
        FileExistsError: ``output`` (or ``output.partial``, left by an interrupted run) exists
            and ``overwrite`` is False.
        NotADirectoryError / FileNotFoundError / PermissionError: the folder is not usable.
    """
    path = Path(output).expanduser()
    if path.suffix.lower() not in TIFF_SUFFIXES + ZARR_SUFFIXES:
        raise ValueError(
            f"cannot write labels to {path}: the name must end in .tif, .tiff or .zarr "
            "(the suffix picks the format)"
        )
    folder = path.parent
    if not folder.exists():
        raise FileNotFoundError(f"the output folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {path.name} into {folder}: it is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"the output folder {folder} is not writable")
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if not overwrite:
        if path.exists():
            raise FileExistsError(
                f"{path} already exists; choose another name or allow overwriting it "
                "(overwrite=True, --overwrite on the command line)"
            )
        if partial.exists():
            raise FileExistsError(
                f"{partial} exists: the finished frames of an interrupted run. Move or delete "
                "it, or allow overwriting (overwrite=True, --overwrite on the command line)"
            )
    return path


def _label_dtype(obj_ids: Sequence[int]) -> np.dtype:
    """uint16 labels (ImageJ- and napari-friendly); uint32 when an id needs it."""
    return np.dtype(np.uint16 if max(obj_ids) <= np.iinfo(np.uint16).max else np.uint32)


def _open_sink(output: Any, shape: tuple[int, int, int], dtype: np.dtype, overwrite: bool):
    """The sink for ``output``: a new array, the caller's array, or a new TIFF / zarr file."""
    if output is None:
        return ArraySink(np.zeros(shape, dtype))
    if isinstance(output, (str, os.PathLike)):
        path = Path(output).expanduser()
        if path.suffix.lower() in TIFF_SUFFIXES:
            return TiffSink(path, shape, dtype, overwrite=overwrite)
        return ZarrSink(path, shape, dtype=dtype, overwrite=overwrite)
    if tuple(getattr(output, "shape", ())) != shape:
        raise ValueError(
            f"output must be a (frames, H, W) = {shape} array for the frames tracked, "
            f"got shape {getattr(output, 'shape', None)}"
        )
    return ArraySink(output)


def stamp_info(sink: LabelSink, info: dict[str, Any]) -> None:
    """Record ``info`` in a file sink's metadata before it is closed (no-op for arrays)."""
    if isinstance(sink, TiffSink):
        _stamp_tiff(sink.partial_path, info)
    elif isinstance(sink, ZarrSink):
        import zarr

        zarr.open_array(str(sink.partial_path), mode="r+").attrs[INFO_KEY] = info


def _finish(sink: LabelSink, info: dict[str, Any]) -> Any:
    """Record ``info`` in a file sink's metadata, publish it, and return the result array."""
    stamp_info(sink, info)
    sink.close()
    if isinstance(sink, TiffSink):
        import tifffile

        return tifffile.memmap(sink.path, mode="r")
    if isinstance(sink, ZarrSink):
        import zarr

        return zarr.open_array(str(sink.path), mode="r")
    return sink.array


def _stamp_tiff(path: Path, info: dict[str, Any]) -> None:
    """Add ``info`` to a TIFF's description: a ``napari_sam2={json}`` line for ImageJ files,
    a key of tifffile's JSON description otherwise."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        description = tif.pages.first.description
        imagej = tif.is_imagej
    if imagej:
        text = f"{description.rstrip()}\n{INFO_KEY}={json.dumps(info)}\n"
    else:
        meta = json.loads(description) if description.startswith("{") else {}
        text = json.dumps({**meta, INFO_KEY: info})
    tifffile.tiffcomment(path, text)


def read_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance a label file written by :func:`track` records (None if it has none).

    A dict with ``software``, ``model``, ``image_size``, ``checkpoint`` (file name),
    ``checkpoint_sha256``, ``direction``, ``frames`` ([start, stop)), ``objects``, ``source``.
    """
    path = Path(path)
    if path.suffix.lower() in ZARR_SUFFIXES:
        import zarr

        return zarr.open_array(str(path), mode="r").attrs.get(INFO_KEY)
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if tif.is_imagej:
            value = (tif.imagej_metadata or {}).get(INFO_KEY)
            return None if value is None else json.loads(value)
        description = tif.pages.first.description
    return json.loads(description).get(INFO_KEY) if description.startswith("{") else None


# --------------------------------------------------------------------------- tracking
def _as_session(prompts: Any) -> Session:
    if isinstance(prompts, Session):
        prompts.validate()
        return prompts
    if isinstance(prompts, (str, os.PathLike)):
        return load_session(prompts)
    if isinstance(prompts, Mapping):
        return _session_from_plain(dict(prompts))
    raise SessionError(
        "prompts must be a dict (object id -> frame -> {'points', 'labels', 'box', 'mask'}), "
        f"a Session or a session file path, got {type(prompts).__name__}"
    )


def _frame_range(frames: FrameRange, num_frames: int) -> tuple[int, int]:
    """``frames`` as [start, stop) within the video."""
    if frames is None:
        return 0, num_frames
    if isinstance(frames, range):
        frames = slice(frames.start, frames.stop, frames.step)
    elif not isinstance(frames, slice):
        try:
            start, stop = (int(v) for v in frames)
        except (TypeError, ValueError):
            raise ValueError(
                f"frames must be a range, a slice or (start, stop), got {frames!r}"
            ) from None
        frames = slice(start, stop)
    start, stop, step = frames.indices(num_frames)
    if step != 1:
        raise ValueError(f"frames must be contiguous (step 1), got step {step}")
    if stop <= start:
        raise ValueError(
            f"frames {frames.start}:{frames.stop} hold no frame of the {num_frames}-frame video"
        )
    return start, stop


@dataclass(frozen=True)
class _Pass:
    """One call of ``propagate_in_video``: ``count + 1`` frames from ``start``."""

    start: int
    count: int  # frames after ``start`` (the engine's max_frame_num_to_track)
    reverse: bool


def _plan(prompted: list[int], direction: str, start: int, stop: int) -> list[_Pass]:
    """The propagation passes covering [start, stop) from the prompted frames.

    As in the official examples, "both" runs forward from the earliest prompted frame, then
    backward from it: that frame comes twice, and the backward pass's result is the final one
    (it differs only for objects not prompted on that frame).
    """
    first, last = prompted[0], prompted[-1]
    if direction == "backward":
        # the engine yields nothing when going backward from frame 0: go "forward" 0 frames
        if last == 0:
            return [_Pass(0, 0, False)]
        return [_Pass(last, last - start, True)]
    passes = [_Pass(first, stop - 1 - first, False)]
    if direction == "both" and first > start:
        passes.append(_Pass(first, first - start, True))
    return passes


def _propagate(
    predictor: VideoPredictor, state: Any, passes: list[_Pass], start: int
) -> Iterator[tuple]:
    """``(frame_idx - start, obj_ids, masks)`` of every pass; closes ``state`` at the end."""
    try:
        for p in passes:
            frames = predictor.propagate_in_video(
                state, start_frame_idx=p.start, max_frame_num_to_track=p.count, reverse=p.reverse
            )
            for frame_idx, obj_ids, masks in frames:
                yield frame_idx - start, obj_ids, masks
    finally:
        state.close()


def _frame_options(session: Session, given: dict[str, Any]) -> dict[str, Any]:
    """Frame options given by the caller, else the ones the session recorded."""
    options = {}
    for name, value in given.items():
        if value is None:
            value = session.source.get(name)
        if value is not None:
            options[name] = tuple(value) if name == "contrast_limits" else value
    return options


def _source_name(video: Any) -> str:
    if isinstance(video, (str, os.PathLike)):
        return str(Path(video).expanduser().resolve())
    return f"{type(video).__module__}.{type(video).__name__} {getattr(video, 'shape', '')}"


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
    model: ModelLike | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    direction: str = "both",
    frames: FrameRange = None,
    output: Any = None,
    overwrite: bool = False,
    stream: bool = False,
    progress: Any = True,
    allow_download: bool = False,
    image_size: int | None = None,
    return_info: bool = False,
    axes: str | None = None,
    axis: str | None = None,
    index: Mapping[str, int] | None = None,
    channel: int | Sequence[int] | None = None,
    contrast_limits: tuple[float, float] | None = None,
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
        checkpoint, device, allow_download, image_size: see :func:`get_model`.
        direction: ``"both"`` (forward from the earliest prompted frame, then backward from
            it), ``"forward"`` (from the earliest prompted frame) or ``"backward"`` (from the
            latest prompted frame towards frame 0). Frames not reached stay 0.
        frames: the frames to cover (a ``range``, a ``slice`` or ``(start, stop)``); every
            prompt must lie inside. Default: the whole video. ``labels[i]`` is frame
            ``start + i``.
        output: where the labels go: ``None`` (a new numpy array), an array of shape
            (frames, H, W) to fill (a napari Labels layer's data, a zarr array...), or a path
            ending in .tif / .tiff (ImageJ hyperstack) or .zarr. A file is written as
            ``<output>.partial`` and renamed when complete; if the run stops (an error, Ctrl-C)
            the finished frames stay in ``<output>.partial``.
        overwrite: replace an existing output file (refused otherwise, before any work).
        stream: return an iterator of ``(frame_idx, labels (H, W))`` in the order frames are
            tracked, instead of the stack (frames are also written to ``output`` if given).
            With ``direction="both"`` the earliest prompted frame comes twice, once per pass;
            the second is the final result.
        progress: ``True`` for a tqdm bar, ``False`` for none, or an object with
            ``update(n)`` (a tqdm bar or ``napari.utils.progress`` of your own; a ``total``
            of None is set to the number of frames to track).
        return_info: also return a dict recording the model, checkpoint SHA-256, software
            version, direction, frames and objects (what a written file records as well).
        axes, axis, index, channel, contrast_limits: how to read the frames, as in
            ``open_frames`` (e.g. ``axis="Z"`` tracks through a 3-D stack); default: what a
            session recorded, else the file's own metadata.
        **predictor_options: ``VideoPredictor`` settings (``fill_hole_area``,
            ``non_overlap_masks``, ``max_frames_in_memory``, ...).

    Returns:
        The (frames, H, W) label stack (uint16; uint32 for ids above 65535): a numpy array,
        the caller's ``output`` array, or the written file opened read-only (``np.memmap``
        for TIFF, a zarr array); with ``stream=True`` an iterator instead. With
        ``return_info=True``, a pair ``(result, info)``.

    Raises:
        SessionError (a ValueError): malformed prompts or session file, a prompt on a frame
            that does not exist or outside ``frames``, coordinates outside the image.
        FileExistsError etc.: see :func:`check_output`.
        ValueError, ModelNotFoundError, ...: see :func:`get_model`; unreadable video
            (``FrameSourceError``).
    """
    session = _as_session(prompts)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if isinstance(output, (str, os.PathLike)):
        check_output(output, overwrite)
    given = {"axes": axes, "axis": axis, "index": index, "channel": channel}
    source = open_frames(
        video, **_frame_options(session, {**given, "contrast_limits": contrast_limits})
    )
    try:  # everything that can be checked without the model comes first
        start, stop = _frame_range(frames, len(source))
        passes = _check_prompts(session, source, direction, start, stop)
        loaded = _load(
            model or session.model.get("name") or DEFAULT_MODEL,
            checkpoint,
            device,
            image_size,
            allow_download,
            progress=progress is not False,
        )
        options = {**_session_predictor_options(session), **predictor_options}
        try:
            predictor = VideoPredictor(loaded.model, **options)
        except TypeError as err:
            raise TypeError(f"unknown track() option: {err}") from None
        state = predictor.init_state(source)
    except BaseException:
        source.close()
        raise
    try:
        apply_prompts(session, predictor, state)
        shape = (stop - start, state.video_height, state.video_width)
        sink = _open_sink(output, shape, _label_dtype(session.object_ids), overwrite)
    except BaseException:
        state.close()
        raise
    info = {
        **loaded.info,
        "direction": direction,
        "frames": [start, stop],
        "objects": session.object_ids,
        "source": _source_name(video),
    }
    bar, own_bar = _progress_bar(progress, sum(p.count + 1 for p in passes))
    frames_iter = _propagate(predictor, state, passes, start)
    if stream:
        labels_iter = _stream(frames_iter, start, sink, info, bar, own_bar)
        return (labels_iter, info) if return_info else labels_iter
    try:
        write_propagation(frames_iter, sink, progress=bar, close=False)
        result = _finish(sink, info)
    finally:
        if own_bar:
            bar.close()
    return (result, info) if return_info else result


def _check_prompts(
    session: Session, source: Any, direction: str, start: int, stop: int
) -> list[_Pass]:
    """Check the prompts against the frames (before any model work); plan the passes."""
    session.check_source(len(source), (source.height, source.width))
    prompted = sorted({p.frame for p in session.prompts})
    outside = [t for t in prompted if not start <= t < stop]
    if outside:
        raise SessionError(
            f"prompts on frame(s) {outside} lie outside the frames to track ({start}..{stop - 1})"
        )
    return _plan(prompted, direction, start, stop)


def _session_predictor_options(session: Session) -> dict[str, Any]:
    """The session's recorded settings that are ``VideoPredictor`` options."""
    names = set(inspect.signature(VideoPredictor).parameters) - {"model"}
    return {k: v for k, v in session.settings.items() if k in names}


def _stream(
    frames_iter: Iterator[tuple], start: int, sink: LabelSink, info: dict, bar: Any, own_bar: bool
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_idx, labels)`` as frames are tracked, writing each to ``sink`` too."""
    try:
        for rel_idx, obj_ids, masks in frames_iter:
            labels = merge_to_labels(obj_ids, masks, dtype=sink.dtype)
            sink.write_labels(rel_idx, labels)
            if bar is not None:
                bar.update(1)
            yield rel_idx + start, labels
        _finish(sink, info)
    except BaseException:
        sink.abort()
        raise
    finally:
        if own_bar:
            bar.close()
