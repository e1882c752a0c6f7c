"""Writing one output: checked, locked, written as a partial, published when complete."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from sam2_engine.publish.locks import describe_owner, lock_owner, lock_path, stale
from sam2_engine.publish.records import (
    MANIFEST_NAME,
    files_below,
    manifest_files,
    record,
    write_manifest,
)
from sam2_engine.publish.rules import (
    OutputError,
    OutputExistsError,
    OutputInUseError,
    PathLike,
    Recogniser,
    check_output,
    partial_path,
)


class Publication:
    """Writing one output: checks it, locks and prepares its partial, then publishes it.

    Use as a context manager around the writing, and call :meth:`commit` when the partial is
    complete; leaving the block without committing (an error) keeps or removes the partial as
    ``keep_partial`` says, and releases the lock::

        with Publication("labels.tif", overwrite=True, inputs=[video]) as out:
            write_everything_to(out.partial)
            out.commit()

    Arguments:
        path, overwrite, inputs, folder, recognise: see :func:`check_output`.
        keep_partial: keep the partial after an error (it holds finished frames).
        what: a few words on the writer, shown to a second writer refused by the lock.

    Raises (at construction):
        the errors of :func:`check_output`; :class:`OutputInUseError` when another live writer
        holds the partial.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        inputs: Iterable[Any] = (),
        folder: bool = False,
        recognise: Recogniser | None = None,
        keep_partial: bool = False,
        what: str = "",
    ) -> None:
        self.path = check_output(
            path, overwrite=overwrite, inputs=inputs, folder=folder, recognise=recognise
        )
        self.partial = partial_path(self.path)
        self.folder = folder
        self.overwrite = overwrite
        self.recognise = recognise
        self.keep_partial = keep_partial
        self._lock = lock_path(self.partial)
        self._what = what or str(self.path)
        self._take_lock()
        self.state = "writing"  # -> "published" | "abandoned"
        try:
            if self.partial.exists() or self.partial.is_symlink():
                _remove(self.partial)  # an interrupted run's: allowed by check_output
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self) -> None:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "what": self._what,
        }
        for _ in range(2):
            try:
                fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                current = lock_owner(self._lock)
                if not stale(current):
                    raise OutputInUseError(
                        f"{self.path} is being written by another run ({describe_owner(current)})"
                        f". Wait for it to finish or stop it; if it is gone, delete {self._lock}"
                    ) from None
                self._lock.unlink(missing_ok=True)  # its writer died: take over
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(owner, file)
            return
        raise OutputInUseError(f"could not lock {self.partial}: delete {self._lock} and retry")

    def _release_lock(self) -> None:
        owner = lock_owner(self._lock)
        if owner is not None and owner.get("pid") == os.getpid():
            self._lock.unlink(missing_ok=True)

    def commit(self) -> Path:
        """Publish the complete partial under the final name; returns that path.

        Also valid after :meth:`abandon` kept the partial (publishes what was written then).

        Raises:
            OutputExistsError: the final path appeared meanwhile and overwriting was not
                allowed (the data stay in the partial, which is kept).
        """
        if self.state == "published":
            return self.path
        if self.state == "abandoned":
            if not self.partial.exists():
                raise OutputError(f"nothing to publish: {self.partial} is gone")
            self._take_lock()
            self.state = "writing"
        try:
            if self.path.exists() and not self.overwrite and not self._empty_folder():
                raise OutputExistsError(
                    f"{self.path} appeared while writing; the result is kept in {self.partial}"
                )
            if self.folder:
                self._publish_folder()
            else:
                _fsync(self.partial)
                os.replace(self.partial, self.path)
                record(self.path)
        except BaseException:
            self.keep_partial = True
            self.abandon()
            raise
        self.state = "published"
        self._release_lock()
        return self.path

    def abandon(self) -> None:
        """Give up: keep or remove the partial (``keep_partial``) and release the lock."""
        if self.state != "writing":
            return
        self.state = "abandoned"
        try:
            if not self.keep_partial:
                _remove(self.partial)
        finally:
            self._release_lock()

    def _empty_folder(self) -> bool:
        return self.folder and self.path.is_dir() and not any(self.path.iterdir())

    def _publish_folder(self) -> None:
        written = write_manifest(self.partial)
        if not self.path.exists() or self._empty_folder():
            if self.path.exists():
                self.path.rmdir()
            os.replace(self.partial, self.path)
            return
        ours = manifest_files(self.path)
        extras = (
            []
            if ours is None
            else [  # no manifest: recognised as ours by its format
                p for p in files_below(self.path) if p not in ours and p != MANIFEST_NAME
            ]
        )
        if ours is None or not extras:  # wholly ours
            aside = self.path.with_name(f"{self.path.name}.replaced-{os.getpid()}")
            os.replace(self.path, aside)
            os.replace(self.partial, self.path)
            shutil.rmtree(aside, ignore_errors=True)
            return
        for name in ours:  # the user's own files in the folder stay
            (self.path / name).unlink(missing_ok=True)
        for name in written:
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.partial / name, target)
        os.replace(self.partial / MANIFEST_NAME, self.path / MANIFEST_NAME)
        shutil.rmtree(self.partial, ignore_errors=True)

    def __enter__(self) -> Publication:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abandon()  # a no-op after commit()


def _fsync(path: Path) -> None:
    try:
        with open(path, "rb+") as file:
            os.fsync(file.fileno())
    except OSError:
        pass  # not every file system can; the rename stays atomic


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_atomic(
    path: PathLike,
    data: str | bytes,
    *,
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
    recognise: Recogniser | None = None,
) -> Path:
    """Write a whole small file (a session, a table) under the rules above; returns its path."""
    with Publication(
        path, overwrite=overwrite, inputs=inputs, recognise=recognise, what="writing a file"
    ) as out:
        if isinstance(data, str):
            out.partial.write_text(data, encoding="utf-8")
        else:
            out.partial.write_bytes(data)
        return out.commit()
