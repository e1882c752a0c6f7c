"""Reduced precision that will not pay is said once, where the user is: a Python warning from
the API, one line from the command line, a notification from the dock (issue #16)."""

from __future__ import annotations

import numpy as np
import pytest

import sam2_engine.precision
from napari_sam2 import api
from napari_sam2._engine_link import EngineLink
from napari_sam2.tracking import ModelChoice, load_model
from sam2_engine.options import PredictorOptions
from sam2_engine.precision import PrecisionWarning
from tests.support.cli import MODEL, SIZE, main, model_args


@pytest.fixture
def speedup(monkeypatch):
    """Set what the speed probe measures: ``speedup(0.5)`` makes bf16 half as fast."""

    def set_speedup(value: float) -> None:
        monkeypatch.setattr(sam2_engine.precision, "matmul_speedup", lambda *a, **k: value)

    return set_speedup


def test_the_api_warns_when_bf16_is_slower_here(speedup, tiny_checkpoint) -> None:
    speedup(0.5)
    image = np.full((32, 32), 100, np.uint8)
    with pytest.warns(PrecisionWarning, match="'bf16' will not be faster on this CPU.*0.50x"):
        api.segment_image(image, points=[[5, 5]], model=MODEL, checkpoint=tiny_checkpoint,
                          device="cpu", image_size=int(SIZE), precision="bf16")  # fmt: skip


def test_no_word_when_it_pays_or_for_fp32(speedup, tiny_checkpoint) -> None:
    notes = []
    speedup(2.0)
    load_model(MODEL, PredictorOptions(device="cpu", image_size=128, precision="bf16"),
               checkpoint=tiny_checkpoint, warn=notes.append)  # fmt: skip
    speedup(0.5)
    load_model(MODEL, PredictorOptions(device="cpu", image_size=128),
               checkpoint=tiny_checkpoint, warn=notes.append)  # fmt: skip
    assert notes == []


def test_the_command_line_says_it_in_one_line(speedup, tiny_checkpoint, movie, tmp_path, capsys):
    speedup(0.5)
    out = tmp_path / "labels.tif"
    assert main("track", str(movie), "--point", "0,20,16", "-o", str(out), "--device", "cpu",
                "--precision", "bf16", *model_args(tiny_checkpoint)) == 0  # fmt: skip
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert lines == [lines[0]] and lines[0].startswith("napari-sam2: warning: precision 'bf16'")
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_the_dock_gets_the_note_once(speedup, tiny_checkpoint) -> None:
    speedup(0.5)
    engine = EngineLink()
    options = PredictorOptions(device="cpu", image_size=128, precision="bf16")
    list(engine.load(ModelChoice(MODEL, checkpoint=str(tiny_checkpoint)), options))
    assert len(engine.notes) == 1 and "'fp32' is the better choice" in engine.notes[0]
