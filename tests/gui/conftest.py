"""Fixtures of the GUI tests: the cells stack and the dock opened on it through the manifest."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2 import make_cells_timelapse


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    return make_cells_timelapse(n_frames=8, shape=(96, 128)).image


@pytest.fixture
def dock(make_napari_viewer, small_model, cells):
    """A viewer with the cells stack and the dock opened through the manifest."""
    from tests.support.dock import PLUGIN, WIDGET  # napari only where a GUI test asks

    viewer = make_napari_viewer()
    viewer.add_image(cells, name="cells", metadata={"axes": "TYX"})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.controller.use_model(small_model, "test_small")
    return widget
