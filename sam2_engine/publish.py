"""Publishing outputs safely: the one place that creates, replaces and removes what we write.

Every writer of the project (label sinks, sessions, checkpoints and downloads, measurement
tables, video exports, the napari writer) goes through here, so these rules hold everywhere:

1. **Complete or absent.** An output is written as ``<name>.partial`` beside its final name and
   renamed into place only once complete: a file under the final name is never half-written.
2. **Nothing the user made is replaced.** An existing output is replaced only when the caller
   allows it (``overwrite=True``, ``--overwrite``) *and* the project wrote it: it is listed,
   unchanged, in its folder's ledger (:data:`LEDGER_NAME`), or a format check recognises it
   (our provenance metadata). A folder output (a zarr store, a folder of PNG frames) holds a
   manifest (:data:`MANIFEST_NAME`) of the files it wrote, and replacing it removes only those.
   A folder is never replaced where a file is expected, nor a file where a folder is.
3. **Never onto an input.** An output that is one of the run's inputs, lies inside one or
   contains one is refused (resolved paths: links and ``..`` do not hide it).
4. **One writer at a time.** A partial is locked by its writer (``<name>.partial.lock``:
   process, host, start time, what is written); a second writer is refused with a message
   naming the first. The lock of a process that died on this machine is stale and taken over.
5. **Interrupted runs keep their work.** A writer may keep its partial on an error (a label
   stack keeps its finished frames); a later run refuses to start over it unless allowed to
   overwrite.

Nothing here imports torch or numpy.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from sam2_engine.constants import PARTIAL_SUFFIX

#: The file in an output folder listing the outputs the project wrote there.
LEDGER_NAME = ".napari-sam2-outputs.json"
#: The file inside a folder output listing the files the project wrote in it.
MANIFEST_NAME = ".napari-sam2-manifest.json"
LOCK_SUFFIX = ".lock"
_FORMAT = "napari-sam2-outputs"

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


# --------------------------------------------------------------------------- checks
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
    _check_not_input(path, inputs)
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
    if partial.exists() and not overwrite and not _locked_by_live_writer(partial):
        raise OutputExistsError(
            f"{partial} exists: the finished part of an interrupted run. Move or delete it, or "
            "allow overwriting (--overwrite; overwrite=True in Python)"
        )
    return path


def _check_not_input(path: Path, inputs: Iterable[Any]) -> None:
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
            "never replaced, even with --overwrite: choose another name, or move it away "
            "yourself"
        )


def is_ours(path: PathLike, *, recognise: Recogniser | None = None) -> bool:
    """Whether the project wrote ``path``: its folder's ledger lists it unchanged, a folder
    output holds our manifest, or ``recognise`` says so."""
    path = Path(path)
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return True
    entry = _read_ledger(path.parent).get(path.name)
    if entry is not None and path.is_file():
        stat = path.stat()
        if entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return True
    if recognise is not None:
        try:
            return bool(recognise(path))
        except Exception:  # an unreadable file is not ours to replace
            return False
    return False


# --------------------------------------------------------------------------- ledger
def _read_ledger(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((folder / LEDGER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _record(path: Path) -> None:
    """Note in the folder's ledger that the project wrote the file ``path`` as it is now."""
    folder = path.parent
    files = {
        name: entry for name, entry in _read_ledger(folder).items() if (folder / name).exists()
    }
    stat = path.stat()
    files[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    text = json.dumps({"format": _FORMAT, "files": files}, indent=1)
    ledger = folder / LEDGER_NAME
    temporary = ledger.with_name(f"{LEDGER_NAME}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, ledger)
    except OSError:  # a read-only ledger only means the output cannot be replaced later
        temporary.unlink(missing_ok=True)


# --------------------------------------------------------------------------- locks
def _lock_owner(lock: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _process_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFO
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(owner: dict[str, Any] | None) -> bool:
    """A lock whose writer died on this machine (or that cannot be read at all)."""
    if owner is None:
        return True
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return pid != os.getpid() and not _process_alive(pid)


def _locked_by_live_writer(partial: Path) -> bool:
    lock = partial.with_name(partial.name + LOCK_SUFFIX)
    return lock.exists() and not _stale(_lock_owner(lock))


def _describe_owner(owner: dict[str, Any]) -> str:
    started = owner.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return (
        f"process {owner.get('pid')} on {owner.get('host')}, started {when}"
        f"{': ' + owner['what'] if owner.get('what') else ''}"
    )


# --------------------------------------------------------------------------- publishing
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
        self._lock = self.partial.with_name(self.partial.name + LOCK_SUFFIX)
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
                current = _lock_owner(self._lock)
                if not _stale(current):
                    raise OutputInUseError(
                        f"{self.path} is being written by another run ({_describe_owner(current)})"
                        f". Wait for it to finish or stop it; if it is gone, delete {self._lock}"
                    ) from None
                self._lock.unlink(missing_ok=True)  # its writer died: take over
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(owner, file)
            return
        raise OutputInUseError(f"could not lock {self.partial}: delete {self._lock} and retry")

    def _release_lock(self) -> None:
        owner = _lock_owner(self._lock)
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
                _record(self.path)
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
        written = sorted(
            str(p.relative_to(self.partial)) for p in self.partial.rglob("*") if p.is_file()
        )
        manifest = {"format": "napari-sam2-manifest", "files": written}
        (self.partial / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), "utf-8")
        if not self.path.exists() or self._empty_folder():
            if self.path.exists():
                self.path.rmdir()
            os.replace(self.partial, self.path)
            return
        ours = _manifest_files(self.path)
        extras = [p for p in _files_below(self.path) if p not in ours and p != MANIFEST_NAME]
        if ours is None or not extras:  # wholly ours (recognised, or only our files in it)
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


def _manifest_files(folder: Path) -> set[str] | None:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        return {str(name) for name in data["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _files_below(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]


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
