"""Bad input to the engine, as one table: every case ends in a clear error (its type and a phrase
of its message are checked) or in a stated warning with a correct result, and the user's input
files are byte-identical afterwards.

The cases are the engine's part of issue #12 ("Nothing lost, nothing silent"): damaged TIFFs,
TIFF samples axes, zarr stores with missing chunks, complex and all-NaN videos, checkpoints with
NaN weights, in half precision or an old pickle format, a damaged checkpoint cache, malformed
prompts, and models or frames too large for the machine's memory.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import tifffile
import torch
import zarr

from sam2_engine import (
    ImagePredictor,
    VideoPredictor,
    build_model,
    get_config,
    load_model,
    resources,
    thin_config,
    weights,
)
from sam2_engine.checkpoint import read_checkpoint, save_checkpoint
from sam2_engine.errors import (
    CacheError,
    CheckpointError,
    ImageInputError,
    InsufficientMemoryError,
    ModelNotFoundError,
    PromptError,
)
from sam2_engine.frames import FrameReadError, FrameSourceError, FrameSourceWarning, open_frames
from sam2_engine.prompts import MAX_POINTS

GiB = 2**30


def small_config():
    return thin_config("test_small")


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


def damage_page(path: Path, page: int) -> Path:
    """A copy of ``path`` whose compressed page ``page`` has its middle bytes zeroed."""
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[page].dataoffsets[0], tif.pages[page].databytecounts[0]
    data[offset + 8 : offset + count - 8] = bytes(count - 16)
    out = path.with_name(f"damaged-{path.name}")
    out.write_bytes(bytes(data))
    return out


def read_all(source) -> list[np.ndarray]:
    return [source.read_rgb(i) for i in range(len(source))]


# --------------------------------------------------------------------------- inputs
# Each maker writes the case's input files into a folder and returns what the action needs.


def tiff_cut(folder: Path, **write: Any) -> Path:
    path = folder / "stack.tif"
    tifffile.imwrite(path, ramp(), **write)
    return cut(path)


def tiff_damaged(folder: Path) -> Path:
    path = folder / "stack.tif"
    tifffile.imwrite(path, ramp(), compression="zlib")
    return damage_page(path, 3)


def tiff_samples(folder: Path, shape: tuple[int, ...], dtype: Any, **write: Any) -> Path:
    path = folder / "samples.tif"
    data = (np.arange(np.prod(shape)) % 251).reshape(shape).astype(dtype)
    with warnings.catch_warnings():  # tifffile's own note that this layout is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(path, data, **write)
    return path


def zarr_missing_chunk(folder: Path) -> Path:
    path = folder / "video.zarr"
    array = zarr.create_array(str(path), shape=(4, 32, 48), chunks=(1, 32, 48), dtype="uint16")
    array[:] = ramp(4, 32, 48)
    shutil.rmtree(path / "c" / "2")  # frame 2's only chunk
    return path


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


# --------------------------------------------------------------------------- the table


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


def click(ctx: dict, **kwargs: Any):
    predictor, state = video(ctx, ramp(3, 32, 48))
    arguments = {"frame_idx": 0, "obj_id": 1, "points": [[5, 5]], "labels": [1], **kwargs}
    try:
        return predictor.add_new_points_or_box(state, **arguments)
    finally:
        assert state.obj_ids in ([], [1])


def propagate_file(ctx: dict, path: Path):
    predictor, state = video(ctx, path)
    predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])
    return list(predictor.propagate_in_video(state))


def propagate(ctx: dict, **kwargs: Any):
    predictor, state = video(ctx, ramp(3, 32, 48))
    predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])
    return next(predictor.propagate_in_video(state, **kwargs))


def first_click(ctx: dict, video_input: Any):
    predictor, state = video(ctx, video_input)
    return predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])


def mask_prompt(ctx: dict, mask: np.ndarray):
    predictor, state = video(ctx, ramp(3, 32, 48))
    try:
        return predictor.add_new_mask(state, 0, 1, mask)
    finally:
        assert state.obj_ids == []  # nothing half-done


def pile_up_points(ctx: dict):
    predictor, state = video(ctx, ramp(3, 32, 48))
    many = np.full((MAX_POINTS, 2), 5.0)
    predictor.add_new_points_or_box(state, 0, 1, points=many, labels=np.ones(MAX_POINTS))
    return predictor.add_new_points_or_box(
        state, 0, 1, points=[[6, 6]], labels=[1], clear_old_points=False
    )


def image_predict(ctx: dict, **kwargs: Any):
    predictor = ImagePredictor(ctx["model"])
    predictor.set_image(np.zeros((32, 48), np.uint8))
    return predictor.predict(point_coords=[[5, 5]], point_labels=[1], **kwargs)


def home_is_a_file(ctx: dict) -> Path:
    path = ctx["dir"] / "not-a-folder"
    path.write_text("I am a file")
    ctx["monkeypatch"].setenv(weights.ENV_HOME, str(path))
    return path


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


def length_is(n: int, axes: str):
    def check(source, ctx) -> None:
        assert len(source) == n
        assert source.metadata["axes"] == axes
        frames = read_all(source)
        assert all(f.shape[:2] == (source.height, source.width) for f in frames)
        source.close()

    return check


def float32_weights(model, ctx) -> None:
    assert all(p.dtype == torch.float32 for p in model.state_dict().values())
    predictor = ImagePredictor(model)
    predictor.set_image(np.zeros((32, 32, 3), np.uint8))
    _, scores, _ = predictor.predict(point_coords=[[5, 5]], point_labels=[1])
    assert np.isfinite(scores).all()


def frame_2_blank(result, ctx) -> None:
    source, frame = result
    assert frame.max() == 0 and source.read(1).min() > 0


def missing_chunk(mode: str):
    def act(ctx: dict, path: Path):
        source = open_frames(path, missing_chunks=mode)
        return source, source.read(2)

    return act


def opened(ctx: dict, path: Path, **options: Any):
    return open_frames(path, **options)


CASES = [
    # ---- frames: damaged TIFFs are refused, naming the missing frames
    Case(
        "tiff-cut-to-two-thirds",
        in_dir(tiff_cut),
        opened,
        FrameSourceError,
        r"truncated or damaged: it declares 6 frames \(shape \(6, 64, 80\)\) but only 4 are "
        r"complete; frames 4\.\.5 are missing",
    ),
    Case(
        "tiff-zlib-cut-to-two-thirds",
        in_dir(tiff_cut, compression="zlib"),
        opened,
        FrameSourceError,
        r"declares 6 frames .* but only 3 are complete; frames 3\.\.5 are missing",
    ),
    Case(
        "tiff-imagej-cut",
        in_dir(tiff_cut, imagej=True, metadata={"axes": "TYX"}),
        opened,
        FrameSourceError,
        r"images=6 in its ImageJ header\) but only 4 are complete",
    ),
    Case(
        "tiff-ome-cut",
        in_dir(tiff_cut, ome=True, metadata={"axes": "TYX"}),
        opened,
        FrameSourceError,
        r"after page 0 it points to another page at byte \d+, beyond its end",
    ),
    Case(
        "tiff-zlib-page-damaged",
        in_dir(tiff_damaged),
        lambda c, path: read_all(open_frames(path)),
        FrameReadError,
        r"frame 3 of .*damaged-stack\.tif: page 3 is damaged and cannot be decoded",
    ),
    Case(
        "tiff-zlib-page-damaged-while-tracking",
        in_dir(tiff_damaged),
        propagate_file,
        FrameReadError,
        r"frame 3 of .*page 3 is damaged",
    ),
    # ---- frames: a samples axis is never guessed silently
    Case(
        "tiff-4-samples-uint16-are-frames",
        in_dir(tiff_samples, (4, 96, 128), np.uint16),
        opened,
        None,
        r"4 planar samples per pixel \(uint16.*read as 4 frames along T.*axes='CYX'",
        warns=FrameSourceWarning,
        check=length_is(4, "TYX"),
    ),
    Case(
        "tiff-3-samples-uint16-are-frames",
        in_dir(tiff_samples, (3, 96, 128), np.uint16),
        opened,
        None,
        r"read as 3 frames along T",
        warns=FrameSourceWarning,
        check=length_is(3, "TYX"),
    ),
    Case(
        "tiff-3-samples-uint8-planar-is-rgb-stated",
        in_dir(tiff_samples, (3, 96, 128), np.uint8),
        opened,
        None,
        r"read as one RGB image per page\. If these are 3 frames .* pass axes='TYX'",
        warns=FrameSourceWarning,
        check=length_is(1, "CYX"),
    ),
    Case(
        "tiff-3-samples-uint8-axes-given",
        in_dir(tiff_samples, (3, 96, 128), np.uint8),
        lambda c, path: open_frames(path, axes="TYX"),
        None,
        "",
        check=length_is(3, "TYX"),
    ),
    Case(
        "tiff-2-interleaved-samples-ask-for-axes",
        in_dir(
            tiff_samples, (96, 128, 2), np.uint16, photometric="minisblack", planarconfig="contig"
        ),
        opened,
        FrameSourceError,
        r"2 interleaved samples .* not clear whether .* axes='YXC' reads them as channels",
    ),
    # ---- frames: missing zarr chunks, complex and all-NaN data
    Case(
        "zarr-missing-chunk-warns",
        in_dir(zarr_missing_chunk),
        missing_chunk("warn"),
        None,
        r"frame 2 of .*video\.zarr touches 1 chunk\(s\) missing from the store \(c/2/0/0\)",
        warns=FrameSourceWarning,
        check=frame_2_blank,
    ),
    Case(
        "zarr-missing-chunk-error",
        in_dir(zarr_missing_chunk),
        missing_chunk("error"),
        FrameReadError,
        r"frame 2 .* missing from the store .* missing_chunks=\"fill\"",
    ),
    Case(
        "zarr-missing-chunk-fill-allowed",
        in_dir(zarr_missing_chunk),
        missing_chunk("fill"),
        None,
        "",
        check=frame_2_blank,
    ),
    Case(
        "zarr-option-on-a-numpy-video",
        nothing,
        lambda c, _: open_frames(ramp(), missing_chunks="error"),
        FrameSourceError,
        r"missing_chunks='error' applies to zarr stores only",
    ),
    Case(
        "complex-video",
        nothing,
        lambda c, _: video(c, ramp().astype(np.complex64)),
        FrameSourceError,
        r"complex numbers \(complex64\).*drop the imaginary part.*np\.abs\(video\)",
    ),
    Case(
        "complex-image",
        nothing,
        lambda c, _: ImagePredictor(c["model"]).set_image(np.ones((32, 32), np.complex128)),
        ImageInputError,
        r"complex numbers .*np\.abs\(image\)",
    ),
    Case(
        "all-nan-video",
        nothing,
        lambda c, _: first_click(c, np.full((3, 32, 48), np.nan, np.float32)),
        FrameSourceError,
        r"no finite value: every sampled frame \(0, 1, 2 of 3\) is NaN or infinite",
    ),
    # ---- checkpoints
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
    # ---- prompts
    Case(
        "mask-prompt-full-of-nan",
        nothing,
        lambda c, _: mask_prompt(c, np.full((32, 48), np.nan, np.float32)),
        PromptError,
        r"mask contains 1536 NaN or infinite values \(of 1536\)",
    ),
    Case(
        "obj-id-1.7",
        nothing,
        lambda c, _: click(c, obj_id=1.7),
        PromptError,
        r"obj_id must be an integer, got 1\.7 \(float\) \(floats are not truncated",
    ),
    Case(
        "obj-id-true",
        nothing,
        lambda c, _: click(c, obj_id=True),
        PromptError,
        r"obj_id must be an integer, got the boolean True",
    ),
    Case(
        "frame-0.9",
        nothing,
        lambda c, _: click(c, frame_idx=0.9),
        PromptError,
        r"frame_idx must be an integer, got 0\.9",
    ),
    Case(
        "frame-true",
        nothing,
        lambda c, _: click(c, frame_idx=True),
        PromptError,
        r"frame_idx must be an integer, got the boolean True",
    ),
    Case(
        "flat-points-list",
        nothing,
        lambda c, _: click(c, points=[10, 20, 30, 40], labels=[1, 1]),
        PromptError,
        r"got a flat list of 4 numbers; write one \[x, y\] pair per point, e\.g\. "
        r"\[\[10, 20\], \[30, 40\]\]",
    ),
    Case(
        "fill-hole-area-negative",
        nothing,
        lambda c, _: VideoPredictor(c["model"], fill_hole_area=-5),
        ValueError,
        r"fill_hole_area must be >= 0, got -5",
    ),
    Case(
        "max-hole-area-negative",
        nothing,
        lambda c, _: ImagePredictor(c["model"], max_hole_area=-5),
        ValueError,
        r"max_hole_area must be >= 0, got -5",
    ),
    Case(
        "100000-points",
        nothing,
        lambda c, _: click(c, points=np.full((100_000, 2), 5.0), labels=np.ones(100_000)),
        PromptError,
        rf"100000 clicks in one prompt; at most {MAX_POINTS} are allowed",
    ),
    Case(
        "points-piling-up-past-the-limit",
        nothing,
        lambda c, _: pile_up_points(c),
        PromptError,
        rf"points \(with this frame's earlier clicks\): {MAX_POINTS + 1} clicks",
    ),
    Case(
        "multimask-output-string",
        nothing,
        lambda c, _: image_predict(c, multimask_output="no"),
        TypeError,
        r"multimask_output must be True or False, got 'no'",
    ),
    Case(
        "max-frame-num-negative",
        nothing,
        lambda c, _: propagate(c, max_frame_num_to_track=-3),
        PromptError,
        r"max_frame_num_to_track must be >= 0, got -3",
    ),
    # ---- memory
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


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, small_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
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
