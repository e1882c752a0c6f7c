"""Device names: resolved with their index, checked against what the machine has."""

from __future__ import annotations

import pytest
import torch

from sam2_engine.devices import available_devices, resolve_device


def test_cpu_and_auto_are_always_available():
    names = available_devices()
    assert names[:2] == ["auto", "cpu"]
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device("CPU") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_every_listed_device_resolves():
    for name in available_devices():
        resolve_device(name)


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu:0", "cpu:"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(ValueError, match="Unknown device"):
        resolve_device(name)


def test_a_gpu_index_is_kept_or_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert available_devices()[2:4] == ["cuda:0", "cuda:1"]
    with pytest.raises(ValueError, match="2 CUDA GPU"):
        resolve_device("cuda:2")


def test_no_gpu_is_said_plainly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda:0")
