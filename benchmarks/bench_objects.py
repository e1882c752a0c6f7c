"""Many objects: ours (objects of a frame in batches) against the official per-object loop.

Seconds per propagated frame and peak memory with 1, 8 and 32 objects (clicks spread over
frame 0), same random weights of the real model shapes, same frames, same thread count, one
run each; printed with the ratio ours / official. Each measurement runs in a fresh process
of its own (no shared allocator state; peak RSS is that run's alone, see docs/engine.md).
A frame's time is the median over the frames tracked with a full memory bank (frame 7 on;
all frames after 0 in a shorter video), as wall time and, on the CPU, as the process's CPU
time (the cores' busy time, steadier than wall time when other work shares the machine).
Peak memory is the process's peak RSS on the CPU and ``torch.cuda.max_memory_allocated``
during propagation on a GPU.

    python benchmarks/bench_objects.py                  # 1024 input, 10 frames: about 1.5 h
    python benchmarks/bench_objects.py --quick          # 512 input, 16 frames: ~10 min
    python benchmarks/bench_objects.py --device cuda    # both on the GPU
    python benchmarks/bench_objects.py --quick --one-at-a-time   # also ours, unbatched

``--one-at-a-time`` adds ours with ``object_batch_bytes=0`` (batches of one object), which
shows what batching itself gains. Needs the official ``sam2`` package (the test oracle).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.children import measure_in_child  # noqa: E402
from sam2_engine import VideoPredictor, load_model  # noqa: E402
from sam2_engine.checkpoint import save_checkpoint  # noqa: E402
from sam2_engine.configs import get_config  # noqa: E402
from tests.support import oracle  # noqa: E402  (makes torchvision importable for sam2)

#: Frames from this index on are tracked with a full memory bank (1 prompted + 6 recent).
FULL_MEMORY_FROM = 7
HEIGHT, WIDTH = 480, 640
SIDES = ("official", "ours", "ours_one_at_a_time")


def write_frames(folder: Path, frames: int) -> Path:
    """Noise with bright moving patches, as JPEGs 00000.jpg... (the official reader's input)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        img = (rng.random((HEIGHT, WIDTH, 3)) * 80).astype(np.uint8)
        for row in range(4):
            for col in range(8):
                y, x = 30 + 110 * row, 10 + 78 * col + 3 * t
                img[y : y + 60, x : x + 50] = (230 - 20 * row, 200, 120 + 10 * col)
        Image.fromarray(img).save(folder / f"{t:05d}.jpg", quality=95)
    return folder


def clicks(objects: int) -> list[dict]:
    """One positive click per object, on the patches of frame 0 (8 per row, 4 rows)."""
    prompts = []
    for i in range(objects):
        row, col = divmod(i % 32, 8)
        x, y = 35 + 78 * col + (i // 32) * 5, 60 + 110 * row
        prompts.append({"obj_id": i + 1, "points": [[x, y]], "labels": [1]})
    return prompts


# ---------------------------------------------------------------------------- child
def build_predictor(args):
    device = torch.device(args.device)
    if args.child == "official":
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"]
        model = oracle.build_official(args.model, state, video=True, image_size=args.image_size)
        return model.to(device)
    config = get_config(args.model, image_size=args.image_size)
    model = load_model(config, checkpoint=args.checkpoint, device=device)
    # the official code skips hole filling without its CUDA extension
    options = {"fill_hole_area": 0}
    if args.child == "ours_one_at_a_time":
        options["object_batch_bytes"] = 0
    return VideoPredictor(model, **options)


def propagate_child(args) -> dict:
    """Prompt ``--objects`` objects on frame 0 and propagate; median seconds per frame."""
    predictor = build_predictor(args)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    wall, cpu = [], []
    with torch.inference_mode():
        state = predictor.init_state(args.frames_dir)
        for prompt in clicks(args.objects):
            predictor.add_new_points_or_box(state, frame_idx=0, **prompt)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in predictor.propagate_in_video(state):
            sync()
            w1, c1 = time.perf_counter(), time.process_time()
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
            w0, c0 = time.perf_counter(), time.process_time()
    full = slice(FULL_MEMORY_FROM if len(wall) > FULL_MEMORY_FROM else 1, None)
    if cuda:
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "wall": statistics.median(wall[full]),
        "cpu": statistics.median(cpu[full]),
        "peak_mb": peak_mb,
    }
    if args.child != "official":
        from sam2_engine.video_propagation import bytes_per_object

        net = predictor._net
        layout = (net.config.num_maskmem, min(args.frames, net.config.max_obj_ptrs_in_encoder))
        per_batch = max(1, predictor.object_batch_bytes // bytes_per_object(net, layout))
        result["objects_per_batch"] = min(per_batch, args.objects)
    return result


def run_child(side: str, args, frames_dir: Path, objects: int) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--model", args.model]
    cmd += ["--threads", str(args.threads), "--device", args.device]
    cmd += ["--image-size", str(args.image_size), "--frames", str(args.frames)]
    cmd += ["--checkpoint", str(args.checkpoint), "--frames-dir", str(frames_dir)]
    cmd += ["--objects", str(objects)]
    return measure_in_child(cmd, side == "official", f"{side}, {objects} object(s)", quiet=True)


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--frames", type=int, help="frames propagated (default 10; quick 16)")
    parser.add_argument("--image-size", type=int, help="model input (default 1024; quick 512)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--quick", action="store_true", help="512 input and 16 frames")
    parser.add_argument("--one-at-a-time", action="store_true", help="also ours unbatched")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--frames-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.frames = args.frames or (16 if args.quick else 10)
    args.image_size = args.image_size or (512 if args.quick else 1024)
    torch.set_num_threads(args.threads)
    if args.child:
        args.objects = args.objects[0]
        print(json.dumps(propagate_child(args)))
        return

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_objects_"))
    args.checkpoint = save_checkpoint(
        oracle.random_official_state_dict(args.model, seed=0), tmp / "random.pt"
    )
    frames_dir = write_frames(tmp / "frames", args.frames)
    sides = SIDES if args.one_at_a_time else SIDES[:2]
    rows = [
        (n, {side: run_child(side, args, frames_dir, n) for side in sides}) for n in args.objects
    ]

    cpu = args.device == "cpu"
    memory = "peak RSS MB" if cpu else "peak GPU MB in propagation"
    print(
        f"\n{args.model} (random weights), {args.image_size} input, {HEIGHT}x{WIDTH} frames, "
        f"{args.frames} frames, fp32, {args.device}" + (f", {args.threads} threads" if cpu else "")
    )
    print(
        "seconds per propagated frame (wall" + (" / CPU" if cpu else "") + "), ratio to "
        f"official; {memory}, ratio to official"
    )
    header = f"{'objects':>7s} {'batch':>5s} " + " ".join(f"{side:>34s}" for side in sides)
    print(header)
    for objects, times in rows:
        ref = times["official"]
        cells = []
        for side in sides:
            t = times[side]
            cell = f"{t['wall']:.2f}" + (f" / {t['cpu']:.2f}" if cpu else "")
            if side != "official":
                cell += f" ({t['wall'] / ref['wall']:.2f}x"
                cell += f", {t['cpu'] / ref['cpu']:.2f}x)" if cpu else ")"
            cell += f", {t['peak_mb']:,.0f}"
            if side != "official":
                cell += f" ({t['peak_mb'] / ref['peak_mb']:.2f}x)"
            cells.append(f"{cell:>34s}")
        batch = times["ours"].get("objects_per_batch", 0)
        print(f"{objects:7d} {batch:5d} " + " ".join(cells))
    total = time.perf_counter() - started
    print(f"\n'batch': ours' objects per batch at a full memory bank; total {total:.0f} s")


if __name__ == "__main__":
    main()
