"""The ``napari-sam2`` command line (a placeholder: subcommands come with the scripted API).

Keep this module light: ``napari-sam2 --version`` must not import torch or napari.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from napari_sam2 import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-sam2``."""
    parser = argparse.ArgumentParser(
        prog="napari-sam2",
        description="SAM 2 segmentation and tracking for images, stacks and videos.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sam2 {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
