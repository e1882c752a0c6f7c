"""How the napari dock feels: click latency on a cached frame and on a frame just arrived at,
and napari's event-loop delay while propagating (under Xvfb).

    xvfb-run -a python benchmarks/bench_plugin_latency.py [--model sam2.1_hiera_tiny]
        [--frames 4] [--clicks 10] [--threads 1]

The model has the real architecture with random weights (no download needed; the cost of a
forward pass does not depend on the weights). Measured through the whole plugin path: a point
added to the clicks layer -> controller -> job runner -> worker thread -> engine -> result
accepted on the main thread and written to the Labels layer.

- first click: the frame is encoded (image encoder + decoder);
- later clicks on that frame: decoder only (the "click latency" of the issue); the engine's
  own time for the same call is printed next to it;
- a click on a frame the user just moved to: once the dock has had ``--settle`` seconds to
  prepare frames ahead (the default), against the same click with that preparation switched
  off (the frame is encoded on the click);
- ``--hidden`` keeps the viewer hidden, which leaves out canvas redraws: under Xvfb they are
  software-rendered (llvmpipe) and cost ~50 ms each, far more than on a real display;
- propagation of ``--frames`` frames: a 10 ms QTimer probe on the main thread records how late
  each tick fires (the event-loop delay a user would feel on a click or slider drag).
"""

from __future__ import annotations

import argparse
import statistics
import time

import napari
import numpy as np
from qtpy.QtCore import QEventLoop

from napari_sam2 import make_cells_timelapse
from sam2_engine import build_model


def wait_idle(dock) -> None:
    """Run Qt's event loop (no polling, no sleeps) until the dock's runner is idle."""
    if not dock.runner.busy:
        return
    loop = QEventLoop()

    def on_busy(busy: bool) -> None:
        if not busy:
            loop.quit()

    dock.runner.busy_changed.connect(on_busy)
    loop.exec()
    dock.runner.busy_changed.disconnect(on_busy)


def run_until(condition, seconds: float) -> bool:
    """Run Qt's event loop until ``condition()`` holds (True) or ``seconds`` pass (False)."""
    from qtpy.QtCore import QTimer

    loop, deadline = QEventLoop(), time.monotonic() + seconds
    timer = QTimer()
    timer.timeout.connect(
        lambda: loop.quit() if condition() or time.monotonic() > deadline else None
    )
    timer.start(20)
    loop.exec()
    timer.stop()
    return condition()


def click_on_arrival(dock, viewer, frame: int, settle: float, prepare: bool) -> float:
    """Move to ``frame``, wait ``settle`` s (frames prepared ahead if ``prepare``), click; the
    seconds until its mask is in the Labels layer."""
    ctrl = dock.controller
    dock.model_section.prepare_check.setChecked(prepare)
    viewer.dims.set_current_step(0, frame)
    run_until(lambda: False, settle)
    ready = ctrl.engine.frame_is_encoded(frame)
    start = time.perf_counter()
    dock.layers.points.add([frame, 120, 100])
    wait_idle(dock)
    seconds = time.perf_counter() - start
    ahead = "on" if prepare else "off"
    print(
        f"click on frame {frame} after {settle:.0f} s there, preparing frames ahead {ahead} "
        f"(frame ready: {ready}): {seconds * 1000:.0f} ms"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--frames", type=int, default=4, help="frames to propagate")
    parser.add_argument("--clicks", type=int, default=10, help="clicks on the cached frame")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in jobs")
    parser.add_argument(
        "--settle", type=float, default=8.0, help="seconds on a new frame before the click"
    )
    parser.add_argument(
        "--hidden", action="store_true", help="hidden viewer: no canvas redraws (software GL)"
    )
    args = parser.parse_args()

    stack = make_cells_timelapse(n_frames=max(args.frames + 1, 16)).image
    viewer = napari.Viewer(show=not args.hidden)
    viewer.add_image(stack, name="cells", metadata={"axes": "TYX"})
    _, dock = viewer.window.add_plugin_dock_widget("napari-sam2", "SAM 2 tracking")
    ctrl = dock.controller
    ctrl.use_model(build_model(args.model, seed=0, object_score_bias=2.0), args.model)
    if args.threads:
        ctrl.update_settings(torch_threads=args.threads)
    print(f"model {args.model} (random weights), torch threads in jobs: "
          f"{ctrl.settings.torch_threads}")  # fmt: skip

    ctrl.add_object()
    dock.layers.start_clicks()
    start = time.perf_counter()
    dock.layers.points.add([0, 120, 100])
    wait_idle(dock)
    print(f"first click (encode + decode): {time.perf_counter() - start:.2f} s")

    rng = np.random.default_rng(0)
    plugin, engine = [], []
    for _ in range(args.clicks):
        y, x = rng.uniform(40, 216, size=2)
        start = time.perf_counter()
        dock.layers.points.add([0, y, x])
        wait_idle(dock)
        plugin.append(time.perf_counter() - start)
        prompt = ctrl.prompt(0, 1)
        start = time.perf_counter()
        ctrl.engine.apply(0, 1, prompt, keep_object=True)
        engine.append(time.perf_counter() - start)
    print(
        f"click on the cached frame, {args.clicks} clicks: plugin median "
        f"{statistics.median(plugin) * 1000:.0f} ms (max {max(plugin) * 1000:.0f} ms); "
        f"engine alone median {statistics.median(engine) * 1000:.0f} ms"
    )

    click_on_arrival(dock, viewer, 12, args.settle, prepare=True)
    click_on_arrival(dock, viewer, 8, args.settle, prepare=False)

    ctrl.update_settings(direction="forward", last_frame=args.frames)
    viewer.dims.set_current_step(0, 0)
    start = time.perf_counter()
    dock.propagate()
    wait_idle(dock)
    seconds = time.perf_counter() - start
    print(
        f"propagated {args.frames + 1} frames in {seconds:.1f} s "
        f"({seconds / (args.frames + 1):.2f} s/frame); while propagating: {dock.last_delay}"
    )
    viewer.close()


if __name__ == "__main__":
    main()
