"""Divisions end to end: the dividing-cells sample tracked with ``divisions="auto"`` from
Python and the command line, then exported and scored. Random weights: the figures only show
that the pipeline runs; the sample's truth relabelled as a perfect tracker shows that the
metrics are computed right (tests/plugin/test_lineage_auto.py)."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2 import api
from napari_sam2._sample_dividing import make_dividing_cells
from napari_sam2.cli import main
from napari_sam2.lineage import (
    DivisionSettings,
    Lineage,
    export_tracks,
    read_lineage,
    track_table,
)
from napari_sam2.session import FramePrompt, Session, SessionObject, save_session
from sam2_engine.sinks import read_info
from tests.support.cli import model_args as cli_model_args
from tests.support.cli import tiny_checkpoint  # noqa: F401 (a fixture)

FRAMES = 11  # the first division (frame 8) and a few frames after it


@pytest.fixture(scope="module")
def sample():
    return make_dividing_cells(n_frames=FRAMES)


@pytest.fixture(scope="module")
def session(sample) -> Session:
    """Each cell prompted with its true mask on frame 0."""
    return _session(sample)


def test_track_with_divisions_export_and_score(tmp_path: Path, sample, session, small_checkpoint):
    config, path = small_checkpoint
    labels, info = api.track(
        sample.image,
        session,
        replace(config, image_size=128),
        checkpoint=path,
        device="cpu",
        output=tmp_path / "labels.tif",
        divisions=DivisionSettings(min_area=10, frames=2),
        return_info=True,
        progress=False,
    )
    assert labels.shape == sample.truth.shape
    assert read_info(tmp_path / "labels.tif")["lineage"] == info["lineage"]
    lineage = read_lineage(None, tmp_path / "labels.tif")
    assert lineage == {int(d): p for d, p in info["lineage"].items()}
    assert all(len(event["daughters"]) >= 2 for event in info["divisions"])
    assert np.any(labels[0])  # the prompts' masks, at least
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights lose cells now and then: reported
        out = export_tracks(tmp_path / "labels.tif", tmp_path / "01_RES", "ctc")
    assert (out / "res_track.txt").read_text()
    pytest.importorskip("traccuracy")
    pytest.importorskip("ctc_metrics")
    from napari_sam2.lineage.metrics import tracking_metrics

    table = track_table(labels, lineage)
    scores = tracking_metrics(labels, sample.truth, table.lineage, sample.lineage)
    assert set(scores) >= {"DET", "SEG", "TRA", "division_f1"}
    assert all(math.isnan(v) or 0 <= v <= 1 for v in scores.values())


def test_divisions_and_streams_do_not_mix(sample, session) -> None:
    with pytest.raises(ValueError, match="use stream=False"):
        api.track(sample.image, session, divisions="auto", stream=True)
    with pytest.raises(ValueError, match="divisions must be None, 'auto' or a DivisionSettings"):
        api.track(sample.image, session, divisions="yes")


def test_the_command_line(tmp_path: Path, sample, session, tiny_checkpoint, capsys) -> None:  # noqa: F811
    tifffile.imwrite(tmp_path / "cells.tif", sample.image, imagej=True, metadata={"axes": "TYX"})
    save_session(session, tmp_path / "session.json")
    labels = tmp_path / "labels.tif"
    args = ["--session", str(tmp_path / "session.json"), "-o", str(labels), "--device", "cpu"]
    divisions = ["--divisions", "auto", "--division-min-area", "10", "--division-frames", "2"]
    code = main(["track", str(tmp_path / "cells.tif"), *args, *divisions,
                 *cli_model_args(tiny_checkpoint)])  # fmt: skip
    assert code == 0 and "Divisions found: " in capsys.readouterr().out
    assert "lineage" in read_info(labels)
    out = tmp_path / "tracks.geff"
    code = main(["export-tracks", str(labels), "-o", str(out), "--format", "geff",
                 "--pixel-size", "0.5", "--space-unit", "micrometer"])  # fmt: skip
    assert code == 0 and f"Wrote {out} (geff)" in capsys.readouterr().out
    truth = tmp_path / "truth.tif"
    tifffile.imwrite(truth, sample.truth)
    mapping = Session(
        objects=[SessionObject(i) for i in range(1, 6)],
        lineage=track_table(sample.truth, sample.lineage).lineage,
    )
    save_session(mapping, tmp_path / "truth.json")
    code = main(["export-tracks", str(truth), "--session", str(tmp_path / "truth.json"),
                 "-o", str(tmp_path / "01_RES")])  # fmt: skip
    assert code == 0
    assert "4 8 10 1\n5 8 10 1\n" in (tmp_path / "01_RES" / "res_track.txt").read_text()
    spans = {t.id: (t.start, t.end) for t in mapping.lineage}
    late = replace(mapping, lineage=Lineage.from_parents(sample.lineage, {**spans, 4: (9, 10)}))
    save_session(late, tmp_path / "late.json")
    code = main(["export-tracks", str(truth), "--session", str(tmp_path / "late.json"),
                 "-o", str(tmp_path / "bad")])  # fmt: skip
    assert code == 1 and not (tmp_path / "bad").exists()
    assert "track 4 has a mask on frame 8, outside its life" in capsys.readouterr().err


def test_a_session_lineage_ends_mothers_and_starts_daughters(sample, small_checkpoint) -> None:
    config, path = small_checkpoint
    lineage = track_table(sample.truth, sample.lineage).lineage
    daughters = [FramePrompt(8, i, mask=sample.truth[8] == i) for i in (4, 5)]
    divided = replace(
        _session(sample),
        objects=[SessionObject(i) for i in range(1, 6)],
        lineage=lineage,
    )
    divided.prompts += daughters
    labels = api.track(
        sample.image, divided, replace(config, image_size=128), checkpoint=path, device="cpu",
        progress=False,
    )  # fmt: skip
    assert not np.isin(labels[8:], [1]).any() and not np.isin(labels[:8], [4, 5]).any()
    found, true = labels[8] == 4, sample.truth[8] == 4  # about the prompt's own mask
    assert (found & true).sum() / (found | true).sum() > 0.7


def _session(sample) -> Session:
    return Session(
        objects=[SessionObject(i) for i in (1, 2, 3)],
        prompts=[FramePrompt(0, i, mask=sample.truth[0] == i) for i in (1, 2, 3)],
    )
