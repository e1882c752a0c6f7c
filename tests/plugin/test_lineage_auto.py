"""Divisions found as frames are tracked, daughters relabelled, and CTC metrics computed by
the field's tools on the dividing-cells sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from napari_sam2._sample_dividing import DIVISIONS, make_dividing_cells
from napari_sam2.lineage import DivisionDetector, DivisionSettings, export_tracks, track_table
from napari_sam2.lineage.auto import (
    DivisionRelabeller,
    record_divisions,
    relabeller_for,
    write_with_divisions,
)


@pytest.fixture(scope="module")
def sample():
    return make_dividing_cells()


def _as_one_object(sample) -> np.ndarray:
    """What a tracker that never divides sees: every cell labelled with its first ancestor."""
    lut = np.arange(int(sample.truth.max()) + 1, dtype=np.uint16)
    for daughter in sorted(sample.lineage):
        lut[daughter] = lut[sample.lineage[daughter]]
    return lut[sample.truth]


def _split_disc(frame: np.ndarray, gap: int) -> None:
    frame[10:30, 10:30] = 1
    frame[10:30, 20 - gap // 2 : 20 + (gap + 1) // 2] = 0 if gap else 1


def test_the_sample_has_its_lineage(sample) -> None:
    assert sample.image.dtype == np.uint16 and sample.truth.shape == (30, 160, 160)
    assert sample.lineage == {4: 1, 5: 1, 6: 2, 7: 2, 8: 4, 9: 4}
    table = track_table(sample.truth, sample.lineage)
    assert not table.missing
    assert [(d.parent, d.frame) for d in table.lineage.divisions()] == [
        (m, f) for m, f, _ in DIVISIONS
    ]


def test_a_split_counts_after_k_frames_on_a_forward_pass() -> None:
    detector = DivisionDetector(DivisionSettings(min_area=20, frames=3))
    frame = np.zeros((40, 40), np.uint16)
    frame[35:37, 35:37] = 2  # too small to matter
    _split_disc(frame, 0)
    assert detector.update(0, frame) == []
    _split_disc(frame, 2)
    frame[0, 0] = 1  # a fragment of one pixel is no daughter
    assert detector.update(1, frame) == [] and detector.update(2, frame) == []
    (event,) = detector.update(3, frame)
    assert (event.parent, event.frame, event.areas) == (1, 1, (180, 180))
    assert set(np.unique(event.parts)) == {0, 1, 2} and event.parts[0, 0] == 0
    backward = DivisionDetector(DivisionSettings(frames=2))
    assert backward.update(9, frame) == [] and backward.update(8, frame) == []
    broken = DivisionDetector(DivisionSettings(min_area=5, frames=1, max_parts=2))
    confetti = np.zeros_like(frame)
    for y, x in ((0, 0), (0, 10), (10, 0), (10, 10)):
        confetti[y : y + 3, x : x + 3] = 1  # four parts of 9 pixels
    assert broken.update(0, confetti) == []
    with pytest.raises(ValueError, match="max_parts must be at least 2"):
        DivisionSettings(max_parts=1)
    brief = DivisionDetector(DivisionSettings(frames=2))
    merged = np.zeros_like(frame)
    _split_disc(merged, 0)
    assert brief.update(0, frame) == [] and brief.update(1, merged) == []
    assert brief.update(2, frame) == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_settings_are_checked(bad) -> None:
    with pytest.raises(ValueError, match="division min_area must be a whole number >= 1"):
        DivisionSettings(min_area=bad)
    with pytest.raises(ValueError, match="divisions must be None, 'auto' or a DivisionSettings"):
        relabeller_for("yes", [1], "uint16")


def test_daughters_are_relabelled_from_the_split_on(sample) -> None:
    seen = _as_one_object(sample)
    relabeller = DivisionRelabeller(first_id=4)
    out = np.zeros_like(seen)
    for t, frame in enumerate(seen):
        for index, labels in relabeller.push(t, frame):
            out[index] = labels
    assert [(e.parent, e.frame) for e in relabeller.events] == [(m, f) for m, f, _ in DIVISIONS]
    assert relabeller.parents == sample.lineage
    assert np.array_equal(out, sample.truth)  # daughters numbered in the sample's order


def test_divisions_written_into_a_file_and_exported(tmp_path: Path, sample) -> None:
    from sam2_engine.sinks import open_labels, open_sink, read_info

    seen = _as_one_object(sample)
    logits = [
        (t, [1, 2, 3], np.stack([np.where(f == i, 5.0, -5.0)[None] for i in (1, 2, 3)]))
        for t, f in enumerate(seen)
    ]
    relabeller = relabeller_for("auto", [1, 2, 3], "uint16")
    sink = open_sink(tmp_path / "labels.tif", seen.shape, "uint16", info={})
    events = write_with_divisions(iter(logits), sink, relabeller)
    record_divisions(sink.info, relabeller)
    sink.close()
    assert len(events) == 3 and sorted(sink.frames_written) != list(range(30))  # rewrites
    assert np.array_equal(open_labels(tmp_path / "labels.tif")[:], sample.truth)
    info = read_info(tmp_path / "labels.tif")
    assert info["lineage"] == {str(d): p for d, p in sample.lineage.items()}
    assert info["divisions"][0] == {"parent": 1, "frame": 8, "daughters": [4, 5]}
    out = export_tracks(tmp_path / "labels.tif", tmp_path / "01_RES", "ctc")
    assert "8 21 29 4" in (out / "res_track.txt").read_text()


def test_an_error_keeps_the_finished_frames(tmp_path: Path, sample) -> None:
    from sam2_engine.sinks import open_sink

    def frames():
        yield 0, [1], np.ones((1, 1, 160, 160))
        raise RuntimeError("engine failed")

    sink = open_sink(tmp_path / "labels.tif", (30, 160, 160), "uint16")
    with pytest.raises(RuntimeError, match="engine failed") as caught:
        write_with_divisions(frames(), sink, DivisionRelabeller(2))
    assert "1 finished frame(s) [0] are kept" in " ".join(caught.value.__notes__)
    assert (tmp_path / "labels.tif.partial").exists()


def test_metrics_of_a_perfect_and_of_a_non_dividing_tracker(sample) -> None:
    pytest.importorskip("traccuracy")
    pytest.importorskip("ctc_metrics")
    from napari_sam2.lineage.metrics import tracking_metrics

    perfect = tracking_metrics(sample.truth, sample.truth, sample.lineage, sample.lineage)
    assert perfect == dict.fromkeys(perfect, 1.0) and len(perfect) == 7
    merged = tracking_metrics(_as_one_object(sample), sample.truth, None, sample.lineage)
    assert merged["division_recall"] == 0.0 and math.isnan(merged["division_precision"])
    assert 0.5 < merged["DET"] < 1 and merged["SEG"] < merged["DET"] and merged["LNK"] < 0.5


def test_the_napari_sample_brings_the_truth_and_its_lineage() -> None:
    from napari_sam2._sample_dividing import dividing_cells_sample

    (image, image_kwargs, kind), (truth, truth_kwargs, truth_kind) = dividing_cells_sample()
    assert (kind, truth_kind) == ("image", "labels") and image.shape == truth.shape
    assert truth_kwargs["metadata"]["lineage"]["8"] == 4 and image_kwargs["axis_labels"][0] == "t"
