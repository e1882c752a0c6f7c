"""The C-heap setting that keeps long propagations flat (``sam2_engine.allocator``).

Each case runs in a fresh interpreter: the setting is process-wide and cannot be undone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sam2_engine.allocator import LARGE_BLOCK_BYTES, _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="the setting exists only in glibc")

# Frees 50 blocks of twice the threshold that lie below a block still in use, as a propagated
# frame's transient tensors lie below the memories it keeps: prints the process growth left behind.
SCRIPT = """
import numpy as np
from sam2_engine.allocator import LARGE_BLOCK_BYTES, map_large_blocks

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

size = 2 * LARGE_BLOCK_BYTES
applied = map_large_blocks()
np.ones(size, np.uint8)  # a freed large block: glibc's own threshold rises to its size
before = rss_mb()
blocks = [np.ones(size, np.uint8) for _ in range(50)]
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
    assert growth > 150  # glibc's default: the freed 200 MB stay in the process


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


HUGE_PAGES_SCRIPT = """
import os
import sam2_engine  # noqa: F401  (the import makes the request)
import torch

block = torch.ones(32 << 18)  # 32 MiB
huge_kb = [int(line.split()[1]) for line in open("/proc/self/smaps_rollup")
           if line.startswith("AnonHugePages")][0]
print(os.environ.get("THP_MEM_ALLOC_ENABLE"), huge_kb)
"""


def _huge_pages_run(**env_vars: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    env.update(env_vars)
    out = subprocess.run(
        [sys.executable, "-c", HUGE_PAGES_SCRIPT], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    request, huge_kb = out.stdout.split()
    return request, int(huge_kb)


def _transparent_huge_pages_available() -> bool:
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as mode:
        return "[never]" not in mode.read()


def test_importing_the_engine_gets_large_tensors_huge_pages():
    request, huge_kb = _huge_pages_run()
    assert request == "1"
    if _transparent_huge_pages_available():
        assert huge_kb >= 16 * 1024  # most of the 32 MiB block


def test_a_huge_pages_setting_of_the_user_is_kept_and_tuning_off_asks_nothing():
    assert _huge_pages_run(THP_MEM_ALLOC_ENABLE="0")[0] == "0"
    assert _huge_pages_run(SAM2_ENGINE_MALLOC_TUNING="0")[0] == "None"
