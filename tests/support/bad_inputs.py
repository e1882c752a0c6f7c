"""The bad-input tables of ``tests/engine/test_bad_input_*.py``: the :class:`Case` record, the
helpers the cases share, and :func:`run_case`, which checks one case.

Every case ends in a clear error (its type and a phrase of its message are checked) or in a
stated warning with a correct result, and the user's input files are byte-identical afterwards.
The cases are the engine's part of issue #12 ("Nothing lost, nothing silent"), one table per
topic: frames, checkpoints and the cache, prompts, memory.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sam2_engine import VideoPredictor, resources
from sam2_engine.frames import FrameSourceWarning
from tests.support.models import small_config

__all__ = [
    "Case",
    "cut",
    "in_dir",
    "nothing",
    "ramp",
    "run_case",
    "small_config",
    "snapshot",
    "video",
]


def ramp(t: int = 6, h: int = 64, w: int = 80, dtype: Any = np.uint16) -> np.ndarray:
    """A stack with distinct, non-constant frames."""
    data = (np.arange(t * h * w) % 4001).reshape(t, h, w) + 100 * np.arange(t)[:, None, None]
    return data.astype(dtype)


def cut(path: Path, fraction: float = 2 / 3) -> Path:
    """A copy of ``path`` cut to ``fraction`` of its size (an interrupted copy)."""
    data = path.read_bytes()
    out = path.with_name(f"cut-{path.name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@dataclass
class Case:
    """One bad input. ``make(ctx)`` writes the user's input (files in ``ctx["dir"]``, snapshot
    before the engine runs) and returns it; ``act(ctx, made)`` is the engine call. It must raise
    ``raises`` matching ``match``, or warn ``warns`` matching ``match`` (or not warn at all,
    with neither) and return a result that ``check(result, ctx)`` accepts."""

    id: str
    make: Callable[[dict], Any]
    act: Callable[[dict, Any], Any]
    raises: type[BaseException] | None
    match: str
    warns: type[Warning] | None = None
    check: Callable[[Any, dict], None] | None = None


def nothing(ctx: dict) -> None:
    return None


def in_dir(maker: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[dict], Any]:
    return lambda ctx: maker(ctx["dir"], *args, **kwargs)


def video(ctx: dict, video_input: Any, **options: Any):
    predictor = VideoPredictor(ctx["model"])
    return predictor, predictor.init_state(video_input, **options)


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_case(case: Case, small_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the case's input in ``tmp_path``, run the engine on it and check the outcome."""
    monkeypatch.delenv(resources.ENV_CHECK, raising=False)
    ctx = {"model": small_model, "dir": tmp_path, "monkeypatch": monkeypatch}
    made = case.make(ctx)
    before = snapshot(tmp_path)
    if case.raises is not None:
        with pytest.raises(case.raises, match=case.match):
            case.act(ctx, made)
    elif case.warns is not None:
        with pytest.warns(case.warns, match=case.match):
            result = case.act(ctx, made)
        case.check(result, ctx)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FrameSourceWarning)  # a correct result, no warning
            result = case.act(ctx, made)
        case.check(result, ctx)
    after = snapshot(tmp_path)
    assert {k: after.get(k) for k in before} == before  # the user's files are byte-identical
    assert not (tmp_path / "PWNED").exists()  # nothing in a checkpoint ran
