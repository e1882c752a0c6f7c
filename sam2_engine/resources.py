"""How much memory a model size or a frame needs, and refusing early when the machine lacks it.

A model run at ``image_size=8192``, or a 20000 x 20000 frame, used to fail in torch's allocator
(or in the kernel's out-of-memory killer) after a minute of work. The estimates here are cheap
arithmetic on shapes, checked before anything big is allocated, so the answer comes at once and
carries the figure.

The estimates were measured on the CPU in fp32 (peak resident memory over one tracked frame,
``benchmarks``-style, 2 threads) and are deliberately on the low side of what a run takes:
a run that is refused would certainly have failed, while a run that passes may still need a
little more than estimated. Set ``SAM2_ENGINE_MEMORY_CHECK=0`` to skip the checks (for example
with plenty of swap).

Available memory is read without extra dependencies: ``MemAvailable`` of ``/proc/meminfo``
(bounded by a cgroup limit when the process has one), else ``os.sysconf``; on CUDA
``torch.cuda.mem_get_info`` plus what torch holds cached; on MPS torch's recommended maximum.
Where none of these can be read the checks pass.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InsufficientMemoryError

if TYPE_CHECKING:
    import torch

    from .configs import Sam2Config

__all__ = [
    "available_memory",
    "check_frame_memory",
    "check_memory",
    "estimate_frame_bytes",
    "estimate_image_bytes",
    "estimate_model_bytes",
    "format_bytes",
]

#: Set to "0" to skip every memory check.
ENV_CHECK = "SAM2_ENGINE_MEMORY_CHECK"

# Bytes per pixel of the model's square input while one frame is encoded and tracked: a fixed
# part (FPN neck at 1/4 resolution, decoder upsampling, memory encoder) plus a part that grows
# with the trunk's first-stage width (tokens at 1/4 resolution, their MLP). Measured peaks: tiny
# (width 96) 482 MB at 1024 (estimate 489), 1.18 GB encoding at 2048; large (width 144) 448 MB
# encoding at 1024.
_PER_INPUT_PIXEL_FIXED = 220.0
_PER_INPUT_PIXEL_PER_WIDTH = 1.5
_FIXED_OVERHEAD = 100 * 2**20


def format_bytes(count: float) -> str:
    """``1.5 GiB``-style text for a byte count."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- estimates


def _parameter_count(config: Sam2Config) -> int:
    """Parameters and buffers of the model ``config`` describes (built on the meta device)."""
    import torch

    from .modeling.sam2_model import Sam2Model

    with torch.device("meta"):
        model = Sam2Model(config)
    return sum(t.numel() for t in model.state_dict().values())


def estimate_model_bytes(config: Sam2Config, *, dtype_bytes: int = 4) -> int:
    """Bytes a model of ``config`` needs to encode and track one frame: its weights plus the
    activations at its input size ``config.image_size`` (the part that grows with it squared).

    For the tiny model at 1024 this is about 0.6 GiB; at ``image_size=8192`` about 24 GiB.
    """
    size = int(config.image_size)
    per_pixel = _PER_INPUT_PIXEL_FIXED + _PER_INPUT_PIXEL_PER_WIDTH * config.hiera.embed_dim
    activations = per_pixel * size * size * dtype_bytes / 4
    return int(_parameter_count(config) * dtype_bytes + activations + _FIXED_OVERHEAD)


def estimate_frame_bytes(
    height: int, width: int, dtype: Any = np.uint8, channels: int = 1, objects: int = 1
) -> int:
    """Host bytes one video frame of ``height x width`` needs on its way through the engine.

    Counts the raw frame (``channels`` values of ``dtype``), its contrast-mapped RGB copy
    (float32 unless the data is uint8) and the copy resized for the model, twice (the next
    frame is prepared while this one is tracked), the contrast estimate's float64 sample and
    its sorted copy, and the mask logits (float32) and mask (bool) of each of ``objects`` at
    the frame's resolution. Measured through ``track`` on lazy 16-bit gray 6000 x 6000 frames:
    58 bytes per pixel with one object, 68 with three (estimates 63 and 73).
    """
    itemsize = np.dtype(dtype).itemsize
    pixels = int(height) * int(width)
    per_pixel = channels * itemsize
    if np.dtype(dtype) == np.uint8:
        per_pixel += 2 * (3 + 3)  # RGB view, PIL's resize input; this frame and the next
    else:
        # float32 mapping, RGB float32, one channel resized; this frame and the next
        per_pixel += 2 * (4 * channels + 12 + 4)
        per_pixel += 16  # the contrast estimate: a float64 sample and its sorted copy
    per_pixel += 5 * max(1, int(objects))  # float32 logits + bool mask per object
    return pixels * per_pixel


def estimate_image_bytes(height: int, width: int, dtype: Any = np.uint8, channels: int = 1) -> int:
    """Host bytes ``ImagePredictor.set_image`` and one ``predict`` need for an image of
    ``height x width``: the percentile estimate (float64), the float RGB tensor and its resized
    copy, and three float32 masks at the image's resolution with their threshold."""
    itemsize = np.dtype(dtype).itemsize
    pixels = int(height) * int(width)
    per_pixel = channels * itemsize + 8 + 12 + 12 + 12 + 12 + 3
    if np.dtype(dtype) == np.uint8:
        per_pixel -= 8  # no percentile estimate
    return pixels * per_pixel


# --------------------------------------------------------------------------- available


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_available() -> int | None:
    """What the process's memory cgroup still allows (limit minus non-reclaimable usage)."""
    unlimited = 1 << 60
    v2 = Path("/sys/fs/cgroup")
    limit = _read_int(v2 / "memory.max")
    if limit is not None and limit < unlimited:
        usage = _read_int(v2 / "memory.current") or 0
        return max(0, limit - usage + _stat_value(v2 / "memory.stat", "inactive_file"))
    v1 = Path("/sys/fs/cgroup/memory")
    limit = _read_int(v1 / "memory.limit_in_bytes")
    if limit is not None and limit < unlimited:
        usage = _read_int(v1 / "memory.usage_in_bytes") or 0
        return max(0, limit - usage + _stat_value(v1 / "memory.stat", "total_inactive_file"))
    return None


def _host_memory() -> tuple[int | None, int | None]:
    """``(available, total)`` bytes of host memory, None where unknown."""
    available = total = None
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) * 1024
        total = int(fields["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            page = os.sysconf("SC_PAGE_SIZE")
            total = os.sysconf("SC_PHYS_PAGES") * page
            available = os.sysconf("SC_AVPHYS_PAGES") * page
        except (AttributeError, ValueError, OSError):
            pass
    limited = _cgroup_available()
    if limited is not None:
        available = limited if available is None else min(available, limited)
    return available, total


def available_memory(device: str | torch.device = "cpu") -> tuple[int | None, int | None]:
    """``(available, total)`` bytes on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
    ``"mps"``); ``(None, None)`` where it cannot be read."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        import torch

        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        free, total = torch.cuda.mem_get_info(index)
        cached = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
        return int(free + max(0, cached)), int(total)
    if kind == "mps":
        import torch

        mps = getattr(torch, "mps", None)
        recommended = getattr(mps, "recommended_max_memory", None)
        current = getattr(mps, "current_allocated_memory", None)
        if recommended is None or current is None:
            return None, None
        return int(recommended() - current()), int(recommended())
    return _host_memory()


def check_memory(needed: int, device: str | torch.device, what: str, hint: str = "") -> None:
    """Raise :class:`InsufficientMemoryError` when ``needed`` bytes exceed what ``device`` has
    available; do nothing when the figure cannot be read or ``SAM2_ENGINE_MEMORY_CHECK=0``.

    Arguments:
        needed: the estimate, in bytes.
        device: where the memory is needed.
        what: what needs it, for the message (e.g. ``"a 20000x20000 uint16 frame"``).
        hint: how to need less, appended to the message.
    """
    if os.environ.get(ENV_CHECK, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    available, total = available_memory(device)
    if available is None or needed <= available:
        return
    of_total = f" of {format_bytes(total)}" if total else ""
    raise InsufficientMemoryError(
        f"{what} needs about {format_bytes(needed)} of {device} memory, but only "
        f"{format_bytes(available)}{of_total} is available, so it would fail part way. "
        f"{hint}{' ' if hint else ''}(Estimate from sam2_engine.resources; set "
        f"{ENV_CHECK}=0 to try anyway.)",
        needed=needed,
        available=available,
    )


def model_memory_hint(config: Sam2Config) -> str:
    """How to need less memory for a model."""
    return (
        f"The released models are trained at image_size=1024; image_size={config.image_size} "
        "costs about (image_size / 1024)^2 times as much. Use 1024 (or less), or a device with "
        "more memory."
    )


def frame_memory_hint() -> str:
    """How to need less memory for a frame."""
    return (
        "Crop or downsample the frames first (e.g. open a lower resolution level of an "
        "OME-Zarr, or bin the stack), or free memory."
    )


def check_frame_memory(frames: Any, objects: int = 1) -> None:
    """Refuse a frame source whose frames are too large for this machine's memory (see
    :func:`estimate_frame_bytes`); nothing is read."""
    layout = getattr(frames, "layout", None)
    channels = 3 if getattr(layout, "is_rgb", False) else 1
    height, width = int(frames.height), int(frames.width)
    check_memory(
        estimate_frame_bytes(height, width, frames.dtype, channels, objects),
        "cpu",
        f"One {height}x{width} {frames.dtype} frame",
        frame_memory_hint(),
    )
