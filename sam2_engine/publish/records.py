"""What the project wrote: a ledger per output folder, and a manifest inside folder outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sam2_engine.constants import PARTIAL_SUFFIX

#: The file in an output folder listing the outputs the project wrote there.
LEDGER_NAME = ".napari-sam2-outputs.json"
#: The file inside a folder output listing the files the project wrote in it.
MANIFEST_NAME = ".napari-sam2-manifest.json"
_FORMAT = "napari-sam2-outputs"


def _read_ledger(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((folder / LEDGER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def record(path: Path) -> None:
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


def recorded(path: Path) -> bool:
    """Whether the folder's ledger lists the file ``path`` as it is now (same size and time)."""
    entry = _read_ledger(path.parent).get(path.name)
    if entry is None or not path.is_file():
        return False
    stat = path.stat()
    return entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns


def write_manifest(folder: Path) -> list[str]:
    """List every file under ``folder`` in its manifest; returns the list."""
    written = files_below(folder)
    manifest = {"format": "napari-sam2-manifest", "files": written}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), "utf-8")
    return written


def manifest_files(folder: Path) -> set[str] | None:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        return {str(name) for name in data["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def files_below(folder: Path) -> list[str]:
    """The files under ``folder``, as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
