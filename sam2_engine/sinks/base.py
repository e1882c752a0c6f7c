"""The sink interface (:class:`LabelSink`) and :func:`write_propagation`, which drives a sink."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from sam2_engine.sinks.labels import merge_to_labels


class LabelSink:
    """Where label images go, one frame at a time. Base class of the sinks in this package.

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
        """Flush and close after an error, keeping every finished frame (see the package doc).

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
        return f"The {frames} are kept in {self._kept_where()}."

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
