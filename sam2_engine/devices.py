"""Choosing the compute device."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """The device names this machine can run the model on, ``"auto"`` first: ``cpu``, then
    every CUDA GPU (``cuda:0``, ``cuda:1``...) and ``mps`` where present. What the dock lists
    and what :func:`resolve_device` accepts."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return names


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; other values are checked and keep
    their index (``"cuda:1"`` stays GPU 1).

    Raises:
        ValueError: for an unknown device string or a device this machine does not have.
    """
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, colon, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (colon and not index.isdigit()):
        raise ValueError(
            f"Unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        )
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA GPU here.")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})."
            )
    if kind == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} was asked for, but Apple MPS is not available here.")
    return torch.device(name)
