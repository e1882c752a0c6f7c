"""Bad checkpoints and a damaged checkpoint cache, as a table (see
``tests/support/bad_inputs.py``): NaN weights, half precision, old pickle formats, pickles that
run code, truncated files, a cache folder that is a file."""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sam2_engine import ImagePredictor, build_model, load_model, weights
from sam2_engine.checkpoint import read_checkpoint, save_checkpoint
from sam2_engine.errors import CacheError, CheckpointError, ModelNotFoundError
from tests.support.bad_inputs import Case, cut, in_dir, run_case, small_config


def checkpoint(folder: Path, change: Callable[[dict], dict] | None = None, **save: Any) -> Path:
    """A checkpoint of the small test model, changed by ``change``."""
    state = build_model(small_config(), seed=0).state_dict()
    state = {k: v.clone() for k, v in state.items()}
    if change is not None:
        state = change(state)
    path = folder / "model.pt"
    if save:
        torch.save({"model": state}, path, **save)
    else:
        save_checkpoint(state, path)
    return path


def poison(key: str, value: float) -> Callable[[dict], dict]:
    def change(state: dict) -> dict:
        state[key].view(-1)[3] = value
        return state

    return change


def to_dtype(dtype: torch.dtype) -> Callable[[dict], dict]:
    return lambda state: {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


class RunsCode:
    """Unpickling this runs a command: the weights-only loader must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def raw_pickle(folder: Path) -> Path:
    state = build_model(small_config(), seed=0).state_dict()
    path = folder / "old.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}}, f)
    return path


def pickle_that_runs_code(folder: Path) -> Path:
    path = folder / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "x": RunsCode(folder / "PWNED")}, path)
    return path


def legacy_with_objects(folder: Path) -> Path:
    state = build_model(small_config(), seed=0).state_dict()
    path = folder / "legacy.pt"
    extra = {"model": state, "args": argparse.Namespace(lr=0.1)}
    torch.save(extra, path, _use_new_zipfile_serialization=False)
    return path


def cached_truncated(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = folder / "home"
    monkeypatch.setenv(weights.ENV_HOME, str(home))
    good = checkpoint(folder)
    target = home / "checkpoints" / "sam2.1_hiera_tiny.pt"
    target.parent.mkdir(parents=True)
    data = good.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    return target


def home_is_a_file(ctx: dict) -> Path:
    path = ctx["dir"] / "not-a-folder"
    path.write_text("I am a file")
    ctx["monkeypatch"].setenv(weights.ENV_HOME, str(path))
    return path


def float32_weights(model, ctx) -> None:
    assert all(p.dtype == torch.float32 for p in model.state_dict().values())
    predictor = ImagePredictor(model)
    predictor.set_image(np.zeros((32, 32, 3), np.uint8))
    _, scores, _ = predictor.predict(point_coords=[[5, 5]], point_labels=[1])
    assert np.isfinite(scores).all()


CASES = [
    Case(
        "checkpoint-nan-weights",
        in_dir(checkpoint, poison("sam_mask_decoder.iou_token.weight", np.nan)),
        lambda c, path: load_model(small_config(), path, "cpu"),
        CheckpointError,
        r"NaN or infinite weights in 1 tensor\(s\): sam_mask_decoder\.iou_token\.weight "
        r"\(1 of 256 values\)",
    ),
    Case(
        "checkpoint-inf-weights",
        in_dir(checkpoint, poison("image_encoder.trunk.pos_embed", np.inf)),
        lambda c, path: read_checkpoint(path),
        CheckpointError,
        r"image_encoder\.trunk\.pos_embed \(1 of \d+ values\)",
    ),
    Case(
        "checkpoint-fp16-loads-as-float32",
        in_dir(checkpoint, to_dtype(torch.float16)),
        lambda c, path: load_model(small_config(), path, "cpu"),
        None,
        "",
        check=float32_weights,
    ),
    Case(
        "checkpoint-bf16-loads-as-float32",
        in_dir(checkpoint, to_dtype(torch.bfloat16)),
        lambda c, path: load_model(small_config(), path, "cpu"),
        None,
        "",
        check=float32_weights,
    ),
    Case(
        "checkpoint-integer-weights",
        in_dir(checkpoint, lambda s: {**s, "no_mem_embed": s["no_mem_embed"].long()}),
        lambda c, path: load_model(small_config(), path, "cpu"),
        CheckpointError,
        r"unusable dtype \(1\): no_mem_embed: torch\.int64, expected torch\.float32",
    ),
    Case(
        "checkpoint-raw-pickle",
        in_dir(raw_pickle),
        lambda c, path: read_checkpoint(path),
        CheckpointError,
        r"raw Python pickle .* refused for safety \(weights_only=True.*convert it once: "
        r"python -c \"import pickle, torch; d = pickle\.load\(open\('.*old\.pkl'",
    ),
    Case(
        "checkpoint-old-torch-format-with-objects",
        in_dir(legacy_with_objects),
        lambda c, path: read_checkpoint(path),
        CheckpointError,
        r"old \(pre-1\.6\) pickle format .* refused for safety .* not necessarily corrupt",
    ),
    Case(
        "checkpoint-pickle-that-runs-code",
        in_dir(pickle_that_runs_code),
        lambda c, path: read_checkpoint(path),
        CheckpointError,
        r"holds Python objects other than tensors, which are refused for safety",
    ),
    Case(
        "checkpoint-cut-to-two-thirds",
        lambda c: cut(checkpoint(c["dir"])),
        lambda c, path: read_checkpoint(path),
        CheckpointError,
        r"incomplete PyTorch file .* corrupt or truncated",
    ),
    Case(
        "cache-truncated-checkpoint",
        lambda c: cached_truncated(c["dir"], c["monkeypatch"]),
        lambda c, path: weights.ensure_checkpoint(path.stem, allow_download=False),
        ModelNotFoundError,
        r"cached 'sam2\.1_hiera_tiny' checkpoint .* is incomplete \(\d+ bytes, the archive's "
        r"end record is missing",
    ),
    Case(
        "cache-home-is-a-file",
        home_is_a_file,
        lambda c, path: weights.checkpoint_status(),
        CacheError,
        r"NAPARI_SAM2_HOME='.*not-a-folder' points at a file, not a folder",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, small_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_case(case, small_model, tmp_path, monkeypatch)
