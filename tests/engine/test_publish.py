"""The one atomic-publish module: complete or absent, never the user's files, never an input,
one writer at a time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sam2_engine.publish import (
    LEDGER_NAME,
    MANIFEST_NAME,
    NotOurOutputError,
    OutputExistsError,
    OutputInUseError,
    OutputIsInputError,
    OutputKindError,
    Publication,
    check_output,
    is_ours,
    partial_path,
    write_atomic,
)


def test_a_file_appears_only_when_complete_and_is_recorded(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with Publication(target) as out:
        out.partial.write_text("a,b\n")
        assert not target.exists() and out.partial.exists()
        assert Path(str(out.partial) + ".lock").exists()  # held while writing
        out.commit()
    assert target.read_text() == "a,b\n" and is_ours(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [LEDGER_NAME, "out.csv"]


def test_an_error_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), Publication(target) as out:
        out.partial.write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_a_kept_partial_can_still_be_published(tmp_path: Path) -> None:
    target = tmp_path / "labels.tif"
    with pytest.raises(KeyboardInterrupt), Publication(target, keep_partial=True) as out:
        out.partial.write_text("frames 0-3")
        raise KeyboardInterrupt
    assert partial_path(target).read_text() == "frames 0-3" and not target.exists()
    with pytest.raises(OutputExistsError, match="interrupted run"):
        check_output(target)
    out.commit()  # "keep what was done"
    assert target.read_text() == "frames 0-3" and not partial_path(target).exists()


def test_only_our_own_outputs_are_replaced_and_only_when_asked(tmp_path: Path) -> None:
    ours = write_atomic(tmp_path / "ours.json", "1")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_atomic(ours, "2")
    write_atomic(ours, "2", overwrite=True)
    assert ours.read_text() == "2"
    theirs = tmp_path / "theirs.json"
    theirs.write_text("the user's")
    with pytest.raises(NotOurOutputError, match="did not write"):
        write_atomic(theirs, "2", overwrite=True)
    assert theirs.read_text() == "the user's"
    ours.write_text("edited by the user since")  # changed: no longer ours to replace
    with pytest.raises(NotOurOutputError):
        write_atomic(ours, "3", overwrite=True)
    assert ours.read_text() == "edited by the user since"
    write_atomic(theirs, "3", overwrite=True, recognise=lambda p: p.read_text() == "the user's")
    assert theirs.read_text() == "3"  # a format check may recognise our own files


def test_a_folder_is_never_replaced_by_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "x.tif"
    folder.mkdir()
    (folder / "data.txt").write_text("keep")
    with pytest.raises(OutputKindError, match="is a folder"):
        check_output(folder, overwrite=True)
    with pytest.raises(OutputKindError, match="is a file"):
        check_output(write_atomic(tmp_path / "f", "x"), overwrite=True, folder=True)
    assert (folder / "data.txt").read_text() == "keep"


@pytest.mark.parametrize("where", ["same", "inside", "around", "link"])
def test_an_input_is_never_an_output(tmp_path: Path, where: str) -> None:
    movie = tmp_path / "in" / "movie.tif"
    movie.parent.mkdir()
    movie.write_bytes(b"frames")
    output = {
        "same": movie,
        "inside": tmp_path / "in",  # output folder holding the input
        "around": movie / "labels.tif",  # inside the input (e.g. a zarr store)
        "link": tmp_path / "link.tif",
    }[where]
    if where == "link":
        output.symlink_to(movie)
    inputs = [tmp_path / "in" / ".." / "in" / "movie.tif", 42]  # paths resolved; others skipped
    with pytest.raises(OutputIsInputError):
        check_output(output, overwrite=True, inputs=inputs, folder=where == "inside")
    assert movie.read_bytes() == b"frames"


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    target = tmp_path / "labels.tif"
    with Publication(target, what="track in.tif") as first:
        first.partial.write_text("frame 0")
        with pytest.raises(OutputInUseError, match=rf"process {os.getpid()}.*track in.tif"):
            Publication(target, overwrite=True)
        with pytest.raises(OutputInUseError, match="being written by another run"):
            check_output(target, overwrite=True)  # said before any work starts
        assert first.partial.read_text() == "frame 0"  # not removed by the second writer
        first.commit()
    assert target.read_text() == "frame 0"


def test_the_lock_of_a_dead_writer_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    target = tmp_path / "labels.tif"
    partial = partial_path(target)
    partial.write_text("frames of a killed run")
    owner = {"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0, "what": "x"}
    Path(str(partial) + ".lock").write_text(json.dumps(owner))
    with pytest.raises(OutputExistsError, match="interrupted run"):
        check_output(target)  # its frames are kept unless the user allows starting over
    with Publication(target, overwrite=True) as out:
        assert not out.partial.exists()
        out.partial.write_text("new")
        out.commit()
    assert target.read_text() == "new" and not list(tmp_path.glob("*.lock"))


def test_a_folder_output_replaces_only_the_files_it_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    with Publication(folder, folder=True) as out:
        out.partial.mkdir()
        for i in range(3):
            (out.partial / f"f{i}.png").write_text(str(i))
        out.commit()
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["files"] == ["f0.png", "f1.png", "f2.png"] and is_ours(folder)
    (folder / "notes.txt").write_text("the user's")
    with Publication(folder, folder=True, overwrite=True) as out:
        out.partial.mkdir()
        (out.partial / "f0.png").write_text("new")
        out.commit()
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_NAME, "f0.png", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "the user's"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "f0.png").write_text("the user's")
    with pytest.raises(NotOurOutputError):
        Publication(theirs, folder=True, overwrite=True)
    recognised = tmp_path / "old.zarr"  # ours by its format, written before manifests existed
    recognised.mkdir()
    (recognised / "zarr.json").write_text("{}")
    with Publication(
        recognised, folder=True, overwrite=True, recognise=lambda p: (p / "zarr.json").exists()
    ) as out:
        out.partial.mkdir()
        (out.partial / "zarr.json").write_text("new")
        out.commit()
    assert (recognised / "zarr.json").read_text() == "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    with Publication(empty, folder=True) as out:  # an empty folder holds nothing to lose
        out.partial.mkdir()
        (out.partial / "a.png").write_text("a")
        out.commit()
    assert (empty / "a.png").read_text() == "a"


def test_the_output_folder_must_exist_and_be_writable(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_output(tmp_path / "missing" / "a.tif")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        check_output(tmp_path / "file" / "a.tif")
