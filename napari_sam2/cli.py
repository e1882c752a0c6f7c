"""The ``napari-sam2`` command line: models, track, demo, export-video, batch.

Each subcommand is a thin layer over the scripted API (:mod:`napari_sam2.api`), the weights
registry (:mod:`sam2_engine.weights`), :mod:`napari_sam2.video_export` and
:mod:`napari_sam2.batch`. This module stays light: ``--help`` and ``--version`` import neither
torch nor napari; a subcommand imports what it needs when it runs.

Exit status: 0 done, 1 failed (the message says why, on stderr, without a traceback unless
``--debug``), 2 bad usage (argparse's own errors and ours alike), 130 interrupted (Ctrl-C; the
finished frames are kept and the message says where).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari_sam2 import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# api.DEFAULT_MODEL and api.DIRECTIONS, repeated here because the api imports torch
DEFAULT_MODEL = "sam2.1_hiera_tiny"
DIRECTIONS = ("both", "forward", "backward")


class UsageError(Exception):
    """The command line cannot work as given: reported like argparse's errors, exit status 2."""


# --------------------------------------------------------------------------- parser
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
        "--device", default="auto", help="auto (default: CUDA, then MPS, then CPU), cpu, cuda..."
    )
    opts.add_argument(
        "--image-size",
        type=int,
        metavar="PX",
        help="model input side, a multiple of 32 (default 1024, what the official models were "
        "trained at). Smaller is much faster and less accurate",
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
    common, model = _common_options(), _model_options()

    def add(name: str, handler: Callable, help: str, parents=()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common, *parents])
        sub.set_defaults(handler=handler, subparser=sub)
        return sub

    _add_models(add, commands)
    _add_track(add("track", _cmd_track, "track objects through a stack or video", [model]))
    _add_demo(add("demo", _cmd_demo, "track cells in the bundled sample time-lapse", [model]))
    _add_export(add("export-video", _cmd_export, "make a video (or PNGs) from frames + labels"))
    _add_batch(add("batch", _cmd_batch, "run many track jobs on a dask cluster", [model]))
    return parser


def _add_models(add: Callable, commands) -> None:
    models = add("models", _cmd_models_list, "list the models, download or import checkpoints")
    actions = models.add_subparsers(dest="action", metavar="ACTION")
    common = _common_options()
    listing = actions.add_parser("list", help="list the models (the default)", parents=[common])
    listing.set_defaults(handler=_cmd_models_list, subparser=listing)
    download = actions.add_parser(
        "download", help="download a checkpoint into the cache", parents=[common]
    )
    download.add_argument("name", help="model name")
    download.add_argument("--force", action="store_true", help="download even if cached")
    download.set_defaults(handler=_cmd_models_download, subparser=download)
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
    imp.set_defaults(handler=_cmd_models_import, subparser=imp)


def _add_track(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("input", help="TIFF, zarr, image folder, video file (.mp4 .avi .mov ...)")
    prompts = sub.add_argument_group("prompts (a session, or points and boxes)")
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
    sub.add_argument(
        "-o", "--output", type=Path, required=True, help="labels to write: .tif/.tiff or .zarr"
    )
    sub.add_argument("--overwrite", action="store_true", help="replace an existing output")
    sub.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default="both",
        help="from the earliest prompted frame forward and back (both, the default), "
        "forward only, or backward from the latest prompted frame",
    )
    sub.add_argument(
        "--frames", metavar="START:STOP", help="only these frames (Python slice, e.g. 10:50)"
    )
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
    sub.add_argument("--overwrite", action="store_true", help="replace an existing output")
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
        "--overwrite", action="store_true", help="redo jobs whose output exists (else skipped)"
    )


# --------------------------------------------------------------------------- helpers
def _prompt_values(text: str, option: str, form: str, coords: int) -> tuple[int, list, int]:
    """``"3,10.5,20[,2]"`` -> (frame 3, [10.5, 20.0], object 2 (default 1))."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (coords + 1, coords + 2):
        raise UsageError(f"{option} expects {form}, got {text!r}")
    frame, obj = values[0], values[coords + 1] if len(values) > coords + 1 else 1.0
    if not frame.is_integer() or frame < 0:
        raise UsageError(f"{option} {text!r}: the frame T must be a whole number >= 0")
    if not obj.is_integer() or obj < 1:
        raise UsageError(f"{option} {text!r}: the object OBJ must be a whole number >= 1")
    return int(frame), values[1 : coords + 1], int(obj)


def prompts_from_args(points: Sequence[str], neg_points: Sequence[str], boxes: Sequence[str]):
    """The plain prompt structure (object -> frame -> prompt) from --point / --box values."""
    prompts: dict[int, dict[int, dict[str, list]]] = {}
    for texts, label, option in ((points, 1, "--point"), (neg_points, 0, "--neg-point")):
        for text in texts:
            frame, xy, obj = _prompt_values(text, option, "T,X,Y[,OBJ]", 2)
            spec = prompts.setdefault(obj, {}).setdefault(frame, {})
            spec.setdefault("points", []).append(xy)
            spec.setdefault("labels", []).append(label)
    for text in boxes:
        frame, box, obj = _prompt_values(text, "--box", "T,X0,Y0,X1,Y1[,OBJ]", 4)
        spec = prompts.setdefault(obj, {}).setdefault(frame, {})
        if "box" in spec:
            raise UsageError(f"two --box values for object {obj} on frame {frame}")
        spec["box"] = box
    return prompts


def _frames(text: str | None) -> slice | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UsageError(f"--frames expects START:STOP (e.g. 0:50 or 10:), got {text!r}") from None
    return slice(start, stop)


def _ints(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(
            f"{option} expects whole numbers separated by commas, got {text!r}"
        ) from None


def _frame_options(args: argparse.Namespace) -> dict[str, Any]:
    channel = _ints(args.channel, "--channel")
    contrast = None
    if args.contrast is not None:
        try:
            low, high = (float(v) for v in args.contrast.split(","))
        except ValueError:
            raise UsageError(f"--contrast expects LOW,HIGH, got {args.contrast!r}") from None
        contrast = (low, high)
    return {
        "axes": args.axes,
        "axis": args.axis,
        "channel": channel[0] if channel and len(channel) == 1 else channel,
        "contrast_limits": contrast,
    }


def _check_model_name(name: str | None) -> None:
    from sam2_engine import MODEL_NAMES

    if name is not None and name not in MODEL_NAMES:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


# --------------------------------------------------------------------------- commands
def _cmd_models_list(args: argparse.Namespace) -> int:
    from sam2_engine.weights import CHECKPOINTS, ENV_HOME, checkpoint_status, checkpoints_dir

    folder = checkpoints_dir(create=False)
    rows = []
    for name, path in checkpoint_status():
        where = path or folder / CHECKPOINTS[name].file_name
        status = f"{path.stat().st_size / 2**20:.0f} MiB" if path else "missing"
        rows.append((name, status, str(where)))
    width = max(len(r[0]) for r in rows)
    print(f"{'MODEL':<{width}}  {'ON DISK':>8}  FILE")
    for name, status, where in rows:
        print(f"{name:<{width}}  {status:>8}  {where}")
    print(
        f"\nCache folder: {folder} (set {ENV_HOME} to use another).\n"
        "Get one: napari-sam2 models download NAME, or napari-sam2 models import NAME FILE."
    )
    return EXIT_OK


def _cmd_models_download(args: argparse.Namespace) -> int:
    from sam2_engine.weights import download_checkpoint, find_checkpoint

    _check_model_name(args.name)
    found = find_checkpoint(args.name)
    if found is not None and not args.force:
        print(f"{args.name} is already in the cache: {found} (--force downloads it again)")
        return EXIT_OK
    path = download_checkpoint(args.name, progress=True)
    print(f"Downloaded and verified {args.name}: {path}")
    return EXIT_OK


def _cmd_models_import(args: argparse.Namespace) -> int:
    from sam2_engine.weights import import_checkpoint

    _check_model_name(args.name)
    path = import_checkpoint(args.name, args.file, verify_hash=not args.no_verify)
    checked = "copied without checking" if args.no_verify else "verified and copied"
    print(f"{args.file} {checked} to {path}")
    return EXIT_OK


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from napari_sam2 import api
    from sam2_engine.errors import ModelNotFoundError

    given = args.point or args.neg_point or args.box
    if args.session is not None and given:
        raise UsageError("give either --session or --point/--box prompts, not both")
    if args.session is None and not given:
        raise UsageError("give the prompts: --session FILE, or at least one --point or --box")
    prompts = args.session or prompts_from_args(args.point, args.neg_point, args.box)
    frames = _frames(args.frames)
    frame_options = _frame_options(args)
    _check_model_name(args.model)
    output = api.check_output(args.output, args.overwrite)
    started = time.perf_counter()
    bar = tqdm(desc="Tracking", unit="frame", total=None)  # track() sets the total
    try:
        labels, info = api.track(
            args.input,
            prompts,
            args.model,
            checkpoint=args.checkpoint,
            device=args.device,
            direction=args.direction,
            frames=frames,
            output=output,
            overwrite=args.overwrite,
            progress=bar,
            allow_download=args.download,
            image_size=args.image_size,
            return_info=True,
            **frame_options,
        )
    except KeyboardInterrupt:
        bar.close()  # before the message, so it is not drawn over
        _say(_interrupted_message(output, bar.n, bar.total))
        return EXIT_INTERRUPTED
    except ModelNotFoundError as error:
        raise ModelNotFoundError(
            f"{error}\nFrom the command line: `napari-sam2 models download MODEL` (or "
            "`models import MODEL FILE`), or add --download to this command."
        ) from None
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    sha = info["checkpoint_sha256"]
    print(
        f"Wrote {output}: {labels.shape[0]} frames of {labels.shape[1]} x {labels.shape[2]}, "
        f"objects {info['objects']}, {labels.dtype}, in {seconds:.1f} s "
        f"(model {info['model']} at {info['image_size']} px"
        f"{f', checkpoint sha256 {sha[:12]}...' if sha else ''})"
    )
    return EXIT_OK


def _interrupted_message(output: Path, done: int, total: int | None) -> str:
    from sam2_engine.sinks import PARTIAL_SUFFIX

    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    of = f" of {total}" if total else ""
    if not partial.exists():
        return f"Interrupted after {done}{of} frames; nothing was written."
    return (
        f"Interrupted after {done}{of} frames. The finished frames are kept in {partial} "
        f"(a readable {output.suffix} file; frames not reached are 0); {output} was not "
        "touched. Rename it to keep it, or run again with --overwrite to start over."
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from napari_sam2 import _demo

    if args.frames < 2 or args.objects < 1:
        raise UsageError("--frames must be at least 2 and --objects at least 1")
    _check_model_name(args.model)
    result = _demo.run_demo(
        args.output,
        frames=args.frames,
        objects=args.objects,
        model=args.model or DEFAULT_MODEL,
        checkpoint=args.checkpoint,
        device=args.device,
        image_size=args.image_size,
        download=not args.no_download,
        fallback=not args.no_fallback,
        warn=_say,
    )
    print(result.summary())
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from napari_sam2.api import read_info
    from napari_sam2.video_export import export_video

    first_frame = args.first_frame
    if first_frame is None:
        # labels written by `track --frames A:B` cover only those frames and record them
        info = read_info(args.labels) if Path(args.labels).exists() else None
        if info and info.get("frames"):
            first_frame = int(info["frames"][0])

    path = export_video(
        args.video,
        args.labels,
        args.output,
        kind=args.kind,
        objects=_ints(args.objects, "--objects"),
        background=args.background,
        feather=args.feather,
        dilate=args.dilate,
        fps=args.fps,
        codec=args.codec,
        overwrite=args.overwrite,
        first_frame=first_frame,
    )
    print(f"Wrote {path}")
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from napari_sam2 import batch

    if args.workers < 1 or args.threads_per_worker < 1:
        raise UsageError("--workers and --threads-per-worker must be at least 1")
    _check_model_name(args.model)
    results = batch.run(
        batch.load_jobs(args.jobs),
        args.scheduler,
        model=args.model or DEFAULT_MODEL,
        checkpoint=args.checkpoint,
        device=args.device,
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        overwrite=args.overwrite,
        model_options=None if args.image_size is None else {"image_size": args.image_size},
    )
    print(batch.format_summary(results))
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


# --------------------------------------------------------------------------- main
def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's or the environment's fault: one line, no traceback."""
    errors: list[type[BaseException]] = [ValueError, OSError, UsageError]
    if "sam2_engine" in sys.modules:
        from sam2_engine.errors import Sam2EngineError

        errors.append(Sam2EngineError)
    return tuple(errors)


def _describe(error: BaseException) -> str:
    lines = [str(error) or type(error).__name__, *getattr(error, "__notes__", ())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as error:
        args.subparser.print_usage(sys.stderr)
        _say(f"{args.subparser.prog}: error: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("Interrupted.")
        return EXIT_INTERRUPTED
    except _expected_errors() as error:
        if debug:
            traceback.print_exc()
        _say(f"napari-sam2 {args.command}: error: {_describe(error)}")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
