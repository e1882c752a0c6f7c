"""``napari-sam2 export-tracks`` and the division flags of ``napari-sam2 track``."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path

from napari_sam2.cli.arguments import say


def add_division_flags(sub: argparse.ArgumentParser) -> None:
    """``--divisions auto``, ``--division-min-area``, ``--division-frames`` on ``track``."""
    from napari_sam2.lineage.detect import DEFAULT_FRAMES
    from napari_sam2.lineage.parts import DEFAULT_MIN_AREA

    group = sub.add_argument_group("divisions (opt-in; see docs/lineage.md)")
    group.add_argument(
        "--divisions",
        choices=("auto",),
        help="find divisions while tracking: daughters get new ids from the split on, the "
        "output records the lineage (export-tracks reads it)",
    )
    group.add_argument(
        "--division-min-area",
        type=int,
        metavar="PX",
        default=DEFAULT_MIN_AREA,
        help=f"smallest part counted as a daughter, in pixels (default {DEFAULT_MIN_AREA})",
    )
    group.add_argument(
        "--division-frames",
        type=int,
        metavar="K",
        default=DEFAULT_FRAMES,
        help=f"frames a split must last to count (default {DEFAULT_FRAMES})",
    )


def division_settings(args: argparse.Namespace) -> object | None:
    """The ``divisions`` argument of ``api.track`` from the flags (None: not asked for)."""
    if args.divisions is None:
        return None
    from napari_sam2.cli.arguments import UsageError
    from napari_sam2.lineage import DivisionSettings

    try:
        return DivisionSettings(args.division_min_area, args.division_frames)
    except ValueError as err:
        raise UsageError(str(err)) from None


def add_export_tracks(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``export-tracks`` command."""
    sub = add(
        "export-tracks",
        export_tracks,
        "write tracks for the cell-tracking tools: Cell Tracking Challenge folder or GEFF",
    )
    sub.add_argument("labels", type=Path, help="a (T, H, W) label stack napari-sam2 wrote")
    sub.add_argument(
        "--session",
        type=Path,
        help="the session with the lineage (default: the lineage the labels file records)",
    )
    sub.add_argument(
        "-o", "--output", type=Path, required=True, help="the folder to write (e.g. 01_RES)"
    )
    sub.add_argument("--format", choices=("ctc", "geff"), default="ctc", help="default ctc")
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output written by napari-sam2 (never another folder)",
    )
    geff = sub.add_argument_group("GEFF only")
    geff.add_argument(
        "--no-segmentation", action="store_true", help="leave the label stack out of the GEFF"
    )
    geff.add_argument("--pixel-size", type=float, metavar="S", help="size of a pixel")
    geff.add_argument("--space-unit", metavar="UNIT", help="its unit, e.g. micrometer")
    geff.add_argument("--frame-interval", type=float, metavar="S", help="time between frames")
    geff.add_argument("--time-unit", metavar="UNIT", help="its unit, e.g. minute")


def export_tracks(args: argparse.Namespace) -> int:
    from napari_sam2.lineage import TracksExportWarning
    from napari_sam2.lineage import export_tracks as export

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TracksExportWarning)
        path = export(
            args.labels,
            args.output,
            args.format,
            args.session,
            overwrite=args.overwrite,
            segmentation=not args.no_segmentation,
            pixel_size=args.pixel_size,
            space_unit=args.space_unit,
            frame_interval=args.frame_interval,
            time_unit=args.time_unit,
        )
    for warning in caught:
        say(f"warning: {warning.message}")
    print(f"Wrote {path} ({args.format})")
    return 0
