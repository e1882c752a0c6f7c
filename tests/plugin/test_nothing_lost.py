"""Nothing the user made is lost: the command line's outputs never replace inputs or files it did
not write, two runs never write one output at once, and Ctrl-C or a kill keeps finished frames.

Each case runs ``napari-sam2`` in a new process, as a user does, and checks the user's files are
byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.support.cli import cli_env, command, model_args, run, write_movie

POINT = ["--point", "0,20,16"]


def digest(path: Path) -> str:
    """A fingerprint of a file or of a whole folder's files and names."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    parts = sorted((str(p.relative_to(path)), digest(p)) for p in path.rglob("*") if p.is_file())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def track(movie: Path, output: Path, checkpoint: Path, *extra: str):
    return run("track", str(movie), *POINT, "-o", str(output), "--device", "cpu",
               *model_args(checkpoint), *extra)  # fmt: skip


def test_the_input_is_never_the_output(tmp_path, tiny_checkpoint, movie) -> None:
    copy = tmp_path / "in.tif"
    copy.write_bytes(movie.read_bytes())
    before = digest(copy)
    result = track(copy, copy, tiny_checkpoint, "--overwrite")
    assert result.returncode == 1 and "is the input" in result.stderr
    assert "Traceback" not in result.stderr and digest(copy) == before
    store = tmp_path / "in.zarr"
    import zarr

    zarr.create_array(str(store), data=tifffile.imread(movie))
    before = digest(store)
    result = track(store, store, tiny_checkpoint, "--overwrite")
    assert result.returncode == 1 and "is the input" in result.stderr
    assert digest(store) == before


def test_a_folder_or_a_file_of_the_user_is_never_replaced(tmp_path, tiny_checkpoint, movie):
    folder = tmp_path / "x.tif"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    result = track(movie, folder, tiny_checkpoint, "--overwrite")
    assert result.returncode == 1 and "is a folder" in result.stderr
    assert (folder / "notes.txt").read_text() == "the user's"
    theirs = tmp_path / "theirs.tif"
    tifffile.imwrite(theirs, np.ones((4, 48, 64), np.uint16))
    before = digest(theirs)
    result = track(movie, theirs, tiny_checkpoint, "--overwrite")
    assert result.returncode == 1 and "did not write" in result.stderr
    assert digest(theirs) == before


def test_our_output_is_replaced_only_when_asked(tmp_path, tiny_checkpoint, movie) -> None:
    out = tmp_path / "labels.tif"
    assert track(movie, out, tiny_checkpoint).returncode == 0
    before = digest(out)
    result = track(movie, out, tiny_checkpoint)
    assert result.returncode == 1 and "--overwrite" in result.stderr and digest(out) == before
    assert track(movie, out, tiny_checkpoint, "--overwrite").returncode == 0
    single = tmp_path / "one.tif"  # a one-frame result is still (1, H, W), and reported
    result = track(movie, single, tiny_checkpoint, "--frames", "0:1")
    assert result.returncode == 0, result.stderr
    assert f"Wrote {single}: 1 frames of 48 x 64" in result.stdout


def test_export_video_keeps_the_users_files_and_its_inputs(tmp_path, tiny_checkpoint, movie):
    labels = tmp_path / "labels.tif"
    assert track(movie, labels, tiny_checkpoint).returncode == 0
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "mine.png").write_bytes(b"the user's image")
    before = digest(folder)
    args = ["export-video", str(movie), str(labels), "--kind", "masks", "--overwrite", "-o"]
    result = run(*args, str(folder))
    assert result.returncode == 1 and "did not write" in result.stderr
    assert digest(folder) == before
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, image in enumerate(tifffile.imread(movie)):
        tifffile.imwrite(frames / f"{t:03d}.tif", image)
    before = digest(frames)
    result = run("export-video", str(frames), str(labels), "--kind", "masks", "--overwrite",
                 "-o", str(frames))  # fmt: skip
    assert result.returncode == 1 and "is the input" in result.stderr
    assert digest(frames) == before


def _start(movie: Path, output: Path, checkpoint: Path, *extra: str) -> subprocess.Popen:
    args = command("track", str(movie), *POINT, "-o", str(output), "--device", "cpu",
                   *model_args(checkpoint), *extra)  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), preexec_fn=_default_ctrl_c)  # fmt: skip


def _default_ctrl_c() -> None:
    """In the child: Ctrl-C (SIGINT) handled by default, as in a terminal. A test run started
    in the background of a script (``pytest &``) ignores SIGINT, and its children would
    inherit that: Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    """Until ``path`` exists (the run has started writing) and has had a moment to work."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not start writing"
        time.sleep(0.1)
    time.sleep(2.0)


#: Frames of the movie interrupted mid-run: long enough that no run finishes before the
#: signal on a fast machine (a 2-core CPU tracks these 48 x 64 frames at ~13 per second; a
#: run is stopped a few seconds in, so the length costs nothing).
LONG_MOVIE_FRAMES = 1200


@pytest.fixture(scope="module")
def long_movie(tmp_path_factory) -> Path:
    return write_movie(tmp_path_factory.mktemp("long") / "long.tif", frames=LONG_MOVIE_FRAMES)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_ctrl_c_and_a_kill_keep_finished_frames(tmp_path, tiny_checkpoint, long_movie, suffix):
    out = tmp_path / f"labels{suffix}"
    partial = out.with_name(out.name + ".partial")
    first = _start(long_movie, out, tiny_checkpoint, "--max-frames-in-memory", "8")
    _wait_for(partial, first)
    second = track(long_movie, out, tiny_checkpoint, "--overwrite")  # while the first runs
    assert second.returncode == 1 and "being written by another run" in second.stderr
    assert f"process {first.pid}" in second.stderr
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "finished frames are kept in" in err, err[-3000:]
    assert "Traceback" not in err and not out.exists()
    kept = _read(partial)
    assert kept.shape == (LONG_MOVIE_FRAMES, 48, 64) and kept.any()  # readable, finished frames

    result = track(long_movie, out, tiny_checkpoint)
    assert result.returncode == 1 and "interrupted run" in result.stderr
    assert (_read(partial) == kept).all()  # still there, untouched

    killed = _start(long_movie, out, tiny_checkpoint, "--overwrite", "--max-frames-in-memory", "8")
    _wait_for(partial, killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert partial.exists()  # its lock is left behind, its writer gone
    result = track(long_movie, out, tiny_checkpoint, "--overwrite", "--frames", "0:3")
    assert result.returncode == 0, result.stderr  # the dead writer's lock is taken over
    assert _read(out).shape == (3, 48, 64) and not partial.exists()
    assert not list(tmp_path.glob("*.lock"))


def _read(path: Path) -> np.ndarray:
    if path.name.endswith((".zarr", ".zarr.partial")):
        import zarr

        return zarr.open_array(str(path), mode="r")[:]
    return tifffile.imread(path)
