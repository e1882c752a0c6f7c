"""One writer per output: a lock file beside the partial, naming its writer."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_SUFFIX = ".lock"


def lock_owner(lock: Path) -> dict[str, Any] | None:
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


def stale(owner: dict[str, Any] | None) -> bool:
    """A lock whose writer died on this machine (or that cannot be read at all)."""
    if owner is None:
        return True
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return pid != os.getpid() and not _process_alive(pid)


def lock_path(partial: Path) -> Path:
    """The lock file of a partial output."""
    return partial.with_name(partial.name + LOCK_SUFFIX)


def live_writer(partial: Path) -> dict[str, Any] | None:
    """Who holds the partial's lock, if that writer is alive (else None)."""
    lock = lock_path(partial)
    if not lock.exists():
        return None
    owner = lock_owner(lock)
    return None if stale(owner) else owner


def describe_owner(owner: dict[str, Any]) -> str:
    started = owner.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return (
        f"process {owner.get('pid')} on {owner.get('host')}, started {when}"
        f"{': ' + owner['what'] if owner.get('what') else ''}"
    )
