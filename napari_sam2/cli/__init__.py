"""The ``napari-sam2`` command line: models, track, demo, export-video, batch.

Each subcommand (:mod:`.commands`) is a thin layer over the scripted API
(:mod:`napari_sam2.api`), the weights registry (:mod:`sam2_engine.weights`),
:mod:`napari_sam2.video_export` and :mod:`napari_sam2.batch`; :mod:`.parser` builds the
arguments and :mod:`.arguments` turns their values into the API's. This package stays light:
``--help`` and ``--version`` import neither torch nor napari.

Exit status: 0 done, 1 failed (the message says why, on stderr, without a traceback unless
``--debug``), 2 bad usage (argparse's own errors and ours alike), 130 interrupted (Ctrl-C; the
finished frames are kept and the message says where).
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Sequence

from napari_sam2.cli.arguments import UsageError, prompts_from_args, say, warn
from napari_sam2.cli.commands import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from napari_sam2.cli.parser import build_parser

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "prompts_from_args",
]


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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (reduced precision that will not pay, skipped labels...) as one line."""
    warn(str(message))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.handler(args)
    except UsageError as error:
        args.subparser.print_usage(sys.stderr)
        say(f"{args.subparser.prog}: error: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("Interrupted.")
        return EXIT_INTERRUPTED
    except _expected_errors() as error:
        if debug:
            traceback.print_exc()
        say(f"napari-sam2 {args.command}: error: {_describe(error)}")
        return EXIT_FAILED
