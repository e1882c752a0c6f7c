"""Flat memory and streaming in the video predictor: what the state holds, prefetch, early
stop, and a read error in the middle of a propagation."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from sam2_engine import VideoPredictor, build_model
from sam2_engine.frames import FrameSource, open_frames
from sam2_engine.frames.errors import FrameReadError
from sam2_engine.sinks import ArraySink, write_propagation


class CountingSource(FrameSource):
    """Wraps a source, records which frames were read and from which thread, and can fail."""

    def __init__(self, inner: FrameSource, fail_at: int | None = None) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.reads: list[tuple[int, str]] = []
        super().__init__()

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def height(self) -> int:
        return self.inner.height

    @property
    def width(self) -> int:
        return self.inner.width

    @property
    def dtype(self) -> np.dtype:
        return self.inner.dtype

    def read(self, index: int) -> np.ndarray:
        self.reads.append((index, threading.current_thread().name))
        if index == self.fail_at:
            raise FrameReadError(f"frame {index}: simulated corrupt data")
        return self.inner.read(index)


def _stack(frames: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    video = (rng.random((frames, size, size)) * 50).astype(np.uint8)
    for t in range(frames):
        video[t, 20:40, 10 + t % 20 : 30 + t % 20] = 220
    return video


def test_state_memory_is_bounded_and_results_are_exact(small_model):
    """60 frames with at most 8 outputs per object in memory: the rest is spilled to disk and
    read back when needed, so results equal those of an unbounded session."""
    video = _stack(60)
    bounded = VideoPredictor(small_model, max_frames_in_memory=8, feature_cache_bytes=8 * 2**20)
    unbounded = VideoPredictor(small_model, max_frames_in_memory=None)
    results = []
    for predictor in (bounded, unbounded):
        state = predictor.init_state(video)
        predictor.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
        predictor.add_new_points_or_box(state, 30, 2, box=[5, 15, 45, 45])
        frames = list(predictor.propagate_in_video(state))
        frames += list(predictor.propagate_in_video(state, start_frame_idx=30, reverse=True))
        results.append((state, frames))
    (state, bounded_frames), (full_state, full_frames) = results
    for obj in state.objects.values():
        assert obj.non_cond_outputs.frames_in_memory <= 8
        assert len(obj.non_cond_outputs) == len(full_state.objects[obj.obj_id].non_cond_outputs)
    assert state.features.nbytes <= 8 * 2**20 or len(state.features) == 1
    assert state.nbytes() < full_state.nbytes() / 3
    for (t1, ids1, m1), (t2, ids2, m2) in zip(bounded_frames, full_frames, strict=True):
        assert t1 == t2 and ids1 == ids2
        assert torch.equal(m1, m2)
    spill_dir = state.spill.path
    assert any(spill_dir.iterdir())
    state.close()
    assert not spill_dir.exists()


def test_spill_folder_of_a_killed_process_is_removed(tmp_path, monkeypatch):
    """A process killed with SIGKILL cannot clean up: its folder goes when the next one starts,
    while folders of live processes (this one) stay."""
    from sam2_engine.video_state import SpillDirectory, remove_stale_spill_dirs

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(child.stdout)
    stale = tmp_path / f"sam2_engine_state_{dead_pid}_abc"
    (stale / "obj1").mkdir(parents=True)
    (stale / "obj1" / "frame_3.pt").write_bytes(b"spilled")
    unrelated = tmp_path / "sam2_engine_state_notapid"
    unrelated.mkdir()
    live = SpillDirectory()
    assert live.path.parent == tmp_path
    assert not stale.exists()
    assert unrelated.exists()
    assert remove_stale_spill_dirs(tmp_path) == []  # our own folder is alive
    assert live.path.exists()
    live.cleanup()
    assert not live.path.exists()


def test_frames_are_read_lazily_and_prefetched(small_model):
    source = CountingSource(open_frames(_stack(12)))
    predictor = VideoPredictor(small_model)
    state = predictor.init_state(source)
    assert source.reads == []  # opening reads nothing
    predictor.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
    assert [i for i, _ in source.reads] == [0]  # the first mask needs one frame
    list(predictor.propagate_in_video(state))
    read_frames = sorted({i for i, _ in source.reads})
    assert read_frames == list(range(12))
    assert any(name.startswith("sam2-prefetch") for _, name in source.reads)
    assert len(source.reads) == 12  # every frame read once (features are cached)


def test_early_stop_after_absent_frames():
    """With the object-score bias pushed down, every object is judged absent: with
    stop_after_absent=3 the pass ends after three frames and nothing more is tracked."""
    from tests.support.models import small_config

    model = build_model(small_config(), seed=0, object_score_bias=-5.0)
    predictor = VideoPredictor(model)
    state = predictor.init_state(_stack(10))
    predictor.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
    frames = [t for t, _, _ in predictor.propagate_in_video(state, stop_after_absent=3)]
    assert frames == [0, 1, 2]
    assert sorted(state.objects[1].tracked) == [0, 1, 2]
    all_frames = [t for t, _, _ in predictor.propagate_in_video(state)]
    assert all_frames == list(range(10))
    with pytest.raises(ValueError, match="stop_after_absent"):
        next(predictor.propagate_in_video(state, stop_after_absent=0))


def test_read_error_mid_propagation_keeps_finished_frames(small_model):
    source = CountingSource(open_frames(_stack(10)), fail_at=6)
    predictor = VideoPredictor(small_model)
    state = predictor.init_state(source)
    predictor.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
    labels = np.full((10, 64, 64), 9, dtype=np.int32)  # the caller's array
    with pytest.raises(FrameReadError, match="frame 6"):
        write_propagation(predictor.propagate_in_video(state), ArraySink(labels))
    obj = state.objects[1]
    assert sorted(obj.tracked) == [0, 1, 2, 3, 4, 5]
    assert sorted(obj.non_cond_outputs) == [1, 2, 3, 4, 5]
    assert (labels[6:] == 9).all()  # untouched
    assert all((labels[t] != 9).all() for t in range(6))  # written (labels 0 or 1)


def test_stopping_a_propagation_keeps_finished_frames(small_model):
    predictor = VideoPredictor(small_model)
    state = predictor.init_state(_stack(10))
    predictor.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
    labels = np.full((10, 64, 64), 9, dtype=np.int32)
    sink = ArraySink(labels)
    written = write_propagation(itertools.islice(predictor.propagate_in_video(state), 4), sink)
    assert written == [0, 1, 2, 3]
    assert (labels[4:] == 9).all()
    assert sorted(state.objects[1].tracked) == [0, 1, 2, 3]
    # the next pass continues from the stored state
    rest = [t for t, _, _ in predictor.propagate_in_video(state, start_frame_idx=4)]
    assert rest == list(range(4, 10))
