"""The local checkpoint cache: where it lives and what it holds, checked without the network.

The cache lives in ``$NAPARI_SAM2_HOME`` if that variable is set, else in the platform's user
cache directory (``~/.cache/napari-sam2`` on Linux), with checkpoints in ``checkpoints/`` below.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .checkpoint_registry import CHECKPOINTS, CheckpointSpec, checkpoint_spec
from .configs import MODEL_NAMES
from .errors import CacheError

__all__ = [
    "CHUNK_BYTES",
    "ENV_HOME",
    "CachedCheckpoint",
    "cache_dir",
    "cache_path",
    "checkpoint_status",
    "checkpoints_dir",
    "file_sha256",
    "find_checkpoint",
    "inspect_checkpoint",
]

#: Environment variable that overrides the cache root.
ENV_HOME = "NAPARI_SAM2_HOME"

CHUNK_BYTES = 1 << 20  # bytes per read/write while streaming or copying


def _default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("napari-sam2", appauthor=False))


def cache_dir(*, create: bool = True) -> Path:
    """The root of napari-sam2's cache: ``$NAPARI_SAM2_HOME``, else the user cache directory.

    Args:
        create: make the directory if it does not exist yet.

    Raises:
        CacheError: the folder (or a folder above it) is a file, or it cannot be created.
    """
    env = os.environ.get(ENV_HOME)
    if env:
        root, source = Path(env).expanduser(), f"{ENV_HOME}={env!r}"
    else:
        root, source = _default_cache_dir(), "the default cache folder"
    _check_folder(root, source)
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"Cannot create the checkpoint cache folder {root} ({source}): "
                f"{exc.strerror or exc}. Set {ENV_HOME} to a folder you can write to."
            ) from exc
    return root


def _check_folder(root: Path, source: str) -> None:
    """Raise :class:`CacheError` when ``root`` or an existing folder above it is not a folder."""
    for path in (root, *root.parents):
        if path.exists():
            if path.is_dir():
                return
            what = "points at a file" if path == root else f"lies below a file ({path})"
            default = (
                ""
                if source.startswith("the default")
                else (f", or unset it to use {_default_cache_dir()}")
            )
            raise CacheError(
                f"{source} {what}, not a folder: the checkpoint cache must be a folder. Set "
                f"{ENV_HOME} to a folder (it is created if missing){default}."
            )


def checkpoints_dir(*, create: bool = True) -> Path:
    """The folder holding checkpoint files: ``cache_dir() / "checkpoints"``."""
    path = cache_dir(create=create) / "checkpoints"
    if path.exists() and not path.is_dir():
        raise CacheError(
            f"{path} is a file, but the checkpoint cache needs a folder there: move the file "
            f"away, or set {ENV_HOME} to another folder."
        )
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_path(spec: CheckpointSpec, *, create: bool = False) -> Path:
    """Where ``spec``'s file lives (or would live) in the cache."""
    return checkpoints_dir(create=create) / spec.file_name


@dataclass(frozen=True)
class CachedCheckpoint:
    """What the cache holds for one official model.

    Attributes:
        name: the model name.
        path: where its file is, or would be.
        state: ``"present"`` (complete as far as can be seen without hashing), ``"incomplete"``
            (cut short: an interrupted download or copy), ``"invalid"`` (something else under
            that name: a folder, a file of the wrong size, not a PyTorch checkpoint) or
            ``"missing"``.
        size: the file's size in bytes, or None.
        detail: why it is incomplete or invalid, in words.

    Iterating gives ``(name, path)`` with ``path`` None unless the file is present, as the
    older ``checkpoint_status`` pairs did (``for name, path in checkpoint_status()``).
    """

    name: str
    path: Path
    state: str
    size: int | None = None
    detail: str = ""

    @property
    def present(self) -> bool:
        return self.state == "present"

    def __iter__(self) -> Iterator[object]:
        return iter((self.name, self.path if self.present else None))


def inspect_checkpoint(name: str | CheckpointSpec) -> CachedCheckpoint:
    """The cache entry of model ``name``, checked without reading the whole file.

    A present file must have the registry's size (where it is pinned) and be a complete
    PyTorch zip archive: its end record must be there and every member must lie inside the
    file, which any truncation breaks. The SHA-256 is checked when a file enters the cache
    (download, import), not here: hashing a large file on every lookup would be slow.

    Raises:
        ValueError: unknown model name.
        CacheError: the cache folder is unusable (see :func:`cache_dir`).
    """
    spec = checkpoint_spec(name)
    path = cache_path(spec)
    if not path.exists():
        return CachedCheckpoint(spec.name, path, "missing")
    if not path.is_file():
        return CachedCheckpoint(spec.name, path, "invalid", None, "it is a folder, not a file")
    size = path.stat().st_size
    state, detail = _inspect_file(path, size, spec.size_bytes)
    return CachedCheckpoint(spec.name, path, state, size, detail)


def _inspect_file(path: Path, size: int, expected: int | None) -> tuple[str, str]:
    """``(state, detail)`` of a checkpoint file of ``size`` bytes (see CachedCheckpoint)."""
    if size == 0:
        return "incomplete", "the file is empty"
    if expected is not None and size < expected:
        return "incomplete", f"{size} of {expected} bytes"
    if expected is not None and size != expected:
        return "invalid", f"{size} bytes, expected {expected}"
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        return "invalid", "not a PyTorch checkpoint (zip) file"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "incomplete", f"{size} bytes, the archive's end record is missing: cut short"
    cut = [m.filename for m in members if m.header_offset + m.compress_size > size]
    if cut or not members:
        return "incomplete", f"{size} bytes, {len(cut)} archive member(s) cut short"
    return "present", ""


def find_checkpoint(name: str | CheckpointSpec) -> Path | None:
    """The cached checkpoint file of model ``name``, or ``None``. Never uses the network.

    A file that is incomplete (cut short) or not a checkpoint counts as absent; see
    :func:`inspect_checkpoint` for what is checked and :func:`ensure_checkpoint` for the
    error that names the problem.

    Raises:
        ValueError: unknown model name.
        CacheError: the cache folder is unusable.
    """
    entry = inspect_checkpoint(name)
    return entry.path if entry.present else None


def checkpoint_status() -> list[CachedCheckpoint]:
    """The cache entry of every official model, in registry order.

    Each entry iterates as ``(model name, cached file or None)``; its ``state`` says
    ``present``, ``incomplete``, ``invalid`` or ``missing``, and ``detail`` why.

    Raises:
        CacheError: the cache folder is unusable (e.g. ``$NAPARI_SAM2_HOME`` is a file).
    """
    return [inspect_checkpoint(name) for name in MODEL_NAMES if name in CHECKPOINTS]


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as a hex string, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
