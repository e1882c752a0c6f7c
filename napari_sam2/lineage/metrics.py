"""Cell Tracking Challenge metrics of a tracking result against a ground truth.

Both stacks are written in the challenge's layout in a temporary folder (the result as
``RES``, the truth as ``GT/TRA`` and ``GT/SEG``) and scored by the field's own tools:
``py-ctcmetrics`` for DET, SEG, TRA and LNK (the challenge's definitions) and ``traccuracy``
for the divisions (precision, recall, F1: a division is right when the mother and both
daughters match, on the same frame; objects matched one to one at IoU >= 0.5, since the
challenge's own matching may give one result object several true ones). Install them with
``pip install traccuracy py-ctcmetrics``; nothing else in napari-sam2 needs them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from napari_sam2.lineage.table import track_table


def _tools() -> tuple[Any, ...]:
    try:
        from ctc_metrics import evaluate_sequence
        from traccuracy import run_metrics
        from traccuracy.loaders import load_ctc_data
        from traccuracy.matchers import IOUMatcher
        from traccuracy.metrics import DivisionMetrics
    except ImportError:
        raise ImportError(
            "tracking metrics need traccuracy and py-ctcmetrics: pip install traccuracy "
            "py-ctcmetrics"
        ) from None
    return evaluate_sequence, run_metrics, load_ctc_data, IOUMatcher, DivisionMetrics


def tracking_metrics(
    result: Any, truth: Any, lineage: Any = None, truth_lineage: Any = None
) -> dict[str, float]:
    """Score a (T, H, W) track-id stack against the true one.

    Arguments:
        result, truth: (T, H, W) label stacks, label = track id.
        lineage, truth_lineage: daughter id -> parent id of each (or a ``Lineage``).

    Returns:
        ``{"DET", "SEG", "TRA", "LNK", "division_precision", "division_recall",
        "division_f1"}``, each in [0, 1] (division figures are NaN when neither has a
        division).
    """
    evaluate_sequence, run_metrics, load_ctc_data, matcher, division_metrics = _tools()
    from napari_sam2.lineage.ctc import write_ctc_files

    with tempfile.TemporaryDirectory(prefix="napari-sam2-metrics-") as temporary:
        root = Path(temporary)
        folders = {name: root / name for name in ("RES", "GT/TRA", "GT/SEG")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gaps are scored as they are
            write_ctc_files(folders["RES"], track_table(result, lineage), result)
            true_table = track_table(truth, truth_lineage)
        write_ctc_files(
            folders["GT/TRA"], true_table, truth, prefix="man_track", track_file="man_track.txt"
        )
        write_ctc_files(
            folders["GT/SEG"], true_table, truth, prefix="man_seg", track_file="man_seg.txt"
        )
        (folders["GT/SEG"] / "man_seg.txt").unlink()
        with _quiet():
            scores = evaluate_sequence(
                str(folders["RES"]), str(root / "GT"), ["DET", "SEG", "TRA", "LNK"], threads=1
            )
            gt = load_ctc_data(str(folders["GT/TRA"]), name="truth")
            found = load_ctc_data(str(folders["RES"]), name="result")
            matching = matcher(iou_threshold=0.5, one_to_one=True)
            divisions = run_metrics(gt, found, matching, [division_metrics()])[0][0]
    buffer = divisions["results"]["Frame Buffer 0"]
    return {
        **{name: float(scores[name]) for name in ("DET", "SEG", "TRA", "LNK")},
        "division_precision": float(buffer["Division Precision"]),
        "division_recall": float(buffer["Division Recall"]),
        "division_f1": float(buffer["Division F1"]),
    }


@contextlib.contextmanager
def _quiet():
    """The tools print progress bars and results, and log: keep that out of the caller's
    output."""
    logger = logging.getLogger("traccuracy")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
