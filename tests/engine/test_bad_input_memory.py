"""Models and frames too large for the machine's memory, as a table (see
``tests/support/bad_inputs.py``): each is refused before it is allocated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest

from sam2_engine import ImagePredictor, build_model, get_config, resources
from sam2_engine.errors import InsufficientMemoryError
from tests.support.bad_inputs import Case, nothing, run_case, video

GiB = 2**30


def too_little_memory(ctx: dict, available: int) -> None:
    ctx["monkeypatch"].setattr(resources, "available_memory", lambda device: (available, 16 * GiB))


def big_model(ctx: dict, made: Any):
    too_little_memory(ctx, 8 * GiB)
    return build_model(get_config("sam2.1_hiera_tiny", image_size=8192))


def big_frame(ctx: dict, made: Any):
    too_little_memory(ctx, 4 * GiB)
    lazy = da.zeros((2, 20000, 20000), dtype=np.uint16, chunks=(1, 2000, 2000))
    return video(ctx, lazy)


def big_image(ctx: dict, made: Any):
    too_little_memory(ctx, 4 * GiB)
    image = np.broadcast_to(np.uint16(7), (20000, 20000))  # no memory behind it
    ImagePredictor(ctx["model"]).set_image(image)


CASES = [
    Case(
        "image-size-8192",
        nothing,
        big_model,
        InsufficientMemoryError,
        r"Model 'sam2\.1_hiera_tiny' at image_size=8192 needs about 2\d\.\d GiB of cpu "
        r"memory, but only 8\.0 GiB of 16\.0 GiB is available",
    ),
    Case(
        "lazy-20000x20000-frame",
        nothing,
        big_frame,
        InsufficientMemoryError,
        r"One 20000x20000 uint16 frame needs about \d+\.\d GiB .* Crop or downsample",
    ),
    Case(
        "20000x20000-image",
        nothing,
        big_image,
        InsufficientMemoryError,
        r"Preparing image of 20000x20000 uint16 needs about \d+\.\d GiB",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, small_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_case(case, small_model, tmp_path, monkeypatch)
