"""What the command-line tests share: a random tiny checkpoint, a small movie, and running
``napari-sam2`` in a new process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from sam2_engine import save_random_checkpoint

MODEL = "sam2.1_hiera_tiny"
SIZE = "128"  # the model input side: tiny at 128 px keeps each frame well under a second


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random sam2.1_hiera_tiny weights in the official format (objects judged present)."""
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    return save_random_checkpoint(path, MODEL, object_score_bias=2.0)


def write_movie(path: Path, frames: int = 4) -> Path:
    """A (frames, 48, 64) uint8 TIFF: a bright blob drifting over a gradient."""
    yy, xx = np.mgrid[0:48, 0:64]
    stack = [40 + xx + 150 * ((yy - 16) ** 2 + (xx - 18 - t % 20) ** 2 < 64) for t in range(frames)]
    tifffile.imwrite(path, np.stack(stack).astype(np.uint8), photometric="minisblack")
    return path


@pytest.fixture(scope="module")
def movie(tmp_path_factory) -> Path:
    """A (4, 48, 64) uint8 TIFF."""
    return write_movie(tmp_path_factory.mktemp("data") / "movie.tif")


def model_args(checkpoint: Path) -> list[str]:
    return ["--model", MODEL, "--checkpoint", str(checkpoint), "--image-size", SIZE]


def command(*args: str) -> list[str]:
    """The argv of ``napari-sam2 ARGS`` in a new Python process."""
    return [sys.executable, "-m", "napari_sam2.cli", *args]


def cli_env(extra: dict | None = None) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "2", **(extra or {})}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``napari-sam2 ARGS`` in a new process, to its end."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=300, env=cli_env(env)
    )


def main(*args: str) -> int:
    """``napari-sam2 ARGS`` in this process; argparse's own exits become return codes."""
    from napari_sam2 import cli

    try:
        return cli.main(list(args))
    except SystemExit as exit:
        return exit.code
