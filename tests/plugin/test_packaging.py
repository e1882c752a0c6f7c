"""Packaging: the installed distribution, its npe2 manifest, console script and sample data."""

from __future__ import annotations

import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import napari_sam2
from napari_sam2 import _sample_data

ROOT = Path(__file__).resolve().parents[2]
DIST = "napari-sam2"


# --- distribution and manifest -----------------------------------------------------------------


def test_distribution_is_installed_from_this_tree() -> None:
    dist = metadata.distribution(DIST)
    assert dist.version == napari_sam2.__version__
    assert Path(napari_sam2.__file__).resolve().parent == ROOT / "napari_sam2"
    assert metadata.metadata(DIST)["License-Expression"] == "BSD-3-Clause"


def test_manifest_loads_from_distribution() -> None:
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_distribution(DIST)
    assert manifest.name == DIST == metadata.metadata(DIST)["Name"]
    manifest.validate_imports()  # every python_name imports and resolves


def test_plugin_manager_discovers_plugin() -> None:
    npe2 = pytest.importorskip("npe2")
    manager = npe2.PluginManager()
    manager.discover(include_npe1=False)
    manifest = manager.get_manifest(DIST)
    keys = {sample.key for sample in manifest.contributions.sample_data}
    assert keys == {
        "cells_timelapse",
        "nuclei_stack",
        "ultrasound_cine",
        "rgb_video",
        "dividing_cells",
    }


def test_top_level_manifest_is_a_symlink_to_the_package_one() -> None:
    link = ROOT / "napari.yaml"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "napari_sam2" / "napari.yaml").resolve()


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("napari-sam2")
    assert script.exists(), "install the project (pip install -e .) to get the console script"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == f"napari-sam2 {napari_sam2.__version__}"


# --- sample data -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cells() -> _sample_data.SyntheticStack:
    return _sample_data.make_cells_timelapse()


@pytest.fixture(scope="module")
def nuclei() -> _sample_data.SyntheticStack:
    return _sample_data.make_nuclei_stack()


@pytest.fixture(scope="module")
def ultrasound() -> _sample_data.SyntheticStack:
    return _sample_data.make_ultrasound_cine()


@pytest.fixture(scope="module")
def video() -> _sample_data.SyntheticStack:
    return _sample_data.make_rgb_video()


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def test_cells_timelapse(cells: _sample_data.SyntheticStack) -> None:
    image, truth = cells
    assert image.shape == (40, 256, 256) and image.dtype == np.uint16
    assert truth.shape == image.shape and truth.dtype == np.int32
    # A 12-bit camera's low dynamic range: a small part of uint16, above a dark offset.
    assert image.min() > 50 and image.max() <= 4095
    assert image.max() - image.min() < 4096 / 2
    # Cells are clearly brighter than the background.
    assert np.median(image[truth > 0]) > 2 * np.median(image[truth == 0])
    # Cells move between frames, and some divide (daughters get new labels).
    steps, journeys = [], []
    for label in np.unique(truth[0])[1:]:
        frames = [t for t in range(len(truth)) if (truth[t] == label).any()]
        path = np.array([_centroid(truth[t] == label) for t in frames])
        steps.extend(np.linalg.norm(np.diff(path, axis=0), axis=1))
        journeys.append(np.linalg.norm(path[-1] - path[0]))
    assert np.mean(steps) > 0.5 and max(steps) < 8  # moving, yet trackable frame to frame
    assert np.median(journeys) > 10
    assert len(np.unique(truth[-1])) > len(np.unique(truth[0]))
    assert not np.array_equal(image[0], image[1])


def test_nuclei_stack(nuclei: _sample_data.SyntheticStack) -> None:
    image, truth = nuclei
    assert image.shape == (32, 256, 256) and image.dtype == np.uint16
    assert image.max() <= 4095
    labels = np.unique(truth)[1:]
    assert 4 <= len(labels) <= 12
    for label in labels:  # every nucleus spans several slices along z
        assert (truth == label).any(axis=(1, 2)).sum() >= 4
    assert np.median(image[truth > 0]) > 2 * np.median(image[truth == 0])


def test_ultrasound_cine(ultrasound: _sample_data.SyntheticStack) -> None:
    image, truth = ultrasound
    assert image.shape == (40, 256, 256) and image.dtype == np.uint8
    # Fan-shaped field of view: the top corners are outside it and black.
    assert not image[:, :40, :40].any() and not image[:, :40, -40:].any()
    assert 60 < image[:, 128:200, 100:156].mean() < 200
    # The bright structure is brighter than its surroundings and moves.
    assert image[truth > 0].mean() > image[(truth == 0) & (image > 0)].mean() + 20
    assert np.linalg.norm(_centroid(truth[0] > 0) - _centroid(truth[5] > 0)) > 5


def test_rgb_video(video: _sample_data.SyntheticStack) -> None:
    image, truth = video
    assert image.ndim == 4 and image.shape[-1] == 3 and image.dtype == np.uint8
    assert truth.shape == image.shape[:-1]
    assert set(np.unique(truth)) == {0, 1, 2}
    ball_colour = image[truth == 1].mean(axis=0)
    assert ball_colour[0] > ball_colour[2] + 80  # orange: much more red than blue
    assert np.linalg.norm(_centroid(truth[0] == 1) - _centroid(truth[-1] == 1)) > 50


def test_generators_are_deterministic_and_fast() -> None:
    for make in (
        _sample_data.make_cells_timelapse,
        _sample_data.make_nuclei_stack,
        _sample_data.make_ultrasound_cine,
        _sample_data.make_rgb_video,
    ):
        start = time.perf_counter()
        first = make()
        elapsed = time.perf_counter() - start
        second = make()
        assert np.array_equal(first.image, second.image), make.__name__
        assert np.array_equal(first.truth, second.truth), make.__name__
        assert elapsed < 5.0, f"{make.__name__} took {elapsed:.1f} s (meant to be < 1 s)"


@pytest.mark.parametrize(
    "sample",
    [
        _sample_data.cells_timelapse_sample,
        _sample_data.nuclei_stack_sample,
        _sample_data.ultrasound_cine_sample,
        _sample_data.rgb_video_sample,
    ],
)
def test_napari_sample_functions_return_layer_data(sample) -> None:
    layers = sample()
    assert len(layers) == 1
    data, kwargs, layer_type = layers[0]
    assert layer_type == "image" and isinstance(data, np.ndarray)
    assert kwargs["name"] and kwargs["metadata"]["source"] == "napari-sam2 synthetic sample"
    if "contrast_limits" in kwargs:
        low, high = kwargs["contrast_limits"]
        assert data.min() <= low < high <= data.max() or (low, high) == (0, 255)
    assert kwargs.get("rgb", False) == (data.ndim == 4)


def test_write_samples_script(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    av = pytest.importorskip("av")
    subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "write_samples.py"), str(tmp_path)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    stack = tifffile.imread(tmp_path / "cells_timelapse.tif")
    assert np.array_equal(stack, _sample_data.make_cells_timelapse().image)
    assert tifffile.imread(tmp_path / "cells_timelapse_truth.tif").dtype == np.int32
    with av.open(str(tmp_path / "rgb_video.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    expected = _sample_data.make_rgb_video().image
    assert np.stack(frames).shape == expected.shape
    assert np.abs(np.stack(frames).astype(int) - expected).mean() < 12  # lossy but close
