"""Engine speed, ours against the official implementation, side by side in one run.

Same random weights, same inputs, same thread count. Prints seconds and the ratio
ours / official for: ``set_image`` at 1024, a second click on the same image, and the
propagation of N frames with 1 and 3 objects. Each propagation runs in a fresh process of its
own, so neither implementation inherits the other's allocator state (our video sessions set
glibc's mmap threshold for the whole process, see docs/engine.md).

    python benchmarks/bench_engine.py [--model sam2.1_hiera_tiny] [--frames 12] [--threads 2]

Needs the official ``sam2`` package (the test oracle; see README, "Parity with the official
implementation").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.children import write_moving_patches  # noqa: E402
from sam2_engine import ImagePredictor, VideoPredictor, load_model  # noqa: E402
from sam2_engine.checkpoint import save_checkpoint  # noqa: E402
from tests.support import oracle  # noqa: E402  (makes torchvision importable for sam2)


def timed(fn, repeat: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


OBJECT_PROMPTS = [
    {"obj_id": 1, "points": [[180, 220]], "labels": [1]},
    {"obj_id": 2, "box": [410, 310, 530, 430]},
    {"obj_id": 3, "points": [[60, 60], [600, 450]], "labels": [1, 0]},
]


def propagate_time(predictor, state, objects: int) -> float:
    for kwargs in OBJECT_PROMPTS[:objects]:
        predictor.add_new_points_or_box(state, frame_idx=0, **kwargs)
    start = time.perf_counter()
    for _ in predictor.propagate_in_video(state):
        pass
    return time.perf_counter() - start


def propagation_child(args) -> None:
    """One propagation in this fresh process; prints its seconds as JSON on the last line."""
    with torch.inference_mode():
        if args.child == "official":
            state_dict = oracle.random_official_state_dict(args.model, seed=0)
            predictor = oracle.build_official(args.model, state_dict, video=True)
            state = predictor.init_state(args.frames_dir)
        else:
            model = load_model(args.model, checkpoint=args.checkpoint, device="cpu")
            predictor = VideoPredictor(model, fill_hole_area=0)
            state = predictor.init_state(Path(args.frames_dir))
        print(json.dumps({"seconds": propagate_time(predictor, state, args.objects)}))


def child_env(who: str) -> dict[str, str]:
    """The official code runs with PyTorch's defaults: importing sam2_engine (as this script
    does) asks for huge pages in this process and its children (see sam2_engine/allocator.py)."""
    env = dict(os.environ)
    if who == "official":
        env["THP_MEM_ALLOC_ENABLE"] = "0"
    return env


def propagation_in_subprocess(who: str, args, folder: Path, ckpt: Path, objects: int) -> float:
    cmd = [sys.executable, __file__, "--child", who, "--model", args.model]
    cmd += ["--threads", str(args.threads), "--frames-dir", str(folder)]
    cmd += ["--checkpoint", str(ckpt), "--objects", str(objects)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=child_env(who))
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "official"], help=argparse.SUPPRESS)
    parser.add_argument("--frames-dir", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--objects", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        propagation_child(args)
        return

    from sam2.sam2_image_predictor import SAM2ImagePredictor

    state_dict = oracle.random_official_state_dict(args.model, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    ckpt = save_checkpoint(state_dict, tmp / "random.pt")
    ours_model = load_model(args.model, checkpoint=ckpt, device="cpu")
    rows = []

    # image: set_image at 1024 and a second click
    image = (np.random.default_rng(1).random((1024, 1024, 3)) * 255).astype(np.uint8)
    ours_img = ImagePredictor(ours_model)
    theirs_img = SAM2ImagePredictor(oracle.build_official(args.model, state_dict))
    with torch.inference_mode():
        t_official = timed(lambda: theirs_img.set_image(image), args.repeat)
        t_ours = timed(lambda: ours_img.set_image(image), args.repeat)
        rows.append(("set_image 1024x1024", t_official, t_ours))
        click = {"point_coords": [[500, 400], [100, 100]], "point_labels": [1, 0]}
        theirs_img.predict(point_coords=[[500, 400]], point_labels=[1])
        ours_img.predict(point_coords=[[500, 400]], point_labels=[1])
        t_official = timed(lambda: theirs_img.predict(**click), 10)
        t_ours = timed(lambda: ours_img.predict(**click), 10)
        rows.append(("second click (decoder)", t_official, t_ours))

    # video: propagation of N frames with 1 and 3 objects, each in a fresh process
    folder = tmp / "frames"
    write_moving_patches(folder, args.frames)
    for objects in (1, 3):
        t_official = propagation_in_subprocess("official", args, folder, ckpt, objects)
        t_ours = propagation_in_subprocess("ours", args, folder, ckpt, objects)
        rows.append((f"propagate {args.frames} frames, {objects} object(s)", t_official, t_ours))

    print(f"\nmodel {args.model}, {torch.get_num_threads()} threads, fp32, CPU")
    print(f"{'operation':40s} {'official s':>11s} {'ours s':>9s} {'ours/official':>14s}")
    for name, official_s, ours_s in rows:
        print(f"{name:40s} {official_s:11.3f} {ours_s:9.3f} {ours_s / official_s:14.2f}")


if __name__ == "__main__":
    main()
