"""Segment everything, ours against the official generator: seconds per image and the ratio.

Same random weights (tiny model), same 512x512 picture, points_per_side=32, each generator in
a fresh process of its own with the same torch thread count. Two settings:

- ``default``: the official defaults. Random weights predict IoUs near 0.5, so the 0.8 filter
  drops every mask: this measures prompting the grid (encoder + 16 decoder batches).
- ``relaxed``: IoU and stability filters off, so all 3,072 masks go through stability scores,
  boxes, non-maximum suppression and the records, as many masks would with real weights.

    python benchmarks/bench_segment_everything.py [--settings default relaxed] [--threads 2]

Needs the official ``sam2`` package (the test oracle) and, for it, the CPU kernels of
``tests/support/oracle_kernels.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "sam2.1_hiera_tiny"
SETTINGS = {
    "default": {},
    "relaxed": {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},
}


def cells_image(size: int = 512, seed: int = 0) -> np.ndarray:
    """A gray-on-dark picture of 40 round 'cells' of varied size and brightness, as RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    image = 20 + rng.normal(0, 4, (size, size))
    for _ in range(40):
        cy, cx = rng.uniform(0, size, 2)
        radius = rng.uniform(8, 40)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = rng.uniform(90, 240)
    gray = np.clip(image, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def run_child(args) -> None:
    """One generate() in this fresh process; prints a JSON line last."""
    torch.set_num_threads(args.threads)
    image = np.load(args.image)
    options = {"points_per_side": args.points_per_side, **SETTINGS[args.setting]}
    if args.child == "official":
        # the oracle module declares torchvision's ops: before anything imports torchvision
        from tests.support import oracle
        from tests.support.oracle_kernels import official_kernels

        state = torch.load(args.checkpoint, weights_only=True)["model"]
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        generator = SAM2AutomaticMaskGenerator(oracle.build_official(MODEL, state), **options)
        with official_kernels(), torch.inference_mode():
            start = time.perf_counter()
            records = generator.generate(image)
            seconds = time.perf_counter() - start
    else:
        from sam2_engine import AutomaticMaskGenerator, load_model

        generator = AutomaticMaskGenerator(
            load_model(MODEL, checkpoint=args.checkpoint, device="cpu"), **options
        )
        start = time.perf_counter()
        records = generator.generate(image)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "records": len(records), "peak_mb": peak_mb}))


def child_env(who: str) -> dict[str, str]:
    """The official code runs with PyTorch's defaults (importing sam2_engine asks PyTorch for
    huge pages in this process and its children; see sam2_engine/allocator.py)."""
    env = dict(os.environ)
    if who == "official":
        env["THP_MEM_ALLOC_ENABLE"] = "0"
    return env


def measure(who: str, setting: str, args, image_path: Path, ckpt: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", who, "--setting", setting]
    cmd += ["--threads", str(args.threads), "--points-per-side", str(args.points_per_side)]
    cmd += ["--image", str(image_path), "--checkpoint", str(ckpt)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=child_env(who))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--child", choices=["ours", "official"], help=argparse.SUPPRESS)
    parser.add_argument("--setting", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return

    from sam2_engine.checkpoint import save_checkpoint
    from tests.support import oracle

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(oracle.random_official_state_dict(MODEL, seed=0), Path(tmp) / "w.pt")
        image_path = Path(tmp) / "image.npy"
        np.save(image_path, cells_image(args.size))
        print(
            f"segment everything, {MODEL} (random weights), {args.size}x{args.size} image, "
            f"points_per_side={args.points_per_side}, {args.threads} threads, one run each"
        )
        header = "setting   official s  ours s  ours/official  records (official, ours)"
        print(header + "  peak MB (official, ours)")
        for setting in args.settings:
            theirs = measure("official", setting, args, image_path, ckpt)
            ours = measure("ours", setting, args, image_path, ckpt)
            ratio = ours["seconds"] / theirs["seconds"]
            print(
                f"{setting:9s} {theirs['seconds']:10.1f} {ours['seconds']:7.1f} {ratio:14.2f}"
                f"  {theirs['records']:>8d}, {ours['records']:<8d}"
                f"       {theirs['peak_mb']:7.0f}, {ours['peak_mb']:.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
