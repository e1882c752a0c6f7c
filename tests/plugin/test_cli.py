"""The ``napari-sam2`` command line: through subprocess (as users run it) where the process
matters (help, track to files, the demo), in-process otherwise (faster, and able to block the
network or simulate Ctrl-C)."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tifffile

import sam2_engine.sinks
from napari_sam2 import api
from sam2_engine import VideoPredictor
from sam2_engine.publish import LEDGER_NAME
from sam2_engine.weights import file_sha256
from tests.support.cli import MODEL, SIZE, main, model_args, run

POINTS = ["--point", "1,20,16", "--neg-point", "1,40,30", "--box", "2,5,5,30,25,2"]
PROMPTS = {
    1: {1: {"points": [[20, 16], [40, 30]], "labels": [1, 0]}},
    2: {2: {"box": [5, 5, 30, 25]}},
}


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("NAPARI_SAM2_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("models", "track", "demo", "export-video", "batch"):
        assert command in result.stdout
    result = run("track", "--help")
    assert result.returncode == 0 and "--point T,X,Y[,OBJ]" in result.stdout


def test_models_lists_eight_missing_without_network(empty_home, no_network, capsys) -> None:
    assert main("models") == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("sam2")]
    assert len(rows) == 8 and all(" missing " in row for row in rows)
    assert str(empty_home / "checkpoints" / f"{MODEL}.pt") in out
    assert not empty_home.exists()  # listing creates nothing


def test_models_lists_an_incomplete_file_and_refuses_a_bad_home(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    (home / "checkpoints").mkdir(parents=True)
    (home / "checkpoints" / f"{MODEL}.pt").write_bytes(b"PK\x03\x04" + b"x" * 100)
    monkeypatch.setenv("NAPARI_SAM2_HOME", str(home))
    assert main("models") == 0
    captured = capsys.readouterr()
    assert any(
        line.startswith(MODEL) and "incomplete" in line for line in captured.out.splitlines()
    )
    assert "cut short" in captured.err
    monkeypatch.setenv("NAPARI_SAM2_HOME", str(home / "checkpoints" / f"{MODEL}.pt"))
    assert main("models") == 1
    err = capsys.readouterr().err
    assert "points at a file, not a folder" in err and "Traceback" not in err


def test_models_import_and_offline_download(empty_home, tiny_checkpoint, monkeypatch, capsys):
    assert main("models", "import", MODEL, str(tiny_checkpoint)) == 1
    assert "is not the official 'sam2.1_hiera_tiny' checkpoint" in capsys.readouterr().err
    assert main("models", "import", MODEL, str(tiny_checkpoint), "--no-verify") == 0
    assert main("models") == 0
    assert f"{empty_home / 'checkpoints' / MODEL}.pt" in capsys.readouterr().out

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main("models", "download", "sam2_hiera_small") == 1
    err = capsys.readouterr().err
    assert "Downloading the 'sam2_hiera_small' checkpoint" in err and "Traceback" not in err


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_track_writes_labels_like_the_api(tmp_path, tiny_checkpoint, movie, suffix) -> None:
    out = tmp_path / f"labels{suffix}"
    result = run("track", str(movie), *POINTS, "-o", str(out), "--device", "cpu",
                 *model_args(tiny_checkpoint))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}: 4 frames of 48 x 64" in result.stdout
    expected = api.track(
        movie, PROMPTS, MODEL, checkpoint=tiny_checkpoint, device="cpu", image_size=int(SIZE),
        progress=False,
    )  # fmt: skip
    assert expected.any()
    labels = tifffile.imread(out) if suffix == ".tif" else _zarr(out)
    np.testing.assert_array_equal(labels, expected)
    info = api.read_info(out)
    assert info["model"] == MODEL and info["checkpoint_sha256"] == file_sha256(tiny_checkpoint)


def _zarr(path: Path) -> np.ndarray:
    import zarr

    return zarr.open_array(str(path), mode="r")[:]


def test_track_with_reduced_precision_and_an_ome_zarr_output(tmp_path, tiny_checkpoint, movie):
    out = tmp_path / "cells.ome.zarr"
    options = ["--device", "cpu", "--precision", "bf16", "--fill-hole-area", "0"]
    options += ["--object-batch-mb", "0"]  # one object at a time
    result = run("track", str(movie), *POINTS, "-o", str(out), *options,
                 *model_args(tiny_checkpoint))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "bf16" in result.stdout
    info = api.read_info(out)
    assert info["options"]["precision"] == "bf16" and info["options"]["fill_hole_area"] == 0
    assert info["options"]["object_batch_bytes"] == 0
    labels = np.asarray(sam2_engine.sinks.open_labels(out))
    exact = api.track(
        movie, PROMPTS, MODEL, checkpoint=tiny_checkpoint, device="cpu", image_size=int(SIZE),
        fill_hole_area=0, progress=False,
    )  # fmt: skip
    assert labels.shape == exact.shape and labels.any()
    agree = np.mean((labels > 0) == (exact > 0))
    assert agree > 0.95  # bf16 moves masks only slightly from the exact fp32 result


def test_existing_output_is_refused(tmp_path, movie, capsys) -> None:
    out = tmp_path / "labels.tif"
    out.write_bytes(b"precious")
    assert main("track", str(movie), "--point", "0,5,5", "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert out.read_bytes() == b"precious" and sorted(tmp_path.iterdir()) == [out]
    partial = tmp_path / "other.tif.partial"
    partial.write_bytes(b"finished frames")
    assert main("track", str(movie), "--point", "0,5,5", "-o", str(tmp_path / "other.tif")) == 1
    assert "interrupted run" in capsys.readouterr().err


def test_unusable_output_folders(tmp_path, movie, capsys, monkeypatch) -> None:
    (tmp_path / "file").write_text("")
    assert main("track", str(movie), "--point", "0,5,5", "-o", str(tmp_path / "file/l.tif")) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main("track", str(movie), "--point", "0,5,5", "-o", str(tmp_path / "no/l.tif")) == 1
    assert "does not exist" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # root may write anywhere: make the permission check see the folder as read-only
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode, **kw: False if path == locked else real_access(path, mode)
    )
    assert main("track", str(movie), "--point", "0,5,5", "-o", str(locked / "l.tif")) == 1
    assert "is not writable" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["track", "in.tif", "-o", "x.tif"], "give the prompts"),
        (["track", "in.tif", "--point", "1,2", "-o", "x.tif"], "expects T,X,Y[,OBJ]"),
        (["track", "in.tif", "--point", "1.5,2,3", "-o", "x.tif"], "frame T must be"),
        (["track", "in.tif", "--box", "0,1,2,3,4,0", "-o", "x.tif"], "object OBJ must be"),
        (["track", "in.tif", "--point", "0,1,2", "--session", "s.json", "-o", "x.tif"], "either"),
        (
            ["track", "in.tif", "--point", "0,1,2", "--model", "sam9", "-o", "x.tif"],
            "unknown model",
        ),
        (["track", "in.tif", "--point", "0,1,2", "--frames", "a:b", "-o", "x.tif"], "START:STOP"),
        (["track", "in.tif", "--point", "0,1,2"], "required: -o/--output"),
        (["track", "in.tif", "--point", "0,1,2", "-o", "x.tif", "--direction", "up"], "choice"),
        (
            ["track", "in.tif", "--point", "0,1,2", "-o", "x.tif", "--device", "gpu"],
            "--device must",
        ),
        (["track", "in.tif", "--point", "0,1,2", "-o", "x.tif", "--image-size", "100"], "of 32"),
        (["batch", "jobs.json", "--fill-hole-area", "-1"], "--fill-hole-area must be"),
        (
            ["track", "in.tif", "--point", "0,1,2", "-o", "x.tif", "--max-frames-in-memory", "3"],
            "--max-frames-in-memory must be a whole number >= 7",
        ),
        (
            ["track", "in.tif", "--point", "0,1,2", "-o", "x.tif", "--object-batch-mb", "-1"],
            "--object-batch-mb must be a whole number >= 0, got -1",
        ),
        (["batch", "jobs.json", "--object-batch-mb", "-5"], "--object-batch-mb must be"),
        (["fly"], "invalid choice"),
        (["demo", "--frames", "1"], "--frames must be at least 2"),
    ],
)
def test_bad_usage_exits_2_with_a_message(args, message, capsys) -> None:
    assert main(*args) == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" in err and "Traceback" not in err


def test_bad_usage_through_the_console(tmp_path) -> None:
    result = run("track", "in.tif", "--box", "0,1,2", "-o", str(tmp_path / "x.tif"))
    assert result.returncode == 2
    assert "--box expects T,X0,Y0,X1,Y1[,OBJ]" in result.stderr


def test_prompt_on_a_missing_frame_is_explained(tmp_path, tiny_checkpoint, movie, capsys):
    out = tmp_path / "labels.tif"
    args = ["track", str(movie), "--point", "9,5,5", "-o", str(out), *model_args(tiny_checkpoint)]
    assert main(*args) == 1
    err = capsys.readouterr().err
    assert "frame 9 does not exist (the image has frames 0..3)" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())
    assert main(*args, "--debug") == 1
    assert "Traceback" in capsys.readouterr().err


def test_missing_checkpoint_says_what_to_do(empty_home, movie, tmp_path, no_network, capsys):
    out = str(tmp_path / "labels.tif")
    assert main("track", str(movie), "--point", "0,5,5", "-o", out) == 1
    err = capsys.readouterr().err
    assert "not in the cache" in err and "napari-sam2 models download" in err


def test_ctrl_c_keeps_finished_frames(tmp_path, tiny_checkpoint, movie, monkeypatch, capsys):
    original = VideoPredictor.propagate_in_video

    def interrupted(self, state, *args, **kwargs):
        for done, item in enumerate(original(self, state, *args, **kwargs)):
            if done == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(VideoPredictor, "propagate_in_video", interrupted)
    out = tmp_path / "labels.tif"
    args = ["track", str(movie), *POINTS, "-o", str(out), "--direction", "forward"]
    assert main(*args, *model_args(tiny_checkpoint)) == 130
    err = capsys.readouterr().err
    partial = tmp_path / "labels.tif.partial"
    assert "Interrupted after 2 of 3 frames" in err and str(partial) in err
    assert not out.exists()
    kept = tifffile.imread(partial)
    assert kept[1:3].any() and not kept[3].any()  # frames 1 and 2 done, frame 3 never reached


def test_demo_runs_end_to_end_offline(tmp_path) -> None:
    folder = tmp_path / "demo"
    result = run(
        "demo", "--no-download", "-o", str(folder), "--frames", "3", "--objects", "2",
        "--image-size", SIZE, "--device", "cpu",
        env={"NAPARI_SAM2_HOME": str(tmp_path / "empty")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "RANDOM weights" in result.stderr and "masks are meaningless" in result.stderr
    assert "Tracked 2 cells through 3 frames" in result.stdout
    names = {"cells.tif", "labels.tif", "overlay.png", "overlay.mp4", LEDGER_NAME}
    assert {p.name for p in folder.iterdir()} == names
    labels = tifffile.imread(folder / "labels.tif")
    assert labels.shape == (3, 256, 256) and labels.any()


def test_demo_never_replaces_a_users_file(tmp_path, capsys) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "labels.tif").write_bytes(b"the user's labels")
    assert main("demo", "-o", str(folder), "--no-download") == 1
    err = capsys.readouterr().err
    assert "not the demo's own earlier output" in err and "nothing was written" in err
    assert sorted(p.name for p in folder.iterdir()) == ["labels.tif"]  # checked before work
    assert (folder / "labels.tif").read_bytes() == b"the user's labels"


def test_demo_without_fallback_fails_clearly(empty_home, no_network, tmp_path, capsys) -> None:
    assert main("demo", "--no-download", "--no-fallback", "-o", str(tmp_path / "d")) == 1
    err = capsys.readouterr().err
    assert "not in the cache" in err and "RANDOM" not in err


def test_export_video_is_wired(tmp_path, movie, capsys) -> None:
    labels = tmp_path / "labels.tif"
    mask = (tifffile.imread(movie) > 150).astype(np.uint16)
    tifffile.imwrite(labels, mask, photometric="minisblack")
    out = tmp_path / "overlay.mp4"
    assert main("export-video", str(movie), str(labels), "-o", str(out)) == 0
    assert out.is_file() and f"Wrote {out}" in capsys.readouterr().out
    assert main("export-video", str(movie), str(labels), "-o", str(out)) == 1
    assert "already exists" in capsys.readouterr().err
    assert main("export-video", str(movie), str(labels), "-o", str(tmp_path / "m.mov"),
                "--kind", "matte", "--codec", "nope") == 1  # fmt: skip
    assert "nope" in capsys.readouterr().err


def test_batch_without_distributed_says_what_to_install(tmp_path, monkeypatch, capsys) -> None:
    import sys

    jobs = tmp_path / "jobs.json"
    jobs.write_text('[{"input": "a.tif", "prompts": {"1": {"0": {"points": [[1, 1]]}}}, '
                    '"output": "a_labels.tif"}]')  # fmt: skip
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    assert main("batch", str(jobs)) == 1
    err = capsys.readouterr().err
    assert 'pip install "napari-sam2[batch]"' in err and "Traceback" not in err


def test_batch_is_wired(tmp_path, monkeypatch, capsys) -> None:
    from napari_sam2 import batch

    jobs = tmp_path / "jobs.json"
    jobs.write_text('[{"input": "a.tif", "prompts": {"1": {"0": {"points": [[1, 1]]}}}, '
                    '"output": "a_labels.tif"}]')  # fmt: skip
    calls = []

    def fake_run(jobs, scheduler=None, **options):
        calls.append((jobs, scheduler, options))
        return [batch.JobResult("a.tif", tmp_path / "a_labels.tif", "failed", error="E: bad")]

    monkeypatch.setattr(batch, "run", fake_run)
    args = ["batch", str(jobs), "--scheduler", "tcp://h:8786", "--image-size", "512"]
    assert main(*args, "--device", "cuda", "--precision", "bf16") == 1  # a failed job fails
    (job,), scheduler, options = calls[0]
    assert job.input == tmp_path / "a.tif" and scheduler == "tcp://h:8786"
    assert options["device"] == "cuda"
    assert options["options"] == {"image_size": 512, "precision": "bf16"}
    assert "1 failed" in capsys.readouterr().out
