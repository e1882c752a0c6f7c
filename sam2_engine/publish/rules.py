"""The rules for an existing output and the run's inputs, checked before anything is written."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sam2_engine.constants import PARTIAL_SUFFIX
from sam2_engine.publish.locks import describe_owner, live_writer, lock_path
from sam2_engine.publish.records import MANIFEST_NAME, recorded

PathLike = str | os.PathLike
#: Says whether an existing output at a path was written by the project (format-level check).
Recogniser = Callable[[Path], bool]


class OutputError(Exception):
    """An output cannot be written as asked; the message says why and what to do."""


class OutputExistsError(OutputError, FileExistsError):
    """The output (or an interrupted run's partial) exists and overwriting was not allowed."""


class NotOurOutputError(OutputError, FileExistsError):
    """The output exists but the project did not write it (or it changed since): never replaced."""


class OutputInUseError(OutputError, FileExistsError):
    """Another writer holds the output's partial."""


class OutputIsInputError(OutputError, ValueError):
    """The output is an input of the run, or lies inside or around one."""


class OutputKindError(OutputError, IsADirectoryError):
    """A folder stands where a file output is expected, or a file where a folder is."""


def partial_path(path: PathLike) -> Path:
    """Where ``path`` is written until it is complete."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def check_output(
    path: PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
    folder: bool = False,
    recognise: Recogniser | None = None,
) -> Path:
    """Check, before any work, that ``path`` may be written; nothing is created or removed.

    Arguments:
        path: the final output (a file, or a folder when ``folder``).
        overwrite: an existing output of ours may be replaced.
        inputs: the run's inputs; paths among them (str or PathLike) must not be or hold it.
        folder: the output is a folder (a zarr store, PNG frames).
        recognise: a format check telling that an existing output is ours.

    Returns:
        ``path`` with ``~`` expanded.

    Raises:
        OutputIsInputError, OutputKindError, OutputExistsError, NotOurOutputError,
        FileNotFoundError / NotADirectoryError / PermissionError (the parent folder).
    """
    path = Path(path).expanduser()
    check_not_input(path, inputs)
    parent = path.parent
    if not parent.exists():
        raise FileNotFoundError(f"the output folder {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {path.name} into {parent}: it is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"the output folder {parent} is not writable")
    if path.exists() or path.is_symlink():
        _check_replaceable(path, overwrite=overwrite, folder=folder, recognise=recognise)
    partial = partial_path(path)
    writer = live_writer(partial)
    if writer is not None:
        raise OutputInUseError(
            f"{path} is being written by another run ({describe_owner(writer)}). Wait for it "
            f"to finish or stop it; if it is gone, delete {lock_path(partial)}"
        )
    if partial.exists() and not overwrite:
        raise OutputExistsError(
            f"{partial} exists: the finished part of an interrupted run. Move or delete it, or "
            "allow overwriting (--overwrite; overwrite=True in Python)"
        )
    return path


def check_not_input(path: PathLike, inputs: Iterable[Any]) -> None:
    """Refuse an output that is one of ``inputs`` (paths among them), lies inside one or
    holds one (:class:`OutputIsInputError`)."""
    path = Path(path).expanduser()
    target = _resolved(path)
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            continue
        source = _resolved(Path(item).expanduser())
        if target == source:
            raise OutputIsInputError(
                f"the output {path} is the input {item}: choose another output name (an input "
                "is never overwritten)"
            )
        if source in target.parents:
            raise OutputIsInputError(
                f"the output {path} lies inside the input {item}: write it elsewhere"
            )
        if target in source.parents:
            raise OutputIsInputError(
                f"the output folder {path} holds the input {item}: write it elsewhere"
            )


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _check_replaceable(
    path: Path, *, overwrite: bool, folder: bool, recognise: Recogniser | None
) -> None:
    is_dir = path.is_dir() and not path.is_symlink()
    if is_dir and not folder:
        raise OutputKindError(
            f"{path} is a folder, but the output is a file: choose another name (a folder is "
            "never replaced by a file)"
        )
    if folder and not is_dir:
        raise OutputKindError(
            f"{path} is a file, but the output is a folder: choose another name (a file is "
            "never replaced by a folder)"
        )
    if folder and is_dir and not any(path.iterdir()):
        return  # an empty folder: nothing to lose
    if not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another name or allow replacing it (--overwrite; "
            "overwrite=True in Python)"
        )
    if not is_ours(path, recognise=recognise):
        what = "folder" if folder else "file"
        raise NotOurOutputError(
            f"{path} is a {what} napari-sam2 did not write (or it changed since), so it is "
            "never replaced, even with --overwrite (overwrite=True in Python): choose another "
            "name, or move it away yourself"
        )


def is_ours(path: PathLike, *, recognise: Recogniser | None = None) -> bool:
    """Whether the project wrote ``path``: its folder's ledger lists it unchanged, a folder
    output holds our manifest, or ``recognise`` says so."""
    path = Path(path)
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return True
    if recorded(path):
        return True
    if recognise is not None:
        try:
            return bool(recognise(path))
        except Exception:  # an unreadable file is not ours to replace
            return False
    return False
