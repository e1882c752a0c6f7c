"""Batch runs on a dask.distributed LocalCluster with a small random-weight checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_sam2 import batch
from napari_sam2.batch import BatchError, Job, JobResult, format_summary, load_jobs
from napari_sam2.session import save_session, session_from_prompts
from sam2_engine.publish import LEDGER_NAME

pytest.importorskip("distributed")

T, H, W = 6, 64, 80
PROMPTS = {1: {2: {"points": [[30, 30]], "labels": [1]}}, 2: {0: {"box": [50, 35, 75, 60]}}}


def _stack(shift: int) -> np.ndarray:
    """A bright disc moving right and a square, on a dark background: (T, H, W) uint8."""
    yy, xx = np.mgrid[:H, :W]
    frames = np.full((T, H, W), 20, np.uint8)
    for t in range(T):
        frames[t][(yy - 30) ** 2 + (xx - 20 - shift - 3 * t) ** 2 < 120] = 220
        frames[t, 40:55, 55:70] = 160
    return frames


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two good TIFF stacks, a corrupt one, a session file and a JSON job list (relative)."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "movies").mkdir()
    tifffile.imwrite(folder / "movies" / "a.tif", _stack(0))
    tifffile.imwrite(folder / "movies" / "b.tif", _stack(4))
    (folder / "movies" / "broken.tif").write_bytes(b"II*\x00" + b"\x00not a tiff" * 20)
    save_session(session_from_prompts(PROMPTS), folder / "cells.session.json")
    plain = {str(k): {str(f): p for f, p in v.items()} for k, v in PROMPTS.items()}
    jobs = [
        {"input": "movies/a.tif", "session": "cells.session.json", "output": "out/a.tif"},
        {"input": "movies/b.tif", "prompts": plain, "output": "out/b.zarr"},
        {"input": "movies/broken.tif", "session": "cells.session.json", "output": "out/c.tif"},
    ]
    (folder / "jobs.json").write_text(json.dumps(jobs))
    return folder


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


def _engine_labels(config, checkpoint, frames: np.ndarray) -> np.ndarray:
    """The same job run in this process with the engine directly."""
    from sam2_engine import VideoPredictor, load_model
    from sam2_engine.sinks import merge_to_labels

    predictor = VideoPredictor(load_model(config, checkpoint=checkpoint, device="cpu"))
    state = predictor.init_state(frames)
    for obj_id, per_frame in PROMPTS.items():
        for frame_idx, prompt in per_frame.items():
            predictor.add_new_points_or_box(state, frame_idx, obj_id, **prompt)
    labels = np.zeros((T, H, W), np.uint16)
    for reverse in (False, True):
        for frame_idx, obj_ids, masks in predictor.propagate_in_video(state, reverse=reverse):
            labels[frame_idx] = merge_to_labels(obj_ids, masks, dtype=np.uint16)
    return labels


# ------------------------------------------------------------------------------ job lists
def test_load_jobs_resolves_paths_against_the_json_folder(data):
    jobs = load_jobs(data / "jobs.json")
    assert [job.label for job in jobs] == ["a.tif", "b.tif", "broken.tif"]
    assert jobs[0].input == data / "movies" / "a.tif"
    assert jobs[0].session == data / "cells.session.json" and jobs[0].prompts is None
    assert jobs[1].output == data / "out" / "b.zarr"
    assert jobs[1].load_session().object_ids == [1, 2]


def test_a_session_is_a_template_with_its_reading_choices(tmp_path):
    session = session_from_prompts(PROMPTS)
    session.source = {"path": "first.tif", "shape": [9, 10, 12], "channel": 1, "axis": "Z"}
    job = Job("other.tif", tmp_path / "o.tif", session=session, frame_options={"channel": 0})
    loaded = job.load_session()
    assert "shape" not in loaded.source and session.source["shape"] == [9, 10, 12]
    assert job.reading(loaded).as_kwargs() == {"axis": "Z", "channel": 0}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"input": "a.tif", "output": "a.tif"}, "either a session or prompts"),
        ({"input": "a.tif", "session": "s.json", "prompts": {}, "output": "a.tif"}, "either"),
        ({"input": "a.tif", "session": "s.json", "output": "a.png"}, r"\.tif, \.tiff, \.zarr"),
        (
            {"input": "a.tif", "session": "s.json", "output": "a.tif", "options": {"dev": 1}},
            "unknown options",
        ),
        (
            {"input": "a.tif", "session": "s.json", "output": "a.tif", "options": {"precision": 8}},
            "precision must be one of",
        ),
        ({"input": "a.tif", "session": "s.json"}, r"no \['output'\]"),
        ({"input": "a.tif", "session": "s.json", "output": "a.tif", "gpu": 1}, "unknown keys"),
        ({"input": 3, "session": "s.json", "output": "a.tif"}, "paths are strings"),
        (
            {"input": "a.tif", "session": "s.json", "output": "a.tif", "frame_options": {"c": 1}},
            "unknown frame options",
        ),
    ],
)
def test_load_jobs_rejects_malformed_entries(tmp_path, entry, message):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(BatchError, match=message):
        load_jobs(path)
    path.write_text(json.dumps({"jobs": [entry]}))
    with pytest.raises(BatchError, match="a JSON list"):
        load_jobs(path)


def test_format_summary_table():
    results = [
        JobResult("a.tif", "out/a.tif", "done", frames=6, seconds=2.25),
        JobResult("broken.tif", "out/c.tif", "failed", seconds=0.1, error="OSError: bad\nmore"),
        JobResult("b.tif", "out/b.zarr", "skipped"),
    ]
    lines = format_summary(results).splitlines()
    assert lines[0].split() == ["job", "frames", "seconds", "status", "message"]
    assert lines[2].split() == ["a.tif", "6", "2.2", "done"]
    assert lines[3].split() == ["broken.tif", "-", "0.1", "failed", "OSError:", "bad"]
    assert lines[4].split() == ["b.tif", "-", "0.0", "skipped"]
    assert lines[-1] == "3 jobs: 1 done, 1 failed, 1 skipped (2.4 s of work)"


def test_unknown_model_fails_before_any_cluster_starts(data):
    with pytest.raises(ValueError, match="Unknown model"):
        batch.run(load_jobs(data / "jobs.json"), model="sam3_giant", progress=False)
    with pytest.raises(ValueError, match="unknown options"):
        batch.run([], options={"image_sise": 512}, progress=False)
    with pytest.raises(ValueError, match="multiple of 32"):
        batch.run([], options={"image_size": 500}, progress=False)


# ------------------------------------------------------------------------------ cluster runs
def test_local_cluster_reports_the_corrupt_job_and_a_rerun_skips(data, cluster, small_checkpoint):
    """The default LocalCluster (2 workers) over 3 jobs, one input corrupt; the rerun goes to
    another cluster by its address."""
    config, checkpoint = small_checkpoint
    jobs = load_jobs(data / "jobs.json")
    options = {"model": config, "checkpoint": checkpoint, "progress": False}
    results = batch.run(jobs, n_workers=2, **options)
    assert [r.status for r in results] == ["done", "done", "failed"]
    assert [r.frames for r in results] == [T, T, None]
    assert "broken.tif" in results[2].error and "TIFF" in results[2].error
    import zarr

    a = tifffile.imread(data / "out" / "a.tif")
    b = zarr.open_array(str(data / "out" / "b.zarr"), mode="r")[:]
    assert a.shape == b.shape == (T, H, W) and a.dtype == b.dtype == np.uint16
    assert sorted(p.name for p in (data / "out").iterdir()) == [LEDGER_NAME, "a.tif", "b.zarr"]
    expected = _engine_labels(config, checkpoint, _stack(0))
    assert np.mean(a == expected) > 0.999  # the engine called directly gives the same labels
    assert set(np.unique(a[0])) >= {1} and set(np.unique(a[5])) >= {2}  # both directions
    from napari_sam2.api import read_info
    from sam2_engine.weights import file_sha256

    for output in (data / "out" / "a.tif", data / "out" / "b.zarr"):  # reproducibility record
        info = read_info(output)
        assert info["checkpoint_sha256"] == file_sha256(checkpoint)
        assert info["model"] == config.name and info["frames"] == [0, T]

    rerun = batch.run(jobs, cluster.scheduler_address, **options)
    assert [r.status for r in rerun] == ["skipped", "skipped", "failed"]
    assert not any(r.loaded_model for r in rerun)
    assert tifffile.imread(data / "out" / "a.tif").tobytes() == a.tobytes()


def test_model_loads_once_per_worker_not_per_job(data, cluster, small_checkpoint, tmp_path):
    config, checkpoint = small_checkpoint
    bad = session_from_prompts({1: {10: {"points": [[5, 5]]}}})  # frame 10 of 6
    save_session(bad, tmp_path / "bad.session.json")
    movies = data / "movies"
    jobs = [
        Job(movies / "a.tif", tmp_path / "a0.tif", prompts=PROMPTS),
        Job(movies / "b.tif", tmp_path / "b0.tif", prompts=PROMPTS),
        Job(movies / "a.tif", tmp_path / "a1.tif", prompts=PROMPTS),
    ]
    jobs.append(Job(movies / "a.tif", tmp_path / "bad.tif", session=tmp_path / "bad.session.json"))
    options = {"model": config, "checkpoint": checkpoint, "progress": False}
    results = batch.run(jobs, cluster.scheduler_address, **options)
    assert [r.status for r in results] == ["done"] * 3 + ["failed"]
    assert "SessionError" in results[3].error and "frame 10 does not exist" in results[3].error
    done = results[:3]
    workers = {r.worker for r in done}
    loads = [r.worker for r in results if r.loaded_model]
    assert sorted(loads) == sorted(set(loads)) and set(loads) <= workers  # one load per worker
    assert len(loads) == len(workers) <= 2 < len(done)

    again = batch.run(jobs[:2], cluster.scheduler_address, overwrite=True, **options)
    assert [r.status for r in again] == ["done"] * 2
    loads_again = [r for r in again if r.loaded_model and r.worker in workers]
    assert loads_again == []  # the workers kept their models between runs
    first = tifffile.imread(tmp_path / "a0.tif")
    np.testing.assert_array_equal(first, tifffile.imread(tmp_path / "a1.tif"))
    assert not list(tmp_path.glob("*.partial"))


def test_sessions_keep_their_options_and_leftovers_are_redone(
    data, cluster, small_checkpoint, tmp_path
):
    config, checkpoint = small_checkpoint
    session = session_from_prompts(PROMPTS)
    session.settings = {"precision": "bf16", "fill_hole_area": 0}
    save_session(session, tmp_path / "bf16.session.json")
    movie = tmp_path / "a.tif"
    movie.write_bytes((data / "movies" / "a.tif").read_bytes())
    leftover = tmp_path / "again.tif"
    (tmp_path / "again.tif.partial").write_bytes(b"frames of an interrupted run")
    jobs = [
        Job(movie, tmp_path / "bf16.tif", session=tmp_path / "bf16.session.json"),
        Job(movie, leftover, prompts=PROMPTS),
        Job(movie, movie, prompts=PROMPTS),  # the output is the input
    ]
    before = movie.read_bytes()
    options = {"model": config, "checkpoint": checkpoint, "progress": False}
    results = batch.run(jobs, cluster.scheduler_address, **options)
    assert [r.status for r in results] == ["done", "done", "failed"]
    from napari_sam2.api import read_info

    recorded = read_info(tmp_path / "bf16.tif")["options"]
    assert recorded["precision"] == "bf16" and recorded["fill_hole_area"] == 0
    assert read_info(leftover)["options"]["precision"] == "fp32"
    assert not (tmp_path / "again.tif.partial").exists()  # the unfinished job was redone
    assert "is the input" in results[2].error and movie.read_bytes() == before
    given = batch.run(jobs[:1], cluster.scheduler_address, overwrite=True,
                      options={"precision": "fp32"}, **options)  # fmt: skip
    assert given[0].status == "done"
    assert read_info(tmp_path / "bf16.tif")["options"]["precision"] == "fp32"  # the run's wins
