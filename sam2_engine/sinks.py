"""Label sinks: where propagated masks go, one frame at a time, as they are produced.

``VideoPredictor.propagate_in_video`` yields ``(frame_idx, obj_ids, masks)`` with ``masks`` of
shape ``(num_objects, 1, H, W)`` (float logits, > 0 inside). Nothing here keeps those frames: each
one is merged into a single label image (:func:`merge_to_labels`) and written out at once, so
memory does not grow with the number of frames. Sinks:

- :class:`ArraySink`: into a ``(T, H, W)`` array the caller owns (numpy, ``np.memmap``, a napari
  Labels layer's data, a zarr array, anything with ``.shape`` and ``__setitem__``).
- :class:`ZarrSink`: a new zarr array on disk (format 3 by default), one chunk per frame.
- :class:`TiffSink`: a new uncompressed multi-page TIFF (BigTIFF when needed), ImageJ hyperstack
  axes ``TYX`` where the dtype allows it, each frame written in place at its page, in any order.

:func:`write_propagation` drives a sink from the predictor's iterator::

    with TiffSink("labels.tif", shape=(len(source), H, W)) as sink:
        write_propagation(predictor.propagate_in_video(state), sink, close=False)
        write_propagation(predictor.propagate_in_video(state, reverse=True), sink)

Stopping midway. Frames are written as they arrive and never buffered, so when the iterator
raises (an engine error, ``KeyboardInterrupt``, a cancelled worker) every finished frame is on
disk and every other frame is untouched (0 in a new file, the caller's values in an array). The
file sinks write to ``<path>.partial`` and rename it to ``<path>`` only in :meth:`LabelSink.close`
(so a file at ``<path>`` is always complete and an older ``<path>`` survives a failed run). On an
error :meth:`LabelSink.abort` flushes and closes the partial file and keeps it as
``<path>.partial``, readable with tifffile / zarr; the exception that propagates carries a note
saying so. Calling :meth:`LabelSink.close` afterwards publishes the finished frames under
``<path>`` anyway (what a GUI's "keep what was done" does). To stop early without an error, stop
the iterator itself (``itertools.islice``, ``takewhile``): the sink is then closed normally.
"""

from __future__ import annotations

import operator
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

__all__ = [
    "ArraySink",
    "LabelSink",
    "TiffSink",
    "ZarrSink",
    "merge_to_labels",
    "write_propagation",
]

#: Candidate label dtypes, smallest first (see :func:`merge_to_labels`).
_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)

#: Above this many bytes of image data a TIFF is written as BigTIFF (tifffile's own limit: 4 GiB
#: less 32 MiB kept for the page directories).
BIGTIFF_THRESHOLD = 2**32 - 2**25

#: Dtypes an ImageJ hyperstack can hold that make sense for labels (8 and 16 bit).
_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))

PARTIAL_SUFFIX = ".partial"


# --------------------------------------------------------------------------------------------
# Merging objects into one label image
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The sink interface
# --------------------------------------------------------------------------------------------


class LabelSink:
    """Where label images go, one frame at a time. Base class of the sinks in this module.

    Use as a context manager, or call :meth:`close` when done (and :meth:`abort` on an error).
    Subclasses implement ``_store`` (write one (H, W) label image) and ``_release`` (flush and
    let go of files; publish them when ``complete``).

    Attributes:
        shape (tuple[int, int, int]): (T, H, W) of the whole label stack.
        dtype (np.dtype | None): the stored label dtype (``None``: the merge picks one).
        threshold (float): the logit threshold used by :meth:`write`.
        frames_written (list[int]): frame indices in the order they were written (a frame
            written twice appears twice).
    """

    def __init__(self, shape: Sequence[int], dtype: Any = None, *, threshold: float = 0.0) -> None:
        self.shape: tuple[int, int, int] = _check_shape(shape)
        self.dtype: np.dtype | None = None if dtype is None else np.dtype(dtype)
        self.threshold = float(threshold)
        self.frames_written: list[int] = []
        self._state = "open"  # -> "aborted" (partial kept) -> "closed"

    # -- what subclasses provide ------------------------------------------------------------

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        """Write the (H, W) label image ``labels`` (already of ``dtype``) at ``frame_idx``."""
        raise NotImplementedError

    def _release(self, complete: bool) -> None:
        """Flush and close what is open; when ``complete``, also publish the result."""

    def _kept_where(self) -> str:
        """Where finished frames are after :meth:`abort` (for the error note)."""
        return "the sink"

    # -- public interface --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` or :meth:`abort` ran; nothing more can be written."""
        return self._state != "open"

    def write(self, frame_idx: int, obj_ids: Sequence[int], masks: Any) -> None:
        """Merge one frame's objects into a label image and write it at ``frame_idx``.

        Arguments:
            frame_idx (int): the frame, 0 <= frame_idx < T.
            obj_ids (sequence of int): the objects' ids (= label values).
            masks: (N, 1, H, W) or (N, H, W) logits (torch or numpy); see
                :func:`merge_to_labels`.
        """
        frame_idx = self._check_frame_idx(frame_idx)
        self._check_frame_size(tuple(masks.shape[-2:]), "masks")
        labels = merge_to_labels(obj_ids, masks, self.threshold, dtype=self.dtype)
        self._put(frame_idx, labels)

    def write_labels(self, frame_idx: int, labels: Any) -> None:
        """Write an already merged (H, W) label image at ``frame_idx`` (e.g. a hand-edited frame).

        Raises:
            ValueError: a wrong frame index or size, or values that do not fit ``dtype``.
        """
        frame_idx = self._check_frame_idx(frame_idx)
        labels = np.asarray(labels)
        self._check_frame_size(labels.shape, "labels")
        if self.dtype is not None and labels.dtype != self.dtype:
            if self.dtype.kind in "iu" and labels.size:
                info = np.iinfo(self.dtype)
                low, high = labels.min(), labels.max()
                if low < info.min or high > info.max:
                    raise ValueError(
                        f"label values {low}..{high} do not fit the sink's dtype {self.dtype}"
                    )
            labels = labels.astype(self.dtype)
        self._put(frame_idx, labels)

    def close(self) -> None:
        """Flush and finish: a file sink renames ``<path>.partial`` to ``<path>``.

        Idempotent. Also valid after :meth:`abort`: it then publishes the frames finished before
        the error under the final path.
        """
        if self._state == "closed":
            return
        try:
            self._release(complete=True)
        except BaseException:
            self._state = "aborted"  # nothing more can be written; close() may be retried
            raise
        self._state = "closed"

    def abort(self) -> None:
        """Flush and close after an error, keeping every finished frame (see the module doc).

        A file sink keeps its data as ``<path>.partial`` and leaves ``<path>`` untouched.
        Idempotent; a no-op after :meth:`close`.
        """
        if self._state != "open":
            return
        self._state = "aborted"
        self._release(complete=False)

    def error_note(self) -> str:
        """One sentence for an exception: which frames were kept, and where."""
        done = sorted(set(self.frames_written))
        listed = ", ".join(map(str, done[:20])) + (", ..." if len(done) > 20 else "")
        frames = f"{len(done)} finished frame(s) [{listed}]" if done else "no finished frames"
        return f"{type(self).__name__}: {frames} kept in {self._kept_where()}"

    def __enter__(self) -> LabelSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            _abort_quietly(self, exc)

    # -- helpers -----------------------------------------------------------------------------

    def _put(self, frame_idx: int, labels: np.ndarray) -> None:
        if self._state != "open":
            raise ValueError(f"{type(self).__name__} is closed: cannot write frame {frame_idx}")
        self._store(frame_idx, labels)
        self.frames_written.append(frame_idx)

    def _check_frame_idx(self, frame_idx: Any) -> int:
        if isinstance(frame_idx, (bool, np.bool_)):
            raise ValueError(f"frame_idx must be an integer, got {frame_idx!r}")
        try:
            index = operator.index(frame_idx)
        except TypeError:
            raise ValueError(f"frame_idx must be an integer, got {frame_idx!r}") from None
        if not 0 <= index < self.shape[0]:
            raise ValueError(
                f"frame {index} is outside the sink's {self.shape[0]} frames "
                f"(shape (T, H, W) = {self.shape})"
            )
        return index

    def _check_frame_size(self, size: tuple[int, ...], what: str) -> None:
        if tuple(size) != self.shape[1:]:
            raise ValueError(
                f"{what} are {tuple(size)} pixels (H, W) but the sink's frames are "
                f"{self.shape[1:]} (shape (T, H, W) = {self.shape})"
            )


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        dims = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise ValueError(f"shape must be (T, H, W) integers, got {shape!r}") from None
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"shape must be (T, H, W) with every size >= 1, got {tuple(shape)}")
    return dims  # type: ignore[return-value]


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note") and note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def _abort_quietly(sink: LabelSink, exc: BaseException) -> None:
    """``sink.abort()`` during an error: note the kept frames, never hide the first error."""
    try:
        sink.abort()
    except Exception as error:  # the original error matters more; report this one beside it
        _add_note(exc, f"{type(sink).__name__}: closing after the error failed too: {error!r}")
    else:
        _add_note(exc, sink.error_note())


def write_propagation(
    frames_iter: Iterable[tuple[int, Sequence[int], Any]],
    sink: LabelSink,
    *,
    progress: Any = None,
    close: bool = True,
) -> list[int]:
    """Write every frame of a propagation to ``sink`` as it arrives.

    Arguments:
        frames_iter: yields ``(frame_idx, obj_ids, masks)`` with masks (N, 1, H, W) logits,
            e.g. ``VideoPredictor.propagate_in_video(state)``, in any frame order.
        sink (LabelSink): where the merged label images go.
        progress: called after each written frame. An object with an ``update`` method (tqdm,
            ``napari.utils.progress``) gets ``progress.update(1)``; otherwise a callable gets
            ``progress(frame_idx)``.
        close (bool): close the sink once the iterator is exhausted. Pass False to write more
            propagations (e.g. the reverse pass) into the same sink, then close it yourself.

    Returns:
        The frame indices written by this call, in order.

    Raises:
        Whatever the iterator, the sink or ``progress`` raises (``KeyboardInterrupt`` and
        ``GeneratorExit`` included), after ``sink.abort()``: every frame written so far stays
        written, nothing else is touched, and the exception gets a note saying where the
        finished frames are. The iterator is closed if it has a ``close`` method.
    """
    if progress is None:
        report: Callable[[int], Any] | None = None
    elif hasattr(progress, "update"):

        def report(frame_idx: int) -> Any:
            return progress.update(1)

    elif callable(progress):
        report = progress
    else:
        raise TypeError(
            f"progress must be callable or have an update() method, got {type(progress)}"
        )
    written: list[int] = []
    iterator = iter(frames_iter)
    try:
        for frame_idx, obj_ids, masks in iterator:
            sink.write(frame_idx, obj_ids, masks)
            written.append(int(frame_idx))
            if report is not None:
                report(int(frame_idx))
    except BaseException as exc:
        closer = getattr(iterator, "close", None)
        if closer is not None:
            try:
                closer()  # let a suspended engine generator release its state now
            except Exception as error:
                _add_note(exc, f"closing the frame iterator failed too: {error!r}")
        _abort_quietly(sink, exc)
        raise
    if close:
        sink.close()
    return written


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class ArraySink(LabelSink):
    """Writes label images into a (T, H, W) array the caller owns.

    Any array with ``.shape`` and ``__setitem__`` works: numpy arrays and memmaps, a napari
    Labels layer's ``data``, a zarr array. Frames never written keep their values. ``close``
    only flushes (``array.flush()`` where there is one) and never frees the array.

    Arguments:
        array: the (T, H, W) destination. An integer (or float) ``array.dtype`` is used for the
            labels and must hold every object id.
        threshold (float): logit threshold of :meth:`LabelSink.write`.

    Raises:
        TypeError: ``array`` has no ``shape`` or no ``__setitem__``.
        ValueError: ``array`` is not 3-D; at a write, a frame of another (H, W) or a frame index
            >= T.
    """

    def __init__(self, array: Any, *, threshold: float = 0.0) -> None:
        if not hasattr(array, "shape") or not hasattr(array, "__setitem__"):
            raise TypeError(
                f"ArraySink needs an array with .shape and __setitem__ (numpy, zarr, napari "
                f"Labels data), got {type(array).__name__}"
            )
        shape = tuple(array.shape)
        if len(shape) != 3:
            raise ValueError(f"ArraySink needs a (T, H, W) array, got shape {shape}")
        dtype = getattr(array, "dtype", None)
        try:
            dtype = None if dtype is None else np.dtype(dtype)
        except TypeError:
            dtype = None
        if dtype is not None and dtype.kind not in "iuf":
            dtype = None  # e.g. bool or object: let the merge choose, the array converts
        super().__init__(shape, dtype, threshold=threshold)
        self.array = array

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        self.array[frame_idx] = labels

    def _release(self, complete: bool) -> None:
        flush = getattr(self.array, "flush", None)
        if callable(flush):
            flush()

    def _kept_where(self) -> str:
        return "the caller's array (other frames untouched)"


class _FileSink(LabelSink):
    """A sink writing ``<path>.partial`` and renaming it to ``<path>`` on a successful close."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any,
        *,
        threshold: float,
        overwrite: bool,
    ) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__} needs an integer label dtype, got {dtype}")
        super().__init__(shape, dtype, threshold=threshold)
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.overwrite = bool(overwrite)
        for existing in (self.path, self.partial_path):
            if existing.exists() and not self.overwrite:
                raise FileExistsError(
                    f"{existing} already exists; remove it or pass overwrite=True"
                )
        _remove(self.partial_path)

    @property
    def location(self) -> Path:
        """Where the data are now: ``partial_path`` until a successful close, then ``path``."""
        return self.path if self._state == "closed" else self.partial_path

    def _kept_where(self) -> str:
        return (
            f"{self.partial_path} (readable as is; {self.path} was not touched; "
            f"sink.close() publishes them under it)"
        )

    def _publish(self) -> None:
        """Move ``partial_path`` to ``path`` (replacing an older one only with ``overwrite``)."""
        if self.path.exists() or self.path.is_symlink():
            if not self.overwrite:
                raise FileExistsError(
                    f"{self.path} appeared while writing; the labels are in {self.partial_path}"
                )
            if self.path.is_dir() and not self.path.is_symlink():
                old = self.path.with_name(self.path.name + ".old")
                _remove(old)
                os.replace(self.path, old)
                os.replace(self.partial_path, self.path)
                _remove(old)
                return
        os.replace(self.partial_path, self.path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class ZarrSink(_FileSink):
    """Writes label images into a new zarr array at ``path``, one chunk per frame by default.

    The array is created (filled with 0) at ``<path>.partial`` and moved to ``path`` by
    :meth:`LabelSink.close`; frames never written read as 0 (their chunks are never stored).
    Axis names ``("t", "y", "x")`` are recorded (``dimension_names`` in zarr 3,
    ``_ARRAY_DIMENSIONS`` in zarr 2). To write into an existing zarr array, open it and use
    :class:`ArraySink`.

    Arguments:
        path: the zarr store (a directory) to create, e.g. ``"labels.zarr"``.
        shape (tuple[int, int, int]): (T, H, W).
        chunks (tuple[int, int, int] | None): default (1, H, W).
        dtype: an integer label dtype (default uint16: ids up to 65535).
        zarr_format (int): 3 (default) or 2.
        threshold (float): logit threshold of :meth:`LabelSink.write`.
        overwrite (bool): replace an existing ``path`` (only at a successful close) and a
            leftover ``<path>.partial``; otherwise either raises ``FileExistsError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        chunks: Sequence[int] | None = None,
        dtype: Any = np.uint16,
        *,
        zarr_format: int = 3,
        threshold: float = 0.0,
        overwrite: bool = False,
    ) -> None:
        import zarr

        super().__init__(path, shape, dtype, threshold=threshold, overwrite=overwrite)
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {zarr_format!r}")
        self.chunks = (1, *self.shape[1:]) if chunks is None else _check_shape(chunks)
        names = ("t", "y", "x")
        extra: dict[str, Any] = (
            {"dimension_names": names}
            if zarr_format == 3
            else {"attributes": {"_ARRAY_DIMENSIONS": list(names)}}
        )
        self._array: Any = zarr.create_array(
            store=str(self.partial_path),
            shape=self.shape,
            chunks=self.chunks,
            dtype=self.dtype,
            fill_value=0,
            zarr_format=zarr_format,
            **extra,
        )

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        self._array[frame_idx] = labels  # a local store writes the chunk(s) synchronously

    def _release(self, complete: bool) -> None:
        self._array = None
        if complete:
            self._publish()


class TiffSink(_FileSink):
    """Writes label images into a new uncompressed multi-page TIFF, page by page, in any order.

    The file is laid out at creation (``tifffile.imwrite`` with no data: every page directory
    and a zero-filled, usually sparse, data area), then each frame's bytes are written in place
    at its page's offset, so frames can arrive in any order (reverse propagation) and memory and
    file handles stay flat. Frames never written read as 0. The file is ``<path>.partial``
    until :meth:`LabelSink.close` renames it.

    Arguments:
        path: the TIFF to create, e.g. ``"labels.tif"``.
        shape (tuple[int, int, int]): (T, H, W).
        dtype: an integer label dtype (default uint16: ids up to 65535).
        bigtiff (bool | None): None: BigTIFF only when the data exceed ~4 GB
            (:data:`BIGTIFF_THRESHOLD`); True / False: always / never.
        imagej (bool | None): write an ImageJ hyperstack with axes ``TYX``. None: when possible
            (uint8, uint16 or int16, and not BigTIFF); otherwise tifffile's own metadata
            records the axes ``TYX`` (read back by tifffile, Bio-Formats sees a plain stack).
        threshold (float): logit threshold of :meth:`LabelSink.write`.
        overwrite (bool): replace an existing ``path`` (only at a successful close) and a
            leftover ``<path>.partial``; otherwise either raises ``FileExistsError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any = np.uint16,
        bigtiff: bool | None = None,
        *,
        imagej: bool | None = None,
        threshold: float = 0.0,
        overwrite: bool = False,
    ) -> None:
        import tifffile

        super().__init__(path, shape, dtype, threshold=threshold, overwrite=overwrite)
        frames, height, width = self.shape
        self._file_dtype = self.dtype.newbyteorder("<")
        self._frame_bytes = height * width * self._file_dtype.itemsize
        if bigtiff is None:
            bigtiff = frames * self._frame_bytes > BIGTIFF_THRESHOLD
        if imagej is None:
            imagej = self.dtype in _IMAGEJ_DTYPES and not bigtiff
        elif imagej and self.dtype not in _IMAGEJ_DTYPES:
            raise ValueError(
                f"an ImageJ TIFF cannot hold {self.dtype} labels (uint8, uint16 or int16 only)"
            )
        elif imagej and bigtiff:
            raise ValueError("ImageJ cannot read BigTIFF hyperstacks: pass imagej=False")
        self.bigtiff, self.imagej = bool(bigtiff), bool(imagej)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. about the empty data
            result = tifffile.imwrite(
                self.partial_path,
                data=None,
                shape=self.shape,
                dtype=self._file_dtype,
                byteorder="<",
                bigtiff=self.bigtiff,
                imagej=self.imagej,
                photometric="minisblack",
                metadata={"axes": "TYX"},
                returnoffset=True,
            )
        with tifffile.TiffFile(self.partial_path) as tif:  # the pages must be one block
            offset = tif.series[0].dataoffset
        if result is None or offset is None or offset != result[0]:
            _remove(self.partial_path)
            raise RuntimeError(f"tifffile did not write {self.path}'s pages as one block")
        self._offset: int = int(offset)
        self._file: Any = open(self.partial_path, "r+b")  # noqa: SIM115 - held until close

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        data = np.ascontiguousarray(labels, dtype=self._file_dtype)
        self._file.seek(self._offset + frame_idx * self._frame_bytes)
        self._file.write(memoryview(data).cast("B"))
        self._file.flush()  # into the OS now: an interrupted run keeps this frame

    def _release(self, complete: bool) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
                self._file = None
        if complete:
            self._publish()
