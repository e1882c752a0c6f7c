"""Opening napari with the plugin, or importing the dock's module, must not import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("napari")


def test_plugin_modules_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import napari_sam2, napari_sam2._qt.tracking_widget\n"
        "heavy = [m for m in ('torch', 'sam2_engine.build') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
