"""Which frames a propagation visits: one meaning of forward, backward and both."""

from __future__ import annotations

import pytest

from napari_sam2.tracking.plan import Pass, default_start, frame_count, frame_range, plan


def visited(passes: list[Pass]) -> list[int]:
    return [frame for p in passes for frame in p.frames]


@pytest.mark.parametrize(
    ("direction", "first", "last", "start", "frames"),
    [
        ("forward", 0, 9, 4, [4, 5, 6, 7, 8, 9]),
        ("backward", 0, 9, 4, [4, 3, 2, 1, 0]),
        ("both", 0, 9, 4, [4, 5, 6, 7, 8, 9, 3, 2, 1, 0]),
        ("both", 2, 6, 4, [4, 5, 6, 3, 2]),
        ("both", 0, 5, 0, [0, 1, 2, 3, 4, 5]),
        ("both", 0, 5, 5, [5, 4, 3, 2, 1, 0]),
        ("both", 0, 5, 1, [1, 2, 3, 4, 5, 0]),  # the engine cannot start backward at 0
        ("backward", 0, 5, 0, [0]),
        ("forward", 3, 3, 3, [3]),
    ],
)
def test_every_frame_of_the_range_once(direction, first, last, start, frames) -> None:
    passes = plan(direction, first, last, start)
    assert visited(passes) == frames and frame_count(passes) == len(frames)
    if direction == "both":
        assert sorted(frames) == list(range(first, last + 1))


def test_the_engine_calls() -> None:
    assert plan("both", 0, 9, 4) == [Pass(4, 5, False), Pass(3, 3, True)]
    assert plan("both", 0, 5, 1) == [Pass(1, 4, False), Pass(1, 1, True, skip_first=True)]
    assert plan("backward", 0, 5, 0) == [Pass(0, 0, False)]


def test_bad_plans_say_why() -> None:
    with pytest.raises(ValueError, match="direction must be one of both, forward, backward"):
        plan("sideways", 0, 5, 0)
    with pytest.raises(ValueError, match="empty"):
        plan("both", 5, 2, 3)
    with pytest.raises(ValueError, match="start frame 7 lies outside"):
        plan("both", 0, 5, 7)
    with pytest.raises(ValueError, match="no frame has a prompt"):
        default_start([], "both")


def test_default_start_and_frame_ranges() -> None:
    assert default_start([5, 2, 9], "both") == 2 and default_start([5, 2, 9], "backward") == 9
    assert frame_range(None, 10) == (0, 10)
    assert frame_range(slice(2, None), 10) == (2, 10)
    assert frame_range(range(3, 5), 10) == (3, 5) and frame_range((1, 4), 10) == (1, 4)
    with pytest.raises(ValueError, match="contiguous"):
        frame_range(slice(0, 10, 2), 10)
    with pytest.raises(ValueError, match="hold no frame"):
        frame_range(slice(12, 20), 10)
