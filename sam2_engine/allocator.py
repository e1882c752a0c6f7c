"""Keeping a long propagation from growing the process: how the C heap serves large blocks.

glibc's ``malloc`` serves blocks above a threshold with their own ``mmap`` and gives them back
to the system on ``free``. By default that threshold rises to the size of any such block freed
(up to 32 MiB), after which the model's per-frame tensors (image features, attention buffers,
memories: hundreds of KiB to tens of MiB) come from the heap instead. Short-lived and
long-lived blocks then interleave there, freed space cannot be returned, and the process grows
by a few MB with every propagated frame (measured: +3.9 MB/frame of peak RSS, tiny model at a
1024 input) although nothing is kept. A fixed threshold turns the dynamic rise off: every block
of 2 MiB or more is mapped and unmapped on its own, and memory stays flat over any number of
frames. Smaller blocks are reused from the heap, which they do not fragment measurably.

Freshly mapped memory costs page faults. PyTorch can back its CPU tensors of 2 MiB or more with
transparent huge pages (environment variable ``THP_MEM_ALLOC_ENABLE=1``, read once, at torch's
first CPU allocation), which turns every 512 of those faults into one. Importing
``sam2_engine`` asks for it unless the variable is already set; it has no effect if torch
allocated before. With both, the threshold at 2 MiB sits exactly where huge pages begin.

The threshold is process-wide and set once, when the first video session starts. Set the
environment variable ``SAM2_ENGINE_MALLOC_TUNING=0`` to leave both alone. Other C libraries
(musl, macOS, Windows) do not have this behaviour; nothing is done there.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

#: Blocks of this many bytes or more get their own memory mapping.
LARGE_BLOCK_BYTES = 2 * 1024 * 1024

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_ENV = "SAM2_ENGINE_MALLOC_TUNING"
_TORCH_HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"
_lock = threading.Lock()
_applied: int | None = None  # the threshold set, once done


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (raises AttributeError on musl)
    except (OSError, AttributeError):
        return None
    return libc


def _tuning_allowed() -> bool:
    return os.environ.get(_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def ask_torch_for_huge_pages() -> bool:
    """Ask PyTorch to back CPU tensors of 2 MiB or more with transparent huge pages (see the
    module doc). Keeps a value the user set. Returns True when the request stands."""
    if not sys.platform.startswith("linux") or not _tuning_allowed():
        return False
    return os.environ.setdefault(_TORCH_HUGE_PAGES_ENV, "1") == "1"


def map_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Have glibc map every block of ``threshold`` bytes or more on its own (see module doc).

    Returns True when the setting is in effect (now or from an earlier call), False on other C
    libraries or when ``SAM2_ENGINE_MALLOC_TUNING=0``.
    """
    global _applied
    if not _tuning_allowed():
        return False
    with _lock:
        if _applied is not None:
            return True
        libc = _glibc()
        if libc is None or libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)) != 1:
            return False
        _applied = int(threshold)
        return True
