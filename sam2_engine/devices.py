"""Choosing the compute device."""

from __future__ import annotations

import contextlib

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
            raise ValueError("device='cuda' was asked for, but torch sees no CUDA GPU here.")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})."
            )
    if kind == "mps" and not _mps_available():
        raise ValueError("device='mps' was asked for, but Apple MPS is not available here.")
    return torch.device(name)


_PRECISIONS = {
    "fp32": None,
    "float32": None,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


def resolve_precision(
    precision: str | torch.dtype | None, device: torch.device
) -> torch.dtype | None:
    """The autocast dtype for ``precision`` ("fp32", "bf16" or "fp16"); None means exact fp32.

    Reduced precision is opt-in: it is faster (bf16 on GPUs and on CPUs with AVX512-bf16) but
    moves masks slightly away from the exact fp32 result.
    """
    if precision is None or precision == torch.float32:
        return None
    if isinstance(precision, torch.dtype):
        dtype = precision
    else:
        try:
            dtype = _PRECISIONS[str(precision).lower()]
        except KeyError:
            raise ValueError(
                f"Unknown precision {precision!r}: use 'fp32' (exact), 'bf16' or 'fp16'."
            ) from None
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("precision='fp16' is for GPUs; on the CPU use 'bf16' or 'fp32'.")
    if dtype not in (None, torch.bfloat16, torch.float16):
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {dtype}")
    return dtype


def autocast(device: torch.device, dtype: torch.dtype | None):
    """A ``torch.autocast`` context for ``dtype``, or a no-op for exact fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
