"""The C-heap setting that keeps long propagations flat (``sam2_engine.allocator``).

Each case runs in a fresh interpreter: the setting is process-wide and cannot be undone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sam2_engine.allocator import LARGE_BLOCK_BYTES, _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="the setting exists only in glibc")

# Frees 200 blocks of 1 MiB that lie below a block still in use, as a propagated frame's
# transient tensors lie below the memories it keeps: prints the process growth left behind.
SCRIPT = """
import numpy as np
from sam2_engine.allocator import map_large_blocks

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

applied = map_large_blocks()
np.ones(1 << 20, np.uint8)  # a freed 1 MiB block: glibc's own threshold rises to its size
before = rss_mb()
blocks = [np.ones(1 << 20, np.uint8) for _ in range(200)]
kept = np.ones(200_000, np.uint8)
del blocks
print(applied, rss_mb() - before)
"""


def _run(tuning: str) -> tuple[bool, float]:
    env = dict(os.environ, SAM2_ENGINE_MALLOC_TUNING=tuning)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    applied, growth = out.stdout.split()
    return applied == "True", float(growth)


def test_large_blocks_go_back_to_the_system_when_freed():
    applied, growth = _run("1")
    assert applied
    assert growth < 20  # MB


def test_the_setting_can_be_turned_off_and_then_freed_blocks_stay():
    applied, growth = _run("0")
    assert not applied
    assert growth > 150  # glibc's default: the freed megabytes stay in the process


def test_a_video_session_applies_the_setting():
    script = (
        "import numpy as np\n"
        "from sam2_engine import VideoPredictor, allocator, build_model, thin_config\n"
        "assert allocator._applied is None\n"
        "predictor = VideoPredictor(build_model(thin_config()))\n"
        "predictor.init_state(np.zeros((2, 32, 32), np.uint8))\n"
        "print(allocator._applied)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(out.stdout) == LARGE_BLOCK_BYTES
