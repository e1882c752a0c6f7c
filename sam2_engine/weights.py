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
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from tqdm.auto import tqdm

from .checkpoint import temp_path_beside
from .configs import MODEL_NAMES, get_config
from .errors import CacheError, CheckpointError, DownloadError, ModelNotFoundError

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
    spec = _spec(name)
    path = _cache_path(spec)
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
    except (OSError, CacheError):  # cache location unusable
        target = f"<cache>/checkpoints/{spec.file_name}"
    return (
        f"To install it by hand, get {spec.url} with a browser or another tool, then run "
        f"`napari-sam2 models import {spec.name} /path/to/{spec.file_name}` (in Python: "
        f"sam2_engine.weights.import_checkpoint({spec.name!r}, '/path/to/{spec.file_name}')) "
        f"or put it at {target}. Set {ENV_HOME} to use another cache folder."
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
        ModelNotFoundError: not cached (or cached incomplete) and downloading not allowed; the
            message says where to put the file, how to allow downloads, and the URL.
        DownloadError: the download was allowed but failed.
        ValueError: unknown model name.
    """
    spec = _spec(name)
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
        f"The {spec.name!r} checkpoint is not in the cache ({_cache_path(spec)}) and "
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
