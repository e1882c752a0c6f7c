"""The ``napari-sam2`` commands: each a thin layer over the scripted API, the weights cache,
the video export and batch runs, importing what it needs when it runs."""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np

from napari_sam2.cli.arguments import (
    UsageError,
    check_model_name,
    frame_options,
    frame_range,
    generator_options,
    ints,
    predictor_options,
    prompts_from_args,
    say,
    seed_labels,
    warn,
)
from napari_sam2.cli.tracks import division_settings
from sam2_engine.constants import DEFAULT_MODEL

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def models_list(args: argparse.Namespace) -> int:
    from sam2_engine.weights import ENV_HOME, checkpoint_status, checkpoints_dir

    folder = checkpoints_dir(create=False)
    entries = checkpoint_status()
    width = max(len(entry.name) for entry in entries)
    print(f"{'MODEL':<{width}}  {'ON DISK':>10}  FILE")
    for entry in entries:
        status = f"{entry.size / 2**20:.0f} MiB" if entry.present else entry.state
        print(f"{entry.name:<{width}}  {status:>10}  {entry.path}")
    for entry in entries:
        if entry.state in ("incomplete", "invalid"):
            say(f"{entry.name}: {entry.path} is {entry.state} ({entry.detail})")
    print(
        f"\nCache folder: {folder} (set {ENV_HOME} to use another).\n"
        "Get one: napari-sam2 models download NAME, or napari-sam2 models import NAME FILE "
        "(either replaces an incomplete file)."
    )
    return EXIT_OK


def models_download(args: argparse.Namespace) -> int:
    from sam2_engine.weights import download_checkpoint, find_checkpoint

    check_model_name(args.name)
    found = find_checkpoint(args.name)
    if found is not None and not args.force:
        print(f"{args.name} is already in the cache: {found} (--force downloads it again)")
        return EXIT_OK
    path = download_checkpoint(args.name, progress=True)
    print(f"Downloaded and verified {args.name}: {path}")
    return EXIT_OK


def models_import(args: argparse.Namespace) -> int:
    from sam2_engine.weights import import_checkpoint

    check_model_name(args.name)
    path = import_checkpoint(args.name, args.file, verify_hash=not args.no_verify)
    checked = "copied without checking" if args.no_verify else "verified and copied"
    print(f"{args.file} {checked} to {path}")
    return EXIT_OK


def track(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from napari_sam2 import api

    given = args.point or args.neg_point or args.box or args.seed_labels
    if args.session is not None and (given or args.seed_all is not None):
        raise UsageError("give either --session or other prompts (--point, --box, --seed-...)")
    if args.session is None and not given and args.seed_all is None:
        raise UsageError(
            "give the prompts: --session FILE, --point/--box, --seed-labels LABELS or --seed-all T"
        )
    if args.redetect_every is not None and args.redetect_every < 1:
        raise UsageError(f"--redetect-every must be at least 1, got {args.redetect_every}")
    if args.seed_all is not None and args.seed_all < 0:
        raise UsageError(f"--seed-all expects a frame number >= 0, got {args.seed_all}")
    if args.seed_min_area < 1:
        raise UsageError(f"--seed-min-area must be at least 1, got {args.seed_min_area}")
    frames = frame_range(args.frames)
    reading = frame_options(args)
    options = predictor_options(args)
    finding = generator_options(args)
    check_model_name(args.model)
    inputs = [args.input, args.session]  # never written over, even ours with --overwrite
    if args.seed_labels:
        inputs.append(seed_labels(args.seed_labels)[0])
    output = api.check_output(args.output, args.overwrite, inputs=[i for i in inputs if i])
    prompts = args.session or _seeded_prompts(args)
    started = time.perf_counter()
    # shown only once work takes a moment, so that an early error prints no empty bar
    bar = tqdm(desc="Tracking", unit="frame", total=None, delay=1.0)  # track() sets the total
    try:
        labels, info = api.track(
            args.input,
            prompts,
            args.model,
            checkpoint=args.checkpoint,
            direction=args.direction,
            frames=frames,
            output=output,
            overwrite=args.overwrite,
            progress=bar,
            allow_download=args.download,
            return_info=True,
            divisions=division_settings(args),
            redetect_every=args.redetect_every,
            redetect_options=finding,
            **reading,
            **options,
        )
    except KeyboardInterrupt:
        bar.close()  # before the message, so it is not drawn over
        say(_interrupted_message(output, bar.n, bar.total))
        return EXIT_INTERRUPTED
    except BaseException:
        bar.leave = False  # an error message follows: no half-drawn bar above it
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    sha = info["checkpoint_sha256"]
    print(
        f"Wrote {output}: {labels.shape[0]} frames of {labels.shape[1]} x {labels.shape[2]}, "
        f"objects {info['objects']}, {labels.dtype}, in {seconds:.1f} s "
        f"(model {info['model']} at {info['image_size']} px, {info['options']['precision']}"
        f"{f', checkpoint sha256 {sha[:12]}...' if sha else ''})"
    )
    if "divisions" in info:
        print(f"Divisions found: {len(info['divisions'])} (the lineage is recorded in {output})")
    return EXIT_OK


def _seeded_prompts(args) -> dict:
    """Points and boxes, objects from a label image and everything found on a frame, as one
    prompt structure (ids must not clash)."""
    from napari_sam2.seeding import merge_prompts, prompts_from_labels, segment_everything

    parts = [prompts_from_args(args.point, args.neg_point, args.box)]
    if args.seed_labels:
        path, frame = seed_labels(args.seed_labels)
        warn_small = partial(warn, hint="--seed-min-area changes the threshold")
        parts.append(prompts_from_labels(path, frame, min_area=args.seed_min_area, warn=warn_small))
    if args.seed_all is not None:
        say(f"Segmenting everything on frame {args.seed_all}...")
        found = segment_everything(
            args.input, args.model, frame=args.seed_all, **_segment_options(args)
        )
        taken = max((obj for part in parts for obj in part), default=0)  # found ids go after
        shifted = np.where(found > 0, found.astype(np.int64) + taken, 0)
        parts.append(prompts_from_labels(shifted, args.seed_all, min_area=1))
    return merge_prompts(*parts)


def _segment_options(args: argparse.Namespace) -> dict:
    """``segment_everything``'s keywords from the command line: the checkpoint, how frames
    are read, the device, size and precision, and the generator's settings."""
    given = predictor_options(args).items()
    return {
        "checkpoint": args.checkpoint,
        "allow_download": args.download,
        **frame_options(args),
        **{k: v for k, v in given if v is not None and k in ("device", "image_size", "precision")},
        **generator_options(args),
    }


def segment_all(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from napari_sam2.seeding import segment_everything

    options = _segment_options(args)
    check_model_name(args.model)
    started = time.perf_counter()
    bar = tqdm(desc="Segmenting", unit="point", total=None, delay=1.0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        labels = segment_everything(
            args.input,
            args.model,
            frame=args.frame,
            output=args.output,
            overwrite=args.overwrite,
            progress=progress,
            **options,
        )
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()
    print(
        f"Wrote {args.output}: {labels.max()} objects on frame {args.frame}, "
        f"{labels.shape[0]} x {labels.shape[1]}, {labels.dtype}, "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return EXIT_OK


def _interrupted_message(output: Path, done: int, total: int | None) -> str:
    from sam2_engine.publish import partial_path

    partial = partial_path(output)
    of = f" of {total}" if total else ""
    if not partial.exists():
        return f"Interrupted after {done}{of} frames; nothing was written."
    return (
        f"Interrupted after {done}{of} frames. The finished frames are kept in {partial} "
        f"(a readable {output.suffix} file; frames not reached are 0); {output} was not "
        "touched. Rename it to keep it, or run again with --overwrite to start over."
    )


def demo(args: argparse.Namespace) -> int:
    from napari_sam2 import _demo

    if args.frames < 2 or args.objects < 1:
        raise UsageError("--frames must be at least 2 and --objects at least 1")
    check_model_name(args.model)
    result = _demo.run_demo(
        args.output,
        frames=args.frames,
        objects=args.objects,
        model=args.model or DEFAULT_MODEL,
        checkpoint=args.checkpoint,
        device=args.device or "auto",
        image_size=args.image_size,
        precision=args.precision or "fp32",
        download=not args.no_download,
        fallback=not args.no_fallback,
        warn=say,
    )
    print(result.summary())
    return EXIT_OK


def export_video(args: argparse.Namespace) -> int:
    from napari_sam2.video_export import export_video, label_file
    from sam2_engine.sinks import read_info

    first_frame = args.first_frame
    if first_frame is None and label_file(args.labels):
        # labels written by `track --frames A:B` cover only those frames and record them
        info = read_info(args.labels)
        if info and info.get("frames"):
            first_frame = int(info["frames"][0])

    path = export_video(
        args.video,
        args.labels,
        args.output,
        kind=args.kind,
        objects=ints(args.objects, "--objects"),
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


def batch(args: argparse.Namespace) -> int:
    from napari_sam2 import batch as batch_runs

    if args.workers < 1 or args.threads_per_worker < 1:
        raise UsageError("--workers and --threads-per-worker must be at least 1")
    check_model_name(args.model)
    given = predictor_options(args)
    device = given.pop("device") or "cpu"
    results = batch_runs.run(
        batch_runs.load_jobs(args.jobs),
        args.scheduler,
        model=args.model or DEFAULT_MODEL,
        checkpoint=args.checkpoint,
        device=device,
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        overwrite=args.overwrite,
        options={name: value for name, value in given.items() if value is not None},
    )
    print(batch_runs.format_summary(results))
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK
