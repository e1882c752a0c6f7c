"""Write the synthetic sample stacks to files, for the CLI, batch runs and readers.

Usage: ``python sample_data/write_samples.py OUTPUT_DIR``

Writes, for each generator in ``napari_sam2._sample_data``, ``<name>.tif`` (the image) and
``<name>_truth.tif`` (int32 labels of the generating objects); the RGB video is also written as
``rgb_video.mp4`` (H.264 via PyAV). Same seeds as the napari samples, so the files are identical
on every run (the mp4 is lossy).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
import tifffile

from napari_sam2 import _sample_data

GENERATORS = {
    "cells_timelapse": _sample_data.make_cells_timelapse,
    "nuclei_stack": _sample_data.make_nuclei_stack,
    "ultrasound_cine": _sample_data.make_ultrasound_cine,
    "rgb_video": _sample_data.make_rgb_video,
}


def write_mp4(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 as an H.264 mp4 (H and W must be even)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_samples(folder: Path) -> list[Path]:
    """Write every sample into ``folder`` (created if needed); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in GENERATORS.items():
        image, truth = make()
        for suffix, data in (("", image), ("_truth", truth)):
            path = folder / f"{name}{suffix}.tif"
            photometric = "rgb" if data.ndim == 4 else "minisblack"
            compression = "zlib" if suffix else None  # labels compress well
            tifffile.imwrite(path, data, photometric=photometric, compression=compression)
            written.append(path)
        if image.ndim == 4:
            write_mp4(folder / f"{name}.mp4", image)
            written.append(folder / f"{name}.mp4")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="output folder")
    for path in write_samples(parser.parse_args().folder):
        print(path)


if __name__ == "__main__":
    main()
