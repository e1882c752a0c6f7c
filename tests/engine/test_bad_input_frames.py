"""Bad frame input, as a table (see ``tests/support/bad_inputs.py``): damaged TIFFs, TIFF
samples axes, zarr stores with missing chunks, complex and all-NaN videos."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from sam2_engine import ImagePredictor
from sam2_engine.errors import ImageInputError
from sam2_engine.frames import FrameReadError, FrameSourceError, FrameSourceWarning, open_frames
from tests.support.bad_inputs import Case, cut, in_dir, nothing, ramp, run_case, video


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


def propagate_file(ctx: dict, path: Path):
    predictor, state = video(ctx, path)
    predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])
    return list(predictor.propagate_in_video(state))


def first_click(ctx: dict, video_input: Any):
    predictor, state = video(ctx, video_input)
    return predictor.add_new_points_or_box(state, 0, 1, points=[[5, 5]], labels=[1])


def length_is(n: int, axes: str):
    def check(source, ctx) -> None:
        assert len(source) == n
        assert source.metadata["axes"] == axes
        frames = read_all(source)
        assert all(f.shape[:2] == (source.height, source.width) for f in frames)
        source.close()

    return check


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
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, small_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_case(case, small_model, tmp_path, monkeypatch)
