"""Peak memory against stack length, ours and the official implementation, in one run.

A synthetic 512x512 uint16 time-lapse (a bright blob drifting over noise) is written once to
disk; each measurement runs in its own process (so peak RSS is that run's alone): open the
stack, click the blob on frame 0, propagate through every frame, record peak RSS and the
median time per propagated frame (frames >= 7, when the memory bank is full).

Ours reads the 16-bit TIFF lazily. The official predictor can only read JPEG folders, so it
gets the same frames as 8-bit JPEGs (written once; not timed) and loads all of them at
``init_state``, as it always does.

    python benchmarks/bench_memory.py --ours 100 400 1000 --official 100
    python benchmarks/bench_memory.py --first-mask 2000 --official-first-mask 200

Each propagated frame of the tiny model costs several seconds on a 2-core CPU: plan long runs
(1000 frames of ours is about 1.5 h there).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL = "sam2.1_hiera_tiny"
SIZE = 512
CLICK = (160.0, 200.0)  # (x, y) inside the blob on frame 0


def blob_frame(t: int, rng: np.random.Generator) -> np.ndarray:
    """One 512x512 uint16 frame: camera-like noise (12-bit range) and a drifting bright blob."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    cy, cx = 200 + 40 * np.sin(t / 25), 160 + (t % 300) * 0.6
    blob = np.exp(-(((yy - cy) / 45) ** 2 + ((xx - cx) / 60) ** 2))
    frame = 300 + 900 * blob + rng.normal(0, 30, (SIZE, SIZE))
    return np.clip(frame, 0, 4095).astype(np.uint16)


def write_tiff(folder: Path, frames: int) -> Path:
    """The 16-bit TIFF our predictor reads (written once, cached in ``folder``)."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    tiff = folder / f"stack_{frames}.tif"
    if not tiff.exists():
        rng = np.random.default_rng(0)
        with tifffile.TiffWriter(tiff, bigtiff=True) as writer:
            for t in range(frames):
                writer.write(blob_frame(t, rng), contiguous=True)
    return tiff


def write_jpegs(folder: Path, frames: int) -> Path:
    """The same frames as an 8-bit JPEG folder, the only input the official predictor reads."""
    import tifffile
    from PIL import Image

    jpegs = folder / f"jpeg_{frames}"
    if not jpegs.exists():
        data = tifffile.memmap(write_tiff(folder, frames))
        tmp = folder / f".jpeg_{frames}.partial"
        tmp.mkdir(exist_ok=True)
        for t in range(frames):
            gray = np.clip((data[t].astype(np.float32) - 300) / 900 * 255, 0, 255).astype(np.uint8)
            Image.fromarray(gray).convert("RGB").save(tmp / f"{t:05d}.jpg", quality=95)
        tmp.rename(jpegs)
    return jpegs


def input_for(who: str, folder: Path, frames: int) -> Path:
    return write_tiff(folder, frames) if who == "ours" else write_jpegs(folder, frames)


def _random_model_state():
    sys.path.insert(0, str(HERE.parent))
    from tests.support import oracle

    return oracle, oracle.random_official_state_dict(MODEL, seed=0)


def run_ours(tiff: Path, first_mask_only: bool) -> dict:
    import torch

    from sam2_engine import VideoPredictor, build_model

    model = build_model(MODEL, object_score_bias=2.0)
    predictor = VideoPredictor(model)
    start = time.perf_counter()
    with torch.inference_mode():
        state = predictor.init_state(tiff)
        _, _, masks = predictor.add_new_points_or_box(state, 0, 1, points=[CLICK], labels=[1])
        first_mask = time.perf_counter() - start
        if first_mask_only:
            return {"first_mask_s": first_mask, "frames": state.num_frames}
        times = _timed_propagation(predictor.propagate_in_video(state))
    return {"first_mask_s": first_mask, "frames": state.num_frames, "frame_s": times}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_propagation(frames) -> list[float]:
    """Seconds per propagated frame (frames >= 7); reports the peak RSS every 100 frames on
    stderr, so a long run shows how memory develops (and leaves figures if it is stopped)."""
    times, last = [], time.perf_counter()
    for frame_idx, _, _ in frames:
        now = time.perf_counter()
        if frame_idx >= 7:
            times.append(now - last)
        last = now
        if frame_idx % 100 == 0:
            print(f"  frame {frame_idx}: peak RSS {_peak_rss_mb():.0f} MB", file=sys.stderr)
    return times


def run_official(jpegs: Path, first_mask_only: bool) -> dict:
    import torch

    oracle, state_dict = _random_model_state()
    predictor = oracle.build_official(MODEL, state_dict, video=True)
    start = time.perf_counter()
    with torch.inference_mode():
        state = predictor.init_state(str(jpegs))
        predictor.add_new_points_or_box(state, 0, 1, points=[CLICK], labels=[1])
        first_mask = time.perf_counter() - start
        if first_mask_only:
            return {"first_mask_s": first_mask, "frames": state["num_frames"]}
        times = _timed_propagation(predictor.propagate_in_video(state))
    return {"first_mask_s": first_mask, "frames": state["num_frames"], "frame_s": times}


def child(args) -> None:
    """Runs one measurement and prints its result as JSON on the last line."""
    import torch

    torch.set_num_threads(args.threads)
    path = Path(args.path)
    result = (run_ours if args.child == "ours" else run_official)(path, args.first_mask_only)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def measure(who: str, path: Path, threads: int, first_mask_only: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", who, "--path", str(path), "--threads", str(threads)]
    if first_mask_only:
        cmd.append("--first-mask-only")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if who == "official":  # PyTorch's defaults (our import asks for huge pages, allocator.py)
        env["THP_MEM_ALLOC_ENABLE"] = "0"
    print(f"{who} {path.name}:", flush=True)
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as child:
        errors = []
        for line in child.stderr:  # progress lines, shown as they come
            print(line.rstrip(), flush=True)
            errors.append(line)
        out = child.stdout.read()
    if child.returncode != 0:
        return {"error": errors[-1].strip() if errors else "failed"}
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", type=int, nargs="*", default=[100, 400, 1000])
    parser.add_argument("--official", type=int, nargs="*", default=[100])
    parser.add_argument("--first-mask", type=int, default=0, help="frames of the first-mask TIFF")
    parser.add_argument("--official-first-mask", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/napari_sam2_bench"))
    parser.add_argument("--child", choices=["ours", "official"])
    parser.add_argument("--path")
    parser.add_argument("--first-mask-only", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    if args.first_mask:
        rows = []
        for who, frames in (("ours", args.first_mask), ("official", args.official_first_mask)):
            res = measure(who, input_for(who, args.data, frames), args.threads, True)
            rows.append((who, frames, res))
            print(who, frames, res, flush=True)
        print(f"\ntime to first mask (open, click frame 0, mask), {MODEL}, fp32, CPU")
        print(f"{'who':10s} {'frames':>7s} {'seconds':>9s} {'peak RSS MB':>12s}")
        for who, frames, res in rows:
            print(
                f"{who:10s} {frames:7d} {res.get('first_mask_s', float('nan')):9.2f} "
                f"{res.get('peak_rss_mb', float('nan')):12.0f}"
            )
        return

    rows = []
    for who, lengths in (("official", args.official), ("ours", args.ours)):
        for frames in lengths:
            res = measure(who, input_for(who, args.data, frames), args.threads)
            rows.append((who, frames, res))
            print(who, frames, {k: v for k, v in res.items() if k != "frame_s"}, flush=True)
    print(f"\npeak RSS and time per propagated frame, {MODEL}, 1 object, fp32, CPU")
    print(f"{'who':10s} {'frames':>7s} {'peak RSS MB':>12s} {'s/frame (>=7)':>14s}")
    for who, frames, res in rows:
        per_frame = statistics.median(res["frame_s"]) if res.get("frame_s") else float("nan")
        print(
            f"{who:10s} {frames:7d} {res.get('peak_rss_mb', float('nan')):12.0f} {per_frame:14.2f}"
        )


if __name__ == "__main__":
    main()
