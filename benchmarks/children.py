"""What the side-by-side benchmarks share: synthetic frames and measuring in a child process.

Each side (the official code, ours in some setting) runs in a fresh process of its own, so
that no allocator state is shared and peak memory is that run's alone (see docs/engine.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_moving_patches(folder: Path, frames: int, height: int = 480, width: int = 640) -> Path:
    """Noise with two patches moving in opposite directions, as JPEGs 00000.jpg... (the
    official reader's input)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        img = (rng.random((height, width, 3)) * 80).astype(np.uint8)
        x = 100 + 12 * t
        img[150:300, x : x + 160] = (230, 210, 190)
        img[320:420, 420 - 8 * t : 520 - 8 * t] = (90, 200, 120)
        Image.fromarray(img).save(folder / f"{t:05d}.jpg", quality=95)
    return folder


def measure_in_child(cmd: list[str], official: bool, label: str, quiet: bool = False) -> dict:
    """Run a benchmark's child command and return the JSON object of its last output line.

    ``official`` runs it with PyTorch's allocator defaults (importing our engine asks for
    huge pages, see sam2_engine/allocator.py); ``quiet`` hides the child's Python warnings.
    """
    env = dict(os.environ)
    if quiet:
        env["PYTHONWARNINGS"] = "ignore"
    if official:
        env["THP_MEM_ALLOC_ENABLE"] = "0"
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {label}: {result}", file=sys.stderr, flush=True)
    return result
