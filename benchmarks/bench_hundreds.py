"""Hundreds of objects in one session: what seeding them costs, and a propagated frame.

A (frames, 512, 512) stack of square cells, one object per cell seeded by its mask on frame
0 (what ``prompts_from_labels`` and the dock's *From labels* do), the thin random model of
the tests and GUI demos. Prints:

- seconds to send every mask prompt, with each prompt returning every object's mask (the
  official output) and with ``all_objects=False`` (what the dock and session replay use);
- seconds per propagated frame, batched and one object at a time, on 1 and on all threads
  (the dock's jobs leave one core to napari: one thread on a 2-core machine).

    python benchmarks/bench_hundreds.py                 # 300 objects, 4 frames: ~5 min
    python benchmarks/bench_hundreds.py --objects 100
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from sam2_engine import VideoPredictor, build_model, thin_config

SIZE = 512


def cells(objects: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A (frames, 512, 512) uint8 stack of square cells over noise and their (512, 512)
    labels 1..objects, in a grid."""
    rng = np.random.default_rng(0)
    video = (rng.random((frames, SIZE, SIZE)) * 60).astype(np.uint8)
    labels = np.zeros((SIZE, SIZE), np.uint16)
    side = int(np.ceil(np.sqrt(objects)))
    cell = SIZE // side
    for i in range(objects):
        row, col = divmod(i, side)
        y, x = row * cell + 3, col * cell + 3
        labels[y : y + cell - 6, x : x + cell - 6] = i + 1
    video[:, labels > 0] = 200
    return video, labels


def seed(predictor, state, labels: np.ndarray, all_objects: bool) -> float:
    start = time.perf_counter()
    for obj in range(1, int(labels.max()) + 1):
        predictor.add_new_mask(state, 0, obj, labels == obj, all_objects=all_objects)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--frames", type=int, default=4, help="frames propagated")
    args = parser.parse_args()
    all_threads = os.cpu_count() or 1
    torch.set_num_threads(all_threads)
    video, labels = cells(args.objects, args.frames)
    model = build_model(thin_config())
    print(f"{args.objects} objects, {args.frames} frames of {SIZE}x{SIZE}, thin random model")

    with torch.inference_mode():
        for all_objects in (True, False):
            predictor = VideoPredictor(model)
            state = predictor.init_state(video)
            predictor.encode_frame(state, 0)
            spent = seed(predictor, state, labels, all_objects)
            print(f"send {args.objects} mask prompts, all_objects={all_objects}: {spent:.1f} s")

        for threads in sorted({1, all_threads}):
            torch.set_num_threads(threads)
            for name, budget in (
                ("batched", VideoPredictor(model).object_batch_bytes),
                ("one at a time", 0),
            ):
                predictor = VideoPredictor(model, object_batch_bytes=budget)
                state = predictor.init_state(video)
                seed(predictor, state, labels, all_objects=False)
                times, start = [], time.perf_counter()
                for _ in predictor.propagate_in_video(state):
                    times.append(time.perf_counter() - start)
                    start = time.perf_counter()
                tracked = ", ".join(f"{t:.1f}" for t in times[1:])  # frame 0 is the prompt
                print(f"{threads} thread(s), {name}: s per tracked frame {tracked}")


if __name__ == "__main__":
    main()
