"""The official checkpoints: registry, local cache, download and import.

Nothing here touches the network except :func:`download_checkpoint` (and
:func:`ensure_checkpoint` when it is explicitly allowed to download). Files land in the cache
only complete and verified: downloads stream to ``<file>.part`` and imports to a hidden temporary
file, and only a file whose size and SHA-256 match the registry is renamed to its final name.

The cache lives in ``$NAPARI_SAM2_HOME`` if that variable is set, else in the platform's user
cache directory (``~/.cache/napari-sam2`` on Linux), with checkpoints in ``checkpoints/`` below.

Typical use::

    path = ensure_checkpoint("sam2.1_hiera_tiny", allow_download=True)

The registry is in :mod:`~sam2_engine.checkpoint_registry`, the cache (location, listing,
checks) in :mod:`~sam2_engine.checkpoint_cache` and the download in
:mod:`~sam2_engine.checkpoint_download`; this module gets a checkpoint into the cache
(:func:`ensure_checkpoint`, :func:`import_checkpoint`) and re-exports the public names of all
three, so ``sam2_engine.weights`` stays the one place to import them from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .checkpoint import temp_path_beside
from .checkpoint_cache import (
    CHUNK_BYTES,
    ENV_HOME,
    CachedCheckpoint,
    cache_dir,
    cache_path,
    checkpoint_status,
    checkpoints_dir,
    file_sha256,
    find_checkpoint,
    inspect_checkpoint,
)
from .checkpoint_download import ProgressCallback, download_checkpoint
from .checkpoint_registry import CHECKPOINTS, CheckpointSpec, checkpoint_spec
from .errors import CheckpointError, ModelNotFoundError

__all__ = [
    "CHECKPOINTS",
    "ENV_HOME",
    "CachedCheckpoint",
    "CheckpointSpec",
    "cache_dir",
    "checkpoint_status",
    "checkpoints_dir",
    "download_checkpoint",
    "ensure_checkpoint",
    "file_sha256",
    "find_checkpoint",
    "import_checkpoint",
]


def ensure_checkpoint(
    name: str | CheckpointSpec,
    *,
    allow_download: bool,
    progress: bool = True,
    timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """The cached checkpoint of ``name``; downloaded first if missing and ``allow_download``.

    With ``allow_download=False`` this never touches the network.

    Raises:
        ModelNotFoundError: not cached (or cached incomplete) and downloading not allowed; the
            message says where to put the file, how to allow downloads, and the URL.
        DownloadError: the download was allowed but failed.
        ValueError: unknown model name.
    """
    spec = checkpoint_spec(name)
    entry = inspect_checkpoint(spec)
    if entry.present:
        return entry.path
    if allow_download:  # replaces an incomplete file once the new one is verified
        return download_checkpoint(
            spec, progress=progress, timeout=timeout, on_progress=on_progress
        )
    if entry.state != "missing":
        raise ModelNotFoundError(
            f"The cached {spec.name!r} checkpoint {entry.path} is {entry.state} "
            f"({entry.detail}), so it cannot be used. {_how_to_get(spec)}"
        )
    raise ModelNotFoundError(
        f"The {spec.name!r} checkpoint is not in the cache ({cache_path(spec)}) and "
        f"downloading was not allowed. {_how_to_get(spec)}"
    )


def _how_to_get(spec: CheckpointSpec) -> str:
    """The ways to get a checkpoint: the command line first, then Python."""
    return (
        f"Get it with `napari-sam2 models download {spec.name}` (or add --download to the "
        f"command; in Python: allow_download=True) from {spec.url}, or with "
        f"`napari-sam2 models import {spec.name} FILE` from a copy you have (in Python: "
        f"sam2_engine.weights.import_checkpoint({spec.name!r}, FILE))."
    )


def import_checkpoint(
    name: str | CheckpointSpec, path: str | os.PathLike, *, verify_hash: bool = True
) -> Path:
    """Copy a checkpoint file the user already has into the cache, as model ``name``.

    The copy is written to a temporary file beside its destination and renamed when complete,
    so the cache never holds a partial file. The source file is left untouched.

    Args:
        name: model name (or a :class:`CheckpointSpec`).
        path: the file to import.
        verify_hash: check size (if known) and SHA-256 against the registry. Pass ``False``
            to install a fine-tuned or otherwise modified file under the official name.

    Returns:
        The path of the file in the cache.

    Raises:
        CheckpointError: the source is missing, or its hash/size does not match.
        ValueError: unknown model name.
    """
    spec = checkpoint_spec(name)
    source = Path(path).expanduser()
    if not source.is_file():
        raise CheckpointError(f"Cannot import {source}: no such file.")
    dest = cache_path(spec, create=True)
    if dest.exists() and dest.samefile(source):
        if verify_hash:
            _check_import(spec, source, source.stat().st_size, file_sha256(source))
        return dest
    tmp = temp_path_beside(dest)
    try:
        digest = hashlib.sha256()
        with open(source, "rb") as src, open(tmp, "xb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
                digest.update(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if verify_hash:
            _check_import(spec, source, tmp.stat().st_size, digest.hexdigest())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _check_import(spec: CheckpointSpec, source: Path, size: int, sha256: str) -> None:
    """Raise :class:`CheckpointError` if an imported file is not the registry's file."""
    problem = None
    if spec.size_bytes is not None and size != spec.size_bytes:
        problem = f"its size is {size} bytes, expected {spec.size_bytes}"
    elif spec.sha256 is not None and sha256 != spec.sha256.lower():
        problem = f"SHA-256 mismatch: expected {spec.sha256}, got {sha256}"
    if problem is None:
        return
    other = next((s.name for s in CHECKPOINTS.values() if s.sha256 == sha256), None)
    hint = (
        f"It is the official {other!r} checkpoint: import it under that name."
        if other is not None and other != spec.name
        else "If the file is truncated, copy it again; if it is a fine-tuned or modified "
        "checkpoint, pass verify_hash=False."
    )
    raise CheckpointError(
        f"{source} is not the official {spec.name!r} checkpoint ({problem}). {hint}"
    )
