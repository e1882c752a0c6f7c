"""Which frames a propagation visits, in which order: one meaning of every direction word.

A propagation covers the frames ``first..last`` (inclusive) starting at ``start``:

- ``forward``: ``start``, ``start + 1``, ... ``last``;
- ``backward``: ``start``, ``start - 1``, ... ``first``;
- ``both``: forward as above, then backward from ``start - 1`` to ``first``, so every frame is
  computed once (the backward pass attends to the memories the forward pass left around
  ``start``).

The scripted API, batch jobs and the CLI start at the earliest prompted frame (the latest for
``backward``), as the official examples do; the dock starts at the frame the user is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sam2_engine.constants import DIRECTIONS

FrameRange = range | slice | Sequence[int] | None


@dataclass(frozen=True)
class Pass:
    """One call of ``VideoPredictor.propagate_in_video``.

    Attributes:
        start: the frame it starts on.
        count: frames after ``start`` (the engine's ``max_frame_num_to_track``).
        reverse: towards frame 0.
        skip_first: the start frame was already produced by an earlier pass: do not yield it
            again (only when the engine cannot start one frame further, see :func:`plan`).
    """

    start: int
    count: int
    reverse: bool
    skip_first: bool = False

    @property
    def frames(self) -> range:
        """The frames yielded, in order."""
        step = -1 if self.reverse else 1
        first = self.start + step if self.skip_first else self.start
        return range(first, self.start + step * (self.count + 1), step)


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


def default_start(prompted: Iterable[int], direction: str) -> int:
    """Where a run over prompted frames starts: the earliest (the latest going backward)."""
    frames = sorted(set(prompted))
    if not frames:
        raise ValueError("nothing to propagate: no frame has a prompt")
    return frames[-1] if direction == "backward" else frames[0]


def plan(direction: str, first: int, last: int, start: int) -> list[Pass]:
    """The passes covering ``first..last`` from ``start`` in ``direction``.

    Raises:
        ValueError: an unknown direction, an empty range or ``start`` outside it.
    """
    check_direction(direction)
    if first > last:
        raise ValueError(f"the frame range {first}-{last} is empty")
    if not first <= start <= last:
        raise ValueError(f"the start frame {start} lies outside the frame range {first}-{last}")
    passes = []
    if direction in ("forward", "both"):
        passes.append(Pass(start, last - start, False))
    if direction == "backward":
        passes.append(_backward(start, first))
    elif direction == "both" and start > first:
        if start - 1 > 0:
            passes.append(Pass(start - 1, start - 1 - first, True))
        else:  # the engine does not go backward from frame 0: start at 1 and skip it
            passes.append(Pass(start, start - first, True, skip_first=True))
    return passes


def _backward(start: int, first: int) -> Pass:
    if start == 0:  # the engine yields nothing going backward from frame 0
        return Pass(0, 0, False)
    return Pass(start, start - first, True)


def frame_count(passes: Iterable[Pass]) -> int:
    """How many frames the passes yield."""
    return sum(len(p.frames) for p in passes)


def frame_range(frames: FrameRange, num_frames: int) -> tuple[int, int]:
    """``frames`` (a range, a slice, ``(start, stop)`` or None for all) as ``[start, stop)``.

    Raises:
        ValueError: not contiguous, or holding no frame of the video.
    """
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
