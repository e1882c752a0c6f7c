"""Up-front memory estimates and the checks that refuse a model size or a frame too large for the
machine (``sam2_engine.resources``)."""

from __future__ import annotations

import numpy as np
import pytest

from sam2_engine import get_config, resources, thin_config
from sam2_engine.errors import InsufficientMemoryError
from sam2_engine.resources import (
    available_memory,
    check_memory,
    estimate_frame_bytes,
    estimate_image_bytes,
    estimate_model_bytes,
    format_bytes,
)

GiB = 2**30


def test_model_estimate_matches_the_measured_peaks_and_grows_with_the_input_area():
    tiny = estimate_model_bytes(get_config("sam2.1_hiera_tiny"))
    # measured on this project's CPU: 482 MB peak over one tracked frame at 1024 (tiny)
    assert 0.4 * GiB < tiny < 0.7 * GiB
    large = estimate_model_bytes(get_config("sam2.1_hiera_large"))
    assert large > tiny + 0.7 * GiB  # 224 M parameters of float32
    big = estimate_model_bytes(get_config("sam2.1_hiera_tiny", image_size=8192))
    assert 20 * GiB < big < 30 * GiB  # activations grow 64-fold
    assert estimate_model_bytes(thin_config("test_small")) < 0.3 * GiB


def test_frame_estimates_grow_with_the_pixels():
    gray16 = estimate_frame_bytes(6000, 6000, np.uint16)
    assert 58 * 36e6 <= gray16 < 70 * 36e6  # 58 bytes per pixel measured through track()
    assert estimate_frame_bytes(6000, 6000, np.uint8) < gray16
    three = estimate_frame_bytes(6000, 6000, np.uint16, objects=3)
    assert 68 * 36e6 <= three < 80 * 36e6  # 68 measured
    # a lazy 20000 x 20000 frame ran past 17 GiB and was on its way to ~23 GiB
    assert estimate_frame_bytes(20000, 20000, np.uint16) > 23 * GiB
    assert estimate_image_bytes(20000, 20000, np.uint16) > 20 * GiB


def test_available_memory_is_read_from_the_machine():
    available, total = available_memory("cpu")
    assert available is not None and total is not None
    assert 0 < available <= total


def test_check_memory_refuses_with_the_figures(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(resources.ENV_CHECK, raising=False)
    monkeypatch.setattr(resources, "available_memory", lambda device: (2 * GiB, 8 * GiB))
    check_memory(GiB, "cpu", "Something small")  # fits: nothing happens
    with pytest.raises(InsufficientMemoryError, match="Something big needs about 3.0 GiB") as info:
        check_memory(3 * GiB, "cpu", "Something big", "Make it smaller.")
    assert "only 2.0 GiB of 8.0 GiB is available" in str(info.value)
    assert "Make it smaller." in str(info.value) and resources.ENV_CHECK in str(info.value)
    assert isinstance(info.value, MemoryError)
    assert (info.value.needed, info.value.available) == (3 * GiB, 2 * GiB)
    monkeypatch.setenv(resources.ENV_CHECK, "0")
    check_memory(3 * GiB, "cpu", "Something big")  # the user asked to try anyway


def test_unknown_memory_does_not_refuse(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(resources, "available_memory", lambda device: (None, None))
    check_memory(10**15, "cpu", "Anything")


def test_format_bytes():
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * GiB) == "3.0 GiB"
