"""The ``napari-sam2`` argument parser: commands, their arguments and help texts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from napari_sam2 import __version__
from napari_sam2.cli import commands as run
from napari_sam2.cli.tracks import add_division_flags, add_export_tracks
from sam2_engine.constants import DEFAULT_MODEL, DIRECTIONS
from sam2_engine.options import PRECISIONS


def _model_options() -> argparse.ArgumentParser:
    """--model, --checkpoint, --device, --image-size, --download: for commands running a model."""
    group = argparse.ArgumentParser(add_help=False)
    opts = group.add_argument_group("model")
    opts.add_argument(
        "--model",
        help=f"model name (default {DEFAULT_MODEL}; track: the session's model if it names one); "
        "`napari-sam2 models` lists them",
    )
    opts.add_argument(
        "--checkpoint", type=Path, help="checkpoint .pt file (default: the cached one)"
    )
    opts.add_argument(
        "--device",
        help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps",
    )
    opts.add_argument(
        "--image-size",
        type=int,
        metavar="PX",
        help="model input side, a multiple of 32 (default 1024, what the official models were "
        "trained at). Smaller is much faster and less accurate",
    )
    opts.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default, exact), bf16 (faster on GPUs and CPUs with AVX512-bf16) or fp16 "
        "(GPUs); reduced precision moves masks slightly",
    )
    return group


def _tracking_options() -> argparse.ArgumentParser:
    """--fill-hole-area, --max-frames-in-memory, --object-batch-mb: how the video predictor
    tracks."""
    group = argparse.ArgumentParser(add_help=False)
    opts = group.add_argument_group("tracking")
    opts.add_argument(
        "--fill-hole-area",
        type=int,
        metavar="PX",
        help="fill holes in masks up to this area in low-resolution pixels (default 8; 0: off)",
    )
    opts.add_argument(
        "--max-frames-in-memory",
        type=int,
        metavar="N",
        help="tracked frames per object kept in memory, older ones go to disk (default 32)",
    )
    opts.add_argument(
        "--object-batch-mb",
        type=int,
        metavar="MB",
        help="working memory of one batch of objects tracked together on a frame, in MiB "
        "(default 1024; 0: one object at a time; raise it on a GPU)",
    )
    return group


def _common_options() -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `napari-sam2 --debug track ...` and `napari-sam2 track --debug ...` both work
    group.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    return group


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-sam2``."""
    parser = argparse.ArgumentParser(
        prog="napari-sam2",
        description="SAM 2 segmentation and tracking for images, stacks and videos.",
        epilog="Exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted. "
        "`napari-sam2 COMMAND --help` explains a command.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sam2 {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common, model, tracking = _common_options(), _model_options(), _tracking_options()
    generator = _generator_options()

    def add(name: str, handler: Callable, help: str, parents=()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common, *parents])
        sub.set_defaults(handler=handler, subparser=sub)
        return sub

    _add_models(add, commands)
    _add_track(
        add(
            "track",
            run.track,
            "track objects through a stack or video",
            [model, tracking, generator],
        )
    )
    _add_segment_all(
        add(
            "segment-all",
            run.segment_all,
            "segment everything on one image or frame into a label image",
            [model, generator],
        )
    )
    _add_demo(add("demo", run.demo, "track cells in the bundled sample time-lapse", [model]))
    _add_export(
        add("export-video", run.export_video, "make a video (or PNGs) from frames + labels")
    )
    add_export_tracks(add)
    add_division_flags(commands.choices["track"])
    _add_batch(add("batch", run.batch, "run many track jobs on a dask cluster", [model, tracking]))
    return parser


def _add_models(add: Callable, commands) -> None:
    models = add("models", run.models_list, "list the models, download or import checkpoints")
    actions = models.add_subparsers(dest="action", metavar="ACTION")
    common = _common_options()
    listing = actions.add_parser("list", help="list the models (the default)", parents=[common])
    listing.set_defaults(handler=run.models_list, subparser=listing)
    download = actions.add_parser(
        "download", help="download a checkpoint into the cache", parents=[common]
    )
    download.add_argument("name", help="model name")
    download.add_argument("--force", action="store_true", help="download even if cached")
    download.set_defaults(handler=run.models_download, subparser=download)
    imp = actions.add_parser(
        "import", help="copy a checkpoint file you have into the cache", parents=[common]
    )
    imp.add_argument("name", help="model name the file is for")
    imp.add_argument("file", type=Path, help="the .pt file")
    imp.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the SHA-256 check (a fine-tuned or modified checkpoint)",
    )
    imp.set_defaults(handler=run.models_import, subparser=imp)


def _add_track(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("input", help="TIFF, zarr, image folder, video file (.mp4 .avi .mov ...)")
    prompts = sub.add_argument_group("prompts (a session, or points, boxes and seeds)")
    prompts.add_argument("--session", type=Path, help="a session file saved by the plugin")
    prompts.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="T,X,Y[,OBJ]",
        help="a positive click on frame T at pixel (X, Y) for object OBJ (default 1); repeat",
    )
    prompts.add_argument(
        "--neg-point",
        action="append",
        default=[],
        metavar="T,X,Y[,OBJ]",
        help="a negative click (background of object OBJ); repeat",
    )
    prompts.add_argument(
        "--box",
        action="append",
        default=[],
        metavar="T,X0,Y0,X1,Y1[,OBJ]",
        help="a box on frame T for object OBJ (default 1); one per object and frame",
    )
    prompts.add_argument(
        "--seed-labels",
        metavar="LABELS[@T]",
        help="one object per label of a label image (Cellpose, StarDist, painted), prompted by "
        "its mask on frame T (default 0); from a label stack, its frame T",
    )
    prompts.add_argument(
        "--seed-min-area",
        type=int,
        default=16,
        metavar="PX",
        help="labels of --seed-labels smaller than PX pixels are skipped (default 16)",
    )
    prompts.add_argument(
        "--seed-all",
        type=int,
        metavar="T",
        help="segment everything on frame T and track every object found",
    )
    prompts.add_argument(
        "--redetect-every",
        type=int,
        metavar="N",
        help="every N frames going forward, segment everything and add the objects not yet "
        "tracked (cells entering); slow: one segment-everything per N frames",
    )
    _add_output(sub, "labels to write: .tif/.tiff, .zarr or .ome.zarr (the frames with their "
                "labels)")  # fmt: skip
    sub.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default="both",
        help="from the earliest prompted frame forward, then back from the frame before it "
        "(both, the default), forward only, or backward from the latest prompted frame",
    )
    sub.add_argument(
        "--frames", metavar="START:STOP", help="only these frames (Python slice, e.g. 10:50)"
    )
    sub.add_argument(
        "--download", action="store_true", help="download the checkpoint if it is not cached"
    )
    _add_frame_options(sub)


def _add_output(sub: argparse.ArgumentParser, help: str) -> None:
    sub.add_argument("-o", "--output", type=Path, required=True, help=help)
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output written by napari-sam2 (never another file)",
    )


def _generator_options() -> argparse.ArgumentParser:
    """Segment-everything settings: for segment-all, --seed-all and --redetect-every."""
    group = argparse.ArgumentParser(add_help=False)
    opts = group.add_argument_group("segment everything")
    opts.add_argument(
        "--points-per-side",
        type=int,
        metavar="N",
        help="an N x N grid of point prompts (default 32; 16 for --redetect-every); more "
        "finds smaller objects, slower",
    )
    opts.add_argument(
        "--pred-iou-thresh",
        type=float,
        metavar="X",
        help="keep masks whose predicted IoU is above X (default 0.8)",
    )
    opts.add_argument(
        "--stability-thresh",
        type=float,
        metavar="X",
        help="keep masks whose stability score is above X (default 0.95)",
    )
    opts.add_argument(
        "--min-area",
        type=int,
        metavar="PX",
        help="remove specks and fill holes of up to PX pixels in each mask, counted on the "
        "model's 256 x 256 low-resolution masks (default 0: off)",
    )
    return group


def _add_segment_all(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("input", help="an image, or a stack or video with --frame")
    sub.add_argument("--frame", type=int, default=0, metavar="T", help="the frame (default 0)")
    _add_output(sub, "the label image: .tif/.tiff, .zarr or .ome.zarr (ids 1..N, largest first)")
    sub.add_argument(
        "--download", action="store_true", help="download the checkpoint if it is not cached"
    )
    _add_frame_options(sub)


def _add_frame_options(sub: argparse.ArgumentParser) -> None:
    frames = sub.add_argument_group("reading the input (default: the file's own metadata)")
    frames.add_argument("--axes", help="one letter of TZCYX per dimension, e.g. TCYX")
    frames.add_argument("--axis", choices=("T", "Z"), help="the axis to track along (T or Z)")
    frames.add_argument(
        "--channel", metavar="C[,C,C]", help="channel shown to the model (one: gray, three: RGB)"
    )
    frames.add_argument("--contrast", metavar="LOW,HIGH", help="intensities mapped to 0 and 1")


def _add_demo(sub: argparse.ArgumentParser) -> None:
    sub.epilog = (
        "Writes the stack, its labels (TIFF), an overlay PNG and an overlay video, and prints "
        "a summary; 1-3 minutes on a 2-core CPU. The checkpoint is downloaded if it is not "
        "cached; when it cannot be had, the demo warns and runs with random weights "
        "(meaningless masks) at 512 px, unless --no-fallback."
    )
    sub.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("napari-sam2-demo"),
        help="folder for the results (default ./napari-sam2-demo; its files are replaced)",
    )
    sub.add_argument("--frames", type=int, default=6, help="frames to track (default 6)")
    sub.add_argument("--objects", type=int, default=3, help="cells to track (default 3)")
    sub.add_argument("--no-download", action="store_true", help="never download the checkpoint")
    sub.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail when the checkpoint is unavailable instead of running with random weights",
    )


def _add_export(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("video", help="the frames: a video file, TIFF, zarr, image folder")
    sub.add_argument("labels", help="their labels: a TIFF or zarr (T, H, W) label stack")
    sub.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="a video file (.mp4 .mov .mkv .webm .avi) or, with no suffix, a folder of PNGs",
    )
    from napari_sam2.video_export import KINDS  # light: numpy only

    sub.add_argument("--kind", choices=KINDS, default="overlay", help="default overlay")
    sub.add_argument("--objects", metavar="ID[,ID...]", help="object ids to show (default all)")
    sub.add_argument(
        "--background", help="background kind: a colour (#rrggbb, a name) or an image file"
    )
    sub.add_argument("--feather", type=float, default=0.0, help="alpha blur sigma in px")
    sub.add_argument("--dilate", type=int, default=0, help="grow (or, < 0, shrink) masks, px")
    sub.add_argument("--fps", type=float, help="frame rate (default: the source's, else 10)")
    sub.add_argument("--codec", help="encoder (default: the best available for the suffix)")
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output written by napari-sam2 (never another file)",
    )
    sub.add_argument(
        "--first-frame",
        type=int,
        help="video frame of the first label frame (default: from the labels' track record, "
        "else 0)",
    )


def _add_batch(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("jobs", type=Path, help="a JSON file listing the jobs")
    sub.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running dask scheduler, e.g. tcp://host:8786 (default: a new local cluster)",
    )
    sub.add_argument(
        "--workers", type=int, default=2, help="processes of the local cluster (default 2)"
    )
    sub.add_argument(
        "--threads-per-worker", type=int, default=1, help="threads per local worker (default 1)"
    )
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="redo jobs whose output exists (else skipped; only outputs napari-sam2 wrote)",
    )
