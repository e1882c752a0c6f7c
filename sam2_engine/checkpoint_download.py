"""Downloading an official checkpoint into the cache, verified before it gets its name.

This is the only module of the engine that touches the network. The file streams to
``<file>.part`` in the cache and is renamed to its final name only once its size and SHA-256
match the registry.
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
from pathlib import Path

from tqdm.auto import tqdm

from .checkpoint_cache import CHUNK_BYTES, ENV_HOME, cache_path
from .checkpoint_registry import CheckpointSpec, checkpoint_spec
from .errors import CacheError, DownloadError

__all__ = ["ProgressCallback", "download_checkpoint"]

_USER_AGENT = "napari-sam2"

#: Called with (bytes done, total bytes or None) while downloading. Raise to cancel.
ProgressCallback = Callable[[int, "int | None"], None]


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
    spec = checkpoint_spec(name)
    url = url or spec.url
    try:
        final = cache_path(spec, create=True)
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
        while chunk := response.read(CHUNK_BYTES):
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
        target: Path | str = cache_path(spec)
    except (OSError, CacheError):  # cache location unusable
        target = f"<cache>/checkpoints/{spec.file_name}"
    return (
        f"To install it by hand, get {spec.url} with a browser or another tool, then run "
        f"`napari-sam2 models import {spec.name} /path/to/{spec.file_name}` (in Python: "
        f"sam2_engine.weights.import_checkpoint({spec.name!r}, '/path/to/{spec.file_name}')) "
        f"or put it at {target}. Set {ENV_HOME} to use another cache folder."
    )
