"""Reduced precision against the official fp32, side by side in one run, and what it costs.

Prints, for the official implementation in fp32 and ours in fp32 and bf16 (same weights, same
frames, same thread count): seconds per ``set_image`` and per propagated frame with 1 and 3
objects, and each one's ratio to the official fp32 time. Then the drift of ours in bf16 from
ours in fp32: the largest logit difference and the mask IoU per frame and object, on real
photographs (frames of ``coffee.mp4``, 3 objects: our 3-object timing runs go on to
``--drift-frames``) and on synthetic noise frames (2 objects).

Every measurement runs in a fresh process of its own (no shared allocator state, see
docs/engine.md). A propagated frame's time is the median over the frames tracked with a full
memory bank (frame 7 on), as wall time and as the process's CPU time (the two cores' busy
time, steadier than wall time when other work shares the machine). Also printed: this
machine's matrix-product speed in bf16 over fp32 (``sam2_engine.precision.matmul_speedup``),
which bounds what bf16 can gain here, and the warning the CLI and the dock show.

    python benchmarks/bench_precision.py                     # 25-40 min on 2 cores
    python benchmarks/bench_precision.py --frames 9 --drift-frames 8 --repeat 2   # quicker
    python benchmarks/bench_precision.py --drift-frames 0    # timings only, 12 min
    python benchmarks/bench_precision.py --device cuda       # all sides on the GPU

Needs the official ``sam2`` package (the test oracle) and PyAV. The weights are random (of
the real shapes) unless ``--checkpoint`` names an official file for ``--model``.
"""

from __future__ import annotations

import argparse
import json
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
from benchmarks.children import measure_in_child, write_moving_patches  # noqa: E402
from sam2_engine import ImagePredictor, VideoPredictor, load_model  # noqa: E402
from sam2_engine.checkpoint import save_checkpoint  # noqa: E402
from sam2_engine.precision import matmul_speedup, precision_warning  # noqa: E402
from tests.support import oracle  # noqa: E402  (makes torchvision importable for sam2)

VIDEO = ROOT.parent / "shared" / "data" / "coffee.mp4"
#: Frames from this index on are tracked with a full memory bank (1 prompted + 6 recent).
FULL_MEMORY_FROM = 7
SIDES = ("official", "fp32", "bf16")
#: Prompts on frame 0 of coffee.mp4 (1280x720): the kettle, the mug, the kettle's spout.
REAL_PROMPTS = [
    {"obj_id": 1, "points": [[560, 460]], "labels": [1]},
    {"obj_id": 2, "points": [[880, 520]], "labels": [1]},
    {"obj_id": 3, "box": [640, 300, 840, 560]},
]
#: Prompts on frame 0 of the synthetic frames (640x480): the two moving patches.
SYNTHETIC_PROMPTS = [
    {"obj_id": 1, "points": [[180, 220]], "labels": [1]},
    {"obj_id": 2, "box": [410, 310, 530, 430]},
]


# ---------------------------------------------------------------------------- inputs
def write_real_frames(folder: Path, frames: int) -> Path:
    """The first ``frames`` frames of coffee.mp4 as JPEGs 00000.jpg... (the official reader)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(VIDEO)) as container:
        for t, frame in enumerate(container.decode(video=0)):
            if t >= frames:
                break
            frame.to_image().save(folder / f"{t:05d}.jpg", quality=95)
    return folder


# ---------------------------------------------------------------------------- children
def build_image_predictor(side: str, args):
    if side == "official":
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        official = oracle.build_official(args.model, official_state(args))
        return SAM2ImagePredictor(official.to(args.device))
    model = load_model(args.model, checkpoint=args.checkpoint, device=args.device)
    return ImagePredictor(model, precision=side)


def build_video_predictor(side: str, args):
    if side == "official":
        return oracle.build_official(args.model, official_state(args), video=True).to(args.device)
    model = load_model(args.model, checkpoint=args.checkpoint, device=args.device)
    # the official code skips hole filling on CPUs (it needs its CUDA extension)
    return VideoPredictor(model, precision=side, fill_hole_area=0)


def official_state(args) -> dict:
    return torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"]


def synchronizer(device: str):
    """Waits for the GPU's queued work (timings end when the work does); nothing on a CPU."""
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def set_image_child(args) -> dict:
    predictor = build_image_predictor(args.child, args)
    sync = synchronizer(args.device)
    image = np.asarray(Image.open(sorted(Path(args.frames_dir).glob("*.jpg"))[0]).convert("RGB"))
    wall, cpu = [], []
    with torch.inference_mode():
        predictor.set_image(image)  # warm-up
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            predictor.set_image(image)
            sync()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}


def propagate_child(args) -> dict:
    """Propagate from frame 0: the median wall and CPU seconds of frames FULL_MEMORY_FROM to
    ``--timed`` - 1 (all frames after 0 in a shorter video); the logits saved when asked."""
    predictor = build_video_predictor(args.child, args)
    sync = synchronizer(args.device)
    prompts = json.loads(args.prompts)
    wall, cpu, logits = [], [], []
    with torch.inference_mode():
        state = predictor.init_state(args.frames_dir)
        for prompt in prompts:
            predictor.add_new_points_or_box(state, frame_idx=0, **prompt)
        w0, c0 = time.perf_counter(), time.process_time()
        sync()
        for _, _, masks in predictor.propagate_in_video(state):
            sync()
            w1, c1 = time.perf_counter(), time.process_time()
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
            if args.save:
                logits.append(masks[:, 0].float().cpu().numpy())
            w0, c0 = time.perf_counter(), time.process_time()
    if args.save:
        np.save(args.save, np.stack(logits))  # (frames, objects, H, W)
    timed = min(args.timed, len(wall))
    full = slice(FULL_MEMORY_FROM if timed > FULL_MEMORY_FROM else 1, timed)
    return {"wall": statistics.median(wall[full]), "cpu": statistics.median(cpu[full])}


def run_child(side: str, task: str, args, frames_dir: Path, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--task", task, "--model", args.model]
    cmd += [
        "--threads",
        str(args.threads),
        "--repeat",
        str(args.repeat),
        "--timed",
        str(args.frames),
        "--device",
        args.device,
    ]
    cmd += ["--checkpoint", str(args.checkpoint), "--frames-dir", str(frames_dir)]
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    return measure_in_child(cmd, side == "official", f"{side} {task} {frames_dir.name}")


# ---------------------------------------------------------------------------- drift
def drift(exact: np.ndarray, reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and object: largest |logit difference| and IoU of the masks (logit > 0).

    (frames, objects, H, W) twice -> two (frames, objects) arrays.
    """
    diff = np.abs(exact - reduced).max(axis=(2, 3))
    a, b = exact > 0, reduced > 0
    inter = (a & b).sum(axis=(2, 3))
    union = (a | b).sum(axis=(2, 3))
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return diff, iou


def print_drift(name: str, exact: np.ndarray, reduced: np.ndarray) -> None:
    diff, iou = drift(exact, reduced)
    frames, objects = iou.shape
    area = (exact > 0).mean(axis=(2, 3))
    print(f"\ndrift bf16 vs fp32, {name}: {frames} frames x {objects} objects")
    header = " ".join(f"{'IoU obj ' + str(o + 1):>10s}" for o in range(objects))
    print(f"{'frame':>5s} {header} {'max|dlogit|':>12s} {'fg fraction':>12s}")
    for t in range(frames):
        ious = " ".join(f"{v:10.4f}" for v in iou[t])
        fg = "/".join(f"{v:.2f}" for v in area[t])
        print(f"{t:5d} {ious} {diff[t].max():12.4f} {fg:>12s}")
    scale = np.abs(exact[exact > -1000]).max() if (exact > -1000).any() else 0.0
    print(
        f"IoU min {iou.min():.4f}, median {np.median(iou):.4f}; max |logit diff| "
        f"{diff.max():.4f} (fp32 logits reach {scale:.2f})"
    )


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--checkpoint", help="official checkpoint file (default: random)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (every side)")
    parser.add_argument("--repeat", type=int, default=3, help="set_image repeats")
    parser.add_argument("--frames", type=int, default=10, help="frames timed per propagation")
    parser.add_argument(
        "--drift-frames", type=int, default=20, help="frames compared in drift (0: no drift)"
    )
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=("set_image", "propagate"), help=argparse.SUPPRESS)
    parser.add_argument("--frames-dir", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    parser.add_argument("--timed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        task = set_image_child if args.task == "set_image" else propagate_child
        print(json.dumps(task(args)))
        return

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_precision_"))
    weights = f"weights {args.checkpoint}" if args.checkpoint else "random weights"
    if args.checkpoint is None:
        state = oracle.random_official_state_dict(args.model, seed=0)
        args.checkpoint = save_checkpoint(state, tmp / "random.pt")
    real = write_real_frames(tmp / "real", max(args.frames, args.drift_frames))
    real_timed = write_real_frames(tmp / "real_timed", args.frames)
    synthetic = write_moving_patches(tmp / "synthetic", max(args.drift_frames, 0))

    rows = []
    times = {side: run_child(side, "set_image", args, real) for side in SIDES}
    rows.append(("set_image (1280x720 photo)", times))
    real_logits = {}
    for objects in (1, 3):
        prompts = json.dumps(REAL_PROMPTS[:objects])
        times = {"official": run_child("official", "propagate", args, real_timed, prompts=prompts)}
        for side in ("fp32", "bf16"):
            if objects == 1 or args.drift_frames <= 0:
                times[side] = run_child(side, "propagate", args, real_timed, prompts=prompts)
                continue
            # the 3-object runs go on to --drift-frames and also give the drift on photographs
            path = tmp / f"real_{side}.npy"
            times[side] = run_child(side, "propagate", args, real, prompts=prompts, save=path)
            real_logits[side] = np.load(path)
        rows.append((f"propagated frame, {objects} object(s)", times))
    synthetic_logits = {}
    for side in ("fp32", "bf16") if args.drift_frames > 0 else ():
        path = tmp / f"synthetic_{side}.npy"
        prompts = json.dumps(SYNTHETIC_PROMPTS)
        run_child(side, "propagate", args, synthetic, prompts=prompts, save=path)
        synthetic_logits[side] = np.load(path)

    print(
        f"\nmodel {args.model} ({weights}), {args.threads} threads, {args.device}; "
        "seconds (wall / CPU), ratios (wall, CPU) to official fp32"
    )
    print(f"{'':34s} {'official fp32':>15s} {'ours fp32':>29s} {'ours bf16':>29s}")
    for name, t in rows:
        ref = t["official"]
        cells = [f"{ref['wall']:6.2f} / {ref['cpu']:5.2f}"]
        for side in ("fp32", "bf16"):
            w, c = t[side]["wall"], t[side]["cpu"]
            cells.append(f"{w:6.2f} / {c:5.2f} ({w / ref['wall']:.2f}x, {c / ref['cpu']:.2f}x)")
        print(f"{name:34s} {cells[0]:>15s} {cells[1]:>29s} {cells[2]:>29s}")

    speedup = matmul_speedup(torch.bfloat16, args.device)
    print(f"\nbf16 / fp32 matrix-product speed on {args.device}: {speedup:.2f}x")
    print(f"warning shown for bf16: {precision_warning('bf16', args.device)}")

    if args.drift_frames > 0:
        print_drift("real photographs (coffee.mp4)", real_logits["fp32"], real_logits["bf16"])
        print_drift("synthetic noise frames", synthetic_logits["fp32"], synthetic_logits["bf16"])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
