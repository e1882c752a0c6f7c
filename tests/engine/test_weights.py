"""Tests for sam2_engine.weights, against a local HTTP server (no internet needed)."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import platformdirs
import pytest
import torch

from sam2_engine import weights
from sam2_engine.checkpoint import read_checkpoint
from sam2_engine.configs import MODEL_NAMES
from sam2_engine.errors import CacheError, CheckpointError, DownloadError, ModelNotFoundError
from sam2_engine.weights import (
    CHECKPOINTS,
    CheckpointSpec,
    cache_dir,
    checkpoint_status,
    checkpoints_dir,
    download_checkpoint,
    ensure_checkpoint,
    file_sha256,
    find_checkpoint,
    import_checkpoint,
)

NAME = "sam2.1_hiera_tiny"


def _payload() -> bytes:
    buffer = io.BytesIO()
    torch.save(
        {"model": {"w": torch.randn(1000, generator=torch.Generator().manual_seed(0))}}, buffer
    )
    return buffer.getvalue()


PAYLOAD = _payload()
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD in several good and broken ways, chosen by the request path."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path == "/good.pt":
            self._send(PAYLOAD, len(PAYLOAD))
        elif self.path == "/no-length.pt":
            self._send(PAYLOAD, None)
        elif self.path == "/truncated.pt":
            self._send(PAYLOAD[: len(PAYLOAD) // 2], len(PAYLOAD))
        elif self.path == "/corrupt.pt":
            data = bytearray(PAYLOAD)
            data[len(data) // 2] ^= 0xFF
            self._send(bytes(data), len(data))
        elif self.path == "/slow.pt":
            time.sleep(0.6)
            self._send(PAYLOAD, len(PAYLOAD))
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes, length: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of a local HTTP server on a random free port, stopped after the tests."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache."""
    path = tmp_path / "home"
    monkeypatch.setenv(weights.ENV_HOME, str(path))
    return path


def use_spec(monkeypatch: pytest.MonkeyPatch, **changes: object) -> CheckpointSpec:
    """Point the registry entry of NAME at the test payload (and whatever else is changed)."""
    fields = {"sha256": PAYLOAD_SHA, **changes}
    spec = replace(CHECKPOINTS[NAME], **fields)
    monkeypatch.setitem(CHECKPOINTS, NAME, spec)
    return spec


def leftovers(folder: Path) -> list[str]:
    """Files other than finished checkpoints in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".pt"))


def free_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every attempt to open a connection fail the test (and record it)."""
    calls: list[str] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(repr(args[:2]))
        pytest.fail(f"unexpected network access: {args[:2]!r}")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    return calls


# --------------------------------------------------------------------------- registry and cache


def test_registry_covers_all_models() -> None:
    assert tuple(CHECKPOINTS) == MODEL_NAMES
    for name, spec in CHECKPOINTS.items():
        assert spec.name == name
        assert spec.file_name == f"{name}.pt"
        assert spec.url.startswith("https://dl.fbaipublicfiles.com/segment_anything_2/")
        assert spec.url.endswith("/" + spec.file_name)
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
    assert len({s.sha256 for s in CHECKPOINTS.values()}) == 8
    assert CHECKPOINTS[NAME].sha256.startswith("7402e0d8")


def test_cache_dir_override(home: Path) -> None:
    assert not home.exists()
    assert cache_dir(create=False) == home
    assert not home.exists()
    assert checkpoints_dir() == home / "checkpoints"
    assert (home / "checkpoints").is_dir()


def test_cache_dir_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.ENV_HOME)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("napari-sam2", appauthor=False))
    assert cache_dir(create=False) == expected
    assert checkpoints_dir(create=False) == expected / "checkpoints"


def test_unknown_name_lists_valid_names() -> None:
    for call in (find_checkpoint, lambda n: ensure_checkpoint(n, allow_download=False)):
        with pytest.raises(ValueError, match="sam2.1_hiera_tiny.*sam2_hiera_large"):
            call("sam3_hiera_huge")


def test_find_and_status(home: Path) -> None:
    assert find_checkpoint(NAME) is None
    assert not home.exists()  # looking does not create anything
    status = checkpoint_status()
    assert [n for n, _ in status] == list(MODEL_NAMES)
    assert all(p is None for _, p in status)
    path = checkpoints_dir() / f"{NAME}.pt"
    path.write_bytes(PAYLOAD)
    assert find_checkpoint(NAME) == path
    assert dict(checkpoint_status())[NAME] == path


def test_status_verifies_what_the_cache_holds(home: Path) -> None:
    """A truncated, empty or foreign file is not "present"; each entry says why."""
    path = checkpoints_dir() / f"{NAME}.pt"
    for content, state, detail in [
        (PAYLOAD[: len(PAYLOAD) * 2 // 3], "incomplete", "end record is missing"),
        (b"", "incomplete", "empty"),
        (b"<html>not found</html>", "invalid", "not a PyTorch checkpoint"),
        (PAYLOAD, "present", ""),
    ]:
        path.write_bytes(content)
        entry = weights.inspect_checkpoint(NAME)
        assert (entry.state, entry.size) == (state, len(content))
        assert detail in entry.detail
        assert dict(checkpoint_status())[NAME] == (path if state == "present" else None)
        assert find_checkpoint(NAME) == (path if state == "present" else None)
        assert next(e for e in checkpoint_status() if e.name == NAME).state == state
    assert all(e.state == "missing" for e in checkpoint_status() if e.name != NAME)


def test_pinned_size_is_checked(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_spec(monkeypatch, size_bytes=len(PAYLOAD) + 10)
    (checkpoints_dir() / f"{NAME}.pt").write_bytes(PAYLOAD)
    entry = weights.inspect_checkpoint(NAME)
    assert entry.state == "incomplete" and f"{len(PAYLOAD)} of {len(PAYLOAD) + 10}" in entry.detail


def test_incomplete_cached_file_is_replaced_by_an_allowed_download(
    server: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = checkpoints_dir() / f"{NAME}.pt"
    cached.write_bytes(PAYLOAD[:100])
    use_spec(monkeypatch, url=f"{server}/good.pt")
    with pytest.raises(ModelNotFoundError, match="is incomplete .* models download"):
        ensure_checkpoint(NAME, allow_download=False)
    assert cached.read_bytes() == PAYLOAD[:100]  # refused, left as it was
    assert ensure_checkpoint(NAME, allow_download=True, progress=False) == cached
    assert cached.read_bytes() == PAYLOAD


@pytest.mark.parametrize("below", [False, True])
def test_home_that_is_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, below):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv(weights.ENV_HOME, str(a_file / "sub" if below else a_file))
    for call in (
        checkpoint_status,
        lambda: find_checkpoint(NAME),
        lambda: ensure_checkpoint(NAME, allow_download=False),
        lambda: checkpoints_dir(create=True),
    ):
        with pytest.raises(CacheError, match="lies below a file" if below else "points at a file"):
            call()
    assert a_file.read_text() == "not a folder"


# --------------------------------------------------------------------------- download


def test_download_good(server: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_spec(monkeypatch, url=f"{server}/good.pt", size_bytes=len(PAYLOAD))
    seen: list[tuple[int, int | None]] = []
    path = download_checkpoint(NAME, progress=False, on_progress=lambda d, t: seen.append((d, t)))
    assert path == home / "checkpoints" / f"{NAME}.pt"
    assert path.read_bytes() == PAYLOAD
    assert leftovers(path.parent) == []
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert torch.equal(read_checkpoint(path)["w"], torch.load(io.BytesIO(PAYLOAD))["model"]["w"])


def test_download_with_progress_bar_and_url_override(
    server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_spec(monkeypatch)  # registry URL unchanged (unreachable); the override is used
    path = download_checkpoint(NAME, url=f"{server}/no-length.pt", progress=True)
    assert file_sha256(path) == PAYLOAD_SHA
    assert f"Downloading {NAME}.pt" in capsys.readouterr().err


def test_download_replaces_cached_file_only_when_verified(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = checkpoints_dir() / f"{NAME}.pt"
    cached.write_bytes(b"old")
    use_spec(monkeypatch, url=f"{server}/corrupt.pt")
    with pytest.raises(DownloadError):
        download_checkpoint(NAME, progress=False)
    assert cached.read_bytes() == b"old"
    download_checkpoint(NAME, url=f"{server}/good.pt", progress=False)
    assert cached.read_bytes() == PAYLOAD


def _download_fails(url: str, monkeypatch: pytest.MonkeyPatch, **spec_changes: object) -> str:
    """Download from ``url``; check the failure is clean; return the error message."""
    use_spec(monkeypatch, url=url, **spec_changes)
    with pytest.raises(DownloadError) as info:
        download_checkpoint(NAME, progress=False, timeout=0.2)
    msg = str(info.value)
    folder = checkpoints_dir()
    target = folder / f"{NAME}.pt"
    assert url in msg  # which URL failed
    assert str(target) in msg  # where to put the file by hand
    assert "import_checkpoint(" in msg  # the import alternative, in Python
    assert f"napari-sam2 models import {NAME}" in msg  # and on the command line
    assert list(folder.iterdir()) == []  # no .part, no final file
    return msg


def test_download_truncated(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"{server}/truncated.pt", monkeypatch)
    assert f"received {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes" in msg


def test_download_shorter_than_registry_size(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"{server}/no-length.pt", monkeypatch, size_bytes=len(PAYLOAD) + 100)
    assert f"received {len(PAYLOAD)} bytes, expected {len(PAYLOAD) + 100}" in msg


def test_download_announced_size_differs_from_registry(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = _download_fails(f"{server}/good.pt", monkeypatch, size_bytes=len(PAYLOAD) + 100)
    assert f"announces {len(PAYLOAD)} bytes" in msg


def test_download_hash_mismatch(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"{server}/corrupt.pt", monkeypatch)
    bad = bytearray(PAYLOAD)
    bad[len(bad) // 2] ^= 0xFF
    assert "SHA-256 mismatch" in msg
    assert f"expected {PAYLOAD_SHA}" in msg
    assert f"got {hashlib.sha256(bad).hexdigest()}" in msg


def test_download_404(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"{server}/missing.pt", monkeypatch)
    assert "HTTP 404" in msg


def test_download_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"http://127.0.0.1:{free_port()}/x.pt", monkeypatch)
    assert "connection refused" in msg


def test_download_timeout(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails(f"{server}/slow.pt", monkeypatch)
    assert "no answer within 0.2 s" in msg


def test_download_bad_url(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _download_fails("nothing://here/x.pt", monkeypatch)
    assert "nothing" in msg


def test_download_cancel_from_callback(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int | None) -> None:
        raise Cancelled

    use_spec(monkeypatch, url=f"{server}/good.pt")
    with pytest.raises(Cancelled):
        download_checkpoint(NAME, progress=False, on_progress=cancel)
    assert list(checkpoints_dir().iterdir()) == []


# --------------------------------------------------------------------------- ensure


def test_ensure_offline_raises_without_network(no_network: list[str], home: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        ensure_checkpoint(NAME, allow_download=False)
    msg = str(info.value)
    assert str(home / "checkpoints" / f"{NAME}.pt") in msg
    assert msg.index("napari-sam2 models download") < msg.index("allow_download=True")  # CLI first
    assert f"napari-sam2 models import {NAME} FILE" in msg
    assert CHECKPOINTS[NAME].url in msg
    assert isinstance(info.value, FileNotFoundError)
    assert no_network == []


def test_network_guard_catches_downloads(no_network: list[str]) -> None:
    with pytest.raises(pytest.fail.Exception):
        download_checkpoint(NAME, progress=False)
    assert no_network  # the guard used by the offline tests does see real attempts
    assert list(checkpoints_dir().iterdir()) == []


def test_ensure_uses_cache_without_network(no_network: list[str]) -> None:
    path = checkpoints_dir() / f"{NAME}.pt"
    path.write_bytes(PAYLOAD)
    for allow in (False, True):
        assert ensure_checkpoint(NAME, allow_download=allow) == path
    assert no_network == []


def test_ensure_downloads_when_allowed(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_spec(monkeypatch, url=f"{server}/good.pt")
    path = ensure_checkpoint(NAME, allow_download=True, progress=False)
    assert path.read_bytes() == PAYLOAD


# --------------------------------------------------------------------------- import


def test_import_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    use_spec(monkeypatch, size_bytes=len(PAYLOAD))
    source = tmp_path / "download" / "whatever.pt"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    path = import_checkpoint(NAME, source)
    assert path == home / "checkpoints" / f"{NAME}.pt"
    assert path.read_bytes() == PAYLOAD and source.read_bytes() == PAYLOAD
    assert leftovers(path.parent) == []
    assert find_checkpoint(NAME) == path
    assert import_checkpoint(NAME, path) == path  # importing the cached file itself is a no-op


def test_import_bad_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_spec(monkeypatch)
    source = tmp_path / "finetuned.pt"
    source.write_bytes(PAYLOAD + b"x")
    with pytest.raises(CheckpointError, match="SHA-256 mismatch.*verify_hash=False"):
        import_checkpoint(NAME, source)
    assert list(checkpoints_dir().iterdir()) == []
    path = import_checkpoint(NAME, source, verify_hash=False)
    assert path.read_bytes() == PAYLOAD + b"x"


def test_import_recognises_another_official_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_spec(monkeypatch)
    other = "sam2_hiera_small"
    monkeypatch.setitem(CHECKPOINTS, other, replace(CHECKPOINTS[other], sha256="0" * 64))
    source = tmp_path / "x.pt"
    source.write_bytes(PAYLOAD)
    with pytest.raises(CheckpointError, match=f"official '{NAME}' checkpoint: import it under"):
        import_checkpoint(other, source)


def test_import_missing_source(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        import_checkpoint(NAME, tmp_path / "nope.pt")
