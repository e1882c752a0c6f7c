"""Import boundaries: the engine stays free of GUI and oracle code; the plugin package is light.

Each check runs in a fresh interpreter, so what the test session already imported (napari,
torch, the oracle) cannot hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: GUI toolkits and napari: never imported by ``sam2_engine``.
GUI_MODULES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt")
#: The official implementation and its deps serve as test oracle only; ``vispy`` is napari's.
ORACLE_AND_VIEWER_MODULES = ("sam2", "torchvision", "hydra", "omegaconf", "iopath", "vispy")

# Runs in a subprocess: blocks the given top-level modules with an import hook that records
# every attempt (even one a ``try: import ... except ImportError`` would swallow), then imports
# sam2_engine and every module under it.
_ENGINE_SCRIPT = """
import importlib, json, pkgutil, sys, traceback

BLOCKED = set(json.loads(sys.argv[1]))
attempts = []


class BlockImports:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            importer = sys._getframe(1)
            while importer and importer.f_code.co_filename.startswith("<frozen"):
                importer = importer.f_back
            where = importer.f_globals.get("__name__", "?") if importer else "?"
            attempts.append(f"{where} imports {name}")
            raise ImportError(f"blocked in this test: {name}")
        return None


sys.meta_path.insert(0, BlockImports())
errors = {}
imported = []
try:
    import sam2_engine
except Exception:
    errors["sam2_engine"] = traceback.format_exc()
else:
    imported.append("sam2_engine")
    def on_error(name):
        errors[name] = traceback.format_exc()
    for info in pkgutil.walk_packages(sam2_engine.__path__, "sam2_engine.", onerror=on_error):
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception:
            errors[info.name] = traceback.format_exc()
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print(json.dumps({"imported": imported, "errors": errors, "attempts": attempts, "loaded": loaded}))
"""


def _run(script: str, *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _import_engine_blocking(blocked: tuple[str, ...]) -> dict:
    report = _run(_ENGINE_SCRIPT, json.dumps(blocked))
    assert report["imported"], "sam2_engine did not import"
    assert not report["errors"], "\n".join(f"{k}:\n{v}" for k, v in report["errors"].items())
    return report


def test_engine_imports_without_gui_modules() -> None:
    report = _import_engine_blocking(GUI_MODULES)
    engine_attempts = [a for a in report["attempts"] if a.startswith("sam2_engine")]
    assert not engine_attempts, engine_attempts
    assert not report["loaded"], report["loaded"]


def test_engine_imports_without_oracle_or_viewer_modules() -> None:
    report = _import_engine_blocking(ORACLE_AND_VIEWER_MODULES)
    engine_attempts = [a for a in report["attempts"] if a.startswith("sam2_engine")]
    assert not engine_attempts, engine_attempts
    assert not report["loaded"], report["loaded"]


_LIGHT_SCRIPT = """
import json, sys
import napari_sam2
import napari_sam2.cli
heavy = ("torch", "napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6",
         "magicgui", "superqt", "vispy")
print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules} & set(heavy))))
"""


def test_plugin_package_import_is_light() -> None:
    """``import napari_sam2`` (scripts, the CLI's --version) loads no torch, napari or Qt."""
    assert _run(_LIGHT_SCRIPT) == []
