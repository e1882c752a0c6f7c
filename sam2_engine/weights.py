"""The official checkpoints: registry, local cache, download and import.

Nothing here touches the network except :func:`download_checkpoint` (and
:func:`ensure_checkpoint` when it is explicitly allowed to download). Files land in the cache
only complete and verified: downloads stream to ``<file>.part`` and imports to a hidden temporary
file, and only a file whose size and SHA-256 match the registry is renamed to its final name.

The cache lives in ``$NAPARI_SAM2_HOME`` if that variable is set, else in the platform's user
cache directory (``~/.cache/napari-sam2`` on Linux), with checkpoints in ``checkpoints/`` below.

Typical use::

    path = ensure_checkpoint("sam2.1_hiera_tiny", allow_download=True)
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from tqdm.auto import tqdm

from .checkpoint import temp_path_beside
from .configs import MODEL_NAMES, get_config
from .errors import CheckpointError, DownloadError, ModelNotFoundError

__all__ = [
    "CHECKPOINTS",
    "ENV_HOME",
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

#: Environment variable that overrides the cache root.
ENV_HOME = "NAPARI_SAM2_HOME"

_CHUNK = 1 << 20  # bytes per read/write while streaming or copying
_USER_AGENT = "napari-sam2"

#: Called with (bytes done, total bytes or None) while downloading. Raise to cancel.
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class CheckpointSpec:
    """Where an official checkpoint comes from and how to recognise it.

    Attributes:
        name: model name, one of :data:`~sam2_engine.configs.MODEL_NAMES`.
        file_name: file name in the cache (the official one).
        url: official download address.
        sha256: expected SHA-256 of the file (hex); ``None`` skips the check.
        size_bytes: expected file size, or ``None`` where unknown.
    """

    name: str
    file_name: str
    url: str
    sha256: str | None
    size_bytes: int | None = None


_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2"
_OFFICIAL = {  # name: (release folder, SHA-256)
    "sam2.1_hiera_tiny": (
        "092824",
        "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
    ),
    "sam2.1_hiera_small": (
        "092824",
        "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
    ),
    "sam2.1_hiera_base_plus": (
        "092824",
        "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
    ),
    "sam2.1_hiera_large": (
        "092824",
        "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
    ),
    "sam2_hiera_tiny": (
        "072824",
        "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125",
    ),
    "sam2_hiera_small": (
        "072824",
        "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3",
    ),
    "sam2_hiera_base_plus": (
        "072824",
        "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071",
    ),
    "sam2_hiera_large": (
        "072824",
        "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b",
    ),
}

#: The eight official checkpoints by model name. Sizes are not pinned (``None``).
CHECKPOINTS: dict[str, CheckpointSpec] = {
    name: CheckpointSpec(
        name=name,
        file_name=f"{name}.pt",
        url=f"{_BASE_URL}/{folder}/{name}.pt",
        sha256=sha256,
        size_bytes=None,
    )
    for name, (folder, sha256) in _OFFICIAL.items()
}


# --------------------------------------------------------------------------- cache


def cache_dir(*, create: bool = True) -> Path:
    """The root of napari-sam2's cache: ``$NAPARI_SAM2_HOME``, else the user cache directory.

    Args:
        create: make the directory if it does not exist yet.
    """
    env = os.environ.get(ENV_HOME)
    if env:
        root = Path(env).expanduser()
    else:
        root = Path(platformdirs.user_cache_dir("napari-sam2", appauthor=False))
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def checkpoints_dir(*, create: bool = True) -> Path:
    """The folder holding checkpoint files: ``cache_dir() / "checkpoints"``."""
    path = cache_dir(create=create) / "checkpoints"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _spec(name: str | CheckpointSpec) -> CheckpointSpec:
    """The registry entry for ``name`` (a spec passes through).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(name, CheckpointSpec):
        return name
    if name in CHECKPOINTS:
        return CHECKPOINTS[name]
    get_config(name)  # raises the ValueError listing the valid names
    raise ValueError(f"No checkpoint registered for {name!r}. Known: {', '.join(CHECKPOINTS)}.")


def _cache_path(spec: CheckpointSpec, *, create: bool = False) -> Path:
    """Where ``spec``'s file lives (or would live) in the cache."""
    return checkpoints_dir(create=create) / spec.file_name


def find_checkpoint(name: str | CheckpointSpec) -> Path | None:
    """The cached checkpoint file of model ``name``, or ``None``. Never uses the network.

    Only checks that the file exists (hashing a large file on every lookup would be slow);
    files in the cache were verified when they were downloaded or imported.

    Raises:
        ValueError: unknown model name.
    """
    path = _cache_path(_spec(name))
    return path if path.is_file() else None


def checkpoint_status() -> list[tuple[str, Path | None]]:
    """``(model name, cached file or None)`` for every official model, in registry order."""
    return [(name, find_checkpoint(name)) for name in MODEL_NAMES if name in CHECKPOINTS]


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as a hex string, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- download


def download_checkpoint(
    name: str | CheckpointSpec,
    *,
    url: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
) -> Path:
    """Download model ``name``'s checkpoint into the cache, verify it, and return its path.

    The file streams to ``<file>.part`` in the cache (tqdm bar on stderr unless
    ``progress=False``), its size (if known) and SHA-256 are checked, then it is renamed to its
    final name. On any failure the ``.part`` file is removed. An existing cached file is
    replaced only once the new one is complete and verified.

    Args:
        name: model name, or a :class:`CheckpointSpec` for a custom source.
        url: download from here instead of the registry's URL (a mirror); the registry's hash
            still applies.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the connection and for each read.
        on_progress: called as ``on_progress(done_bytes, total_bytes_or_None)`` after each
            chunk (for GUI progress); raising from it cancels the download (the exception
            propagates, the ``.part`` file is removed).

    Raises:
        DownloadError: HTTP error, no connection, timeout, truncated or corrupt file, disk
            error. The message names the URL, the reason, and how to install the file by hand.
        ValueError: unknown model name.
    """
    spec = _spec(name)
    url = url or spec.url
    try:
        final = _cache_path(spec, create=True)
    except OSError as exc:
        raise _download_error(spec, url, f"cannot create the cache directory: {exc}") from exc
    part = final.with_name(final.name + ".part")
    try:
        _stream_to_file(spec, url, part, progress, timeout, on_progress)
        os.replace(part, final)
    except _Failure as exc:
        part.unlink(missing_ok=True)
        raise _download_error(spec, url, str(exc)) from exc.__cause__
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return final


class _Failure(Exception):
    """Internal: why a download failed, in words (becomes a :class:`DownloadError`)."""


def _stream_to_file(
    spec: CheckpointSpec,
    url: str,
    part: Path,
    progress: bool,
    timeout: float,
    on_progress: ProgressCallback | None,
) -> None:
    """Fetch ``url`` into ``part`` and verify it against ``spec``; raise :class:`_Failure`."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = _content_length(response)
            _check_announced_size(spec, total, part.parent)
            received, sha256 = _copy_response(response, part, total, spec, progress, on_progress)
    except _Failure:
        raise
    except urllib.error.HTTPError as exc:
        raise _Failure(f"the server answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _Failure(_describe_connection_error(exc.reason, timeout)) from exc
    except http.client.IncompleteRead as exc:
        raise _Failure(
            f"the connection closed early (truncated download: {len(exc.partial)} bytes "
            "in the last read)"
        ) from exc
    except (http.client.HTTPException, OSError) as exc:
        raise _Failure(_describe_connection_error(exc, timeout)) from exc
    except ValueError as exc:  # e.g. "unknown url type"
        raise _Failure(f"invalid URL ({exc})") from exc
    _verify(spec, received, sha256, total)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body size, or ``None`` if the server does not say."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _check_announced_size(spec: CheckpointSpec, total: int | None, folder: Path) -> None:
    """Fail before streaming when the size is already known to be wrong or will not fit."""
    if total is None:
        return
    if spec.size_bytes is not None and total != spec.size_bytes:
        raise _Failure(
            f"the server announces {total} bytes but the file should have {spec.size_bytes} "
            "(a different or damaged file?)"
        )
    free = shutil.disk_usage(folder).free
    if total > free:
        raise _Failure(f"not enough disk space in {folder}: need {total} bytes, {free} free")


def _copy_response(
    response: http.client.HTTPResponse,
    part: Path,
    total: int | None,
    spec: CheckpointSpec,
    progress: bool,
    on_progress: ProgressCallback | None,
) -> tuple[int, str]:
    """Stream the body to ``part``; return (bytes received, SHA-256 hex)."""
    digest = hashlib.sha256()
    received = 0
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"Downloading {spec.file_name}",
        disable=not progress,
    )
    with bar, open(part, "wb") as f:
        while chunk := response.read(_CHUNK):
            f.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
            if on_progress is not None:
                on_progress(received, total)
        f.flush()
        os.fsync(f.fileno())
    return received, digest.hexdigest()


def _verify(spec: CheckpointSpec, received: int, sha256: str, total: int | None) -> None:
    """Check the received size and hash; raise :class:`_Failure` with expected vs got."""
    if total is not None and received != total:
        raise _Failure(
            f"the download is truncated: received {received} of {total} bytes (connection dropped?)"
        )
    if spec.size_bytes is not None and received != spec.size_bytes:
        raise _Failure(
            f"wrong size: received {received} bytes, expected {spec.size_bytes} "
            "(truncated or a different file)"
        )
    if spec.sha256 is not None and sha256 != spec.sha256.lower():
        raise _Failure(
            f"SHA-256 mismatch (corrupt or different file): expected {spec.sha256}, "
            f"got {sha256} ({received} bytes received)"
        )


def _describe_connection_error(reason: object, timeout: float) -> str:
    """Words for a low-level network failure."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (server down, wrong port, or a firewall)"
    if isinstance(reason, socket.gaierror):
        return f"the host name could not be resolved (offline, or no DNS?): {reason}"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s (offline, or a slow or blocked network?)"
    if isinstance(reason, ConnectionError):
        return f"the connection was lost ({reason})"
    return f"network or disk error: {reason}"


def _download_error(spec: CheckpointSpec, url: str, reason: str) -> DownloadError:
    """A :class:`DownloadError` saying what failed and how to install the file by hand."""
    return DownloadError(
        f"Downloading the {spec.name!r} checkpoint from {url} failed: {reason}.\n"
        f"{_manual_install_hint(spec)}"
    )


def _manual_install_hint(spec: CheckpointSpec) -> str:
    """How to put a checkpoint in place without this package's download."""
    try:
        target: Path | str = _cache_path(spec)
    except OSError:  # pragma: no cover - cache location unusable
        target = f"<cache>/checkpoints/{spec.file_name}"
    return (
        f"To install it by hand, get {spec.url} with a browser or another tool and either put "
        f"it at {target} or run: "
        f"sam2_engine.weights.import_checkpoint({spec.name!r}, '/path/to/{spec.file_name}'). "
        f"Set {ENV_HOME} to use another cache folder."
    )


# --------------------------------------------------------------------------- ensure / import


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
        ModelNotFoundError: not cached and downloading not allowed; the message says where to
            put the file, how to allow downloads, and the URL.
        DownloadError: the download was allowed but failed.
        ValueError: unknown model name.
    """
    spec = _spec(name)
    found = find_checkpoint(spec)
    if found is not None:
        return found
    if allow_download:
        return download_checkpoint(
            spec, progress=progress, timeout=timeout, on_progress=on_progress
        )
    raise ModelNotFoundError(
        f"The {spec.name!r} checkpoint is not in the cache ({_cache_path(spec)}), and "
        "downloading is not allowed. Allow it (allow_download=True, or call "
        f"sam2_engine.weights.download_checkpoint({spec.name!r})) to fetch {spec.url}, "
        f"or install the file by hand: put it at {_cache_path(spec)} or run "
        f"sam2_engine.weights.import_checkpoint({spec.name!r}, '/path/to/{spec.file_name}')."
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
    spec = _spec(name)
    source = Path(path).expanduser()
    if not source.is_file():
        raise CheckpointError(f"Cannot import {source}: no such file.")
    dest = _cache_path(spec, create=True)
    if dest.exists() and dest.samefile(source):
        if verify_hash:
            _check_import(spec, source, source.stat().st_size, file_sha256(source))
        return dest
    tmp = temp_path_beside(dest)
    try:
        digest = hashlib.sha256()
        with open(source, "rb") as src, open(tmp, "xb") as dst:
            while chunk := src.read(_CHUNK):
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
