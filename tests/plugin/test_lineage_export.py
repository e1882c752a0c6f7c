"""Exports read back by the field's own tools: CTC folders by traccuracy's loader and
py-ctcmetrics' validator, GEFF by the geff package's reader and validators; the graph they
read equals the lineage we wrote."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_sam2._sample_dividing import make_dividing_cells
from napari_sam2.lineage import (
    Lineage,
    LineageError,
    TracksExportWarning,
    export_tracks,
    track_table,
    tracks_layer_data,
)
from napari_sam2.lineage.ctc import mask_name
from napari_sam2.session import Session, SessionObject, save_session
from sam2_engine.publish import MANIFEST_NAME, NotOurOutputError

traccuracy_loaders = pytest.importorskip("traccuracy.loaders")
geff = pytest.importorskip("geff")
ctc_metrics = pytest.importorskip("ctc_metrics")


@pytest.fixture(scope="module")
def sample():
    return make_dividing_cells()


def _division_edges(graph) -> set[tuple[int, int]]:
    """(parent track, daughter track) of every edge between two tracks of a CTC graph."""
    pairs = {(int(a.split("_")[0]), int(b.split("_")[0])) for a, b in graph.edges}
    return {(a, b) for a, b in pairs if a != b}


def test_ctc_is_read_back_by_traccuracy_with_our_lineage(tmp_path: Path, sample) -> None:
    out = export_tracks(sample.truth, tmp_path / "01_RES", "ctc", sample.lineage)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MANIFEST_NAME, "res_track.txt", *(mask_name(t, 30) for t in range(30))])
    assert mask_name(7, 30) == "mask007.tif" and mask_name(7, 1001) == "mask0007.tif"
    rows = [
        tuple(map(int, line.split())) for line in (out / "res_track.txt").read_text().splitlines()
    ]
    assert rows[:5] == [(1, 0, 7, 0), (2, 0, 13, 0), (3, 0, 29, 0), (4, 8, 20, 1), (5, 8, 29, 1)]
    import tifffile

    first = tifffile.imread(out / "mask008.tif")
    assert first.dtype == np.uint16 and np.array_equal(first, sample.truth[8])
    graph = traccuracy_loaders.load_ctc_data(str(out), run_checks=True).graph
    assert _division_edges(graph) == {(p, d) for d, p in sample.lineage.items()}
    assert graph.number_of_nodes() == len(track_table(sample.truth).nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ctc_metrics.validate_sequence(str(out), threads=1)["Valid"] == 1


def test_geff_is_read_back_and_validated(tmp_path: Path, sample) -> None:
    from geff.validate.data import ValidationConfig

    out = export_tracks(
        sample.truth,
        tmp_path / "tracks.geff",
        "geff",
        sample.lineage,
        pixel_size=0.65,
        space_unit="micrometer",
        frame_interval=5,
        time_unit="minute",
    )
    geff.validate_structure(str(out))
    checks = ValidationConfig(graph=True, tracklet=True, lineage=True)
    graph, meta = geff.read(str(out), data_validation=checks)
    assert [(a.name, a.type, a.scale, a.scaled_unit) for a in meta.axes] == [
        ("t", "time", 5.0, "minute"),
        ("y", "space", 0.65, "micrometer"),
        ("x", "space", 0.65, "micrometer"),
    ]
    assert meta.track_node_props == {"tracklet": "track_id", "lineage": "lineage_id"}
    assert meta.related_objects[0].path == "segmentation"
    nodes = graph.nodes
    divisions = {
        (nodes[a]["track_id"], nodes[b]["track_id"])
        for a, b, kind in graph.edges(data="division")
        if kind
    }
    assert divisions == {(p, d) for d, p in sample.lineage.items()}
    links = [(a, b) for a, b, kind in graph.edges(data="division") if not kind]
    assert all(nodes[a]["track_id"] == nodes[b]["track_id"] for a, b in links)
    assert all(nodes[b]["t"] == nodes[a]["t"] + 1 for a, b in links)
    node = next(n for n in nodes.values() if n["track_id"] == 9 and n["t"] == 25)
    mask = sample.truth[25] == 9
    assert node["seg_id"] == 9 and node["area"] == mask.sum() and node["lineage_id"] == 1
    assert node["y"] == pytest.approx(np.nonzero(mask)[0].mean())
    import zarr

    assert np.array_equal(zarr.open_array(str(out / "segmentation"))[:], sample.truth)


def test_a_session_and_a_label_file_supply_the_lineage(tmp_path: Path, sample) -> None:
    from sam2_engine.sinks import open_sink

    with open_sink(tmp_path / "labels.tif", sample.truth.shape, info={"lineage": {}}) as sink:
        for t, frame in enumerate(sample.truth):
            sink.write_labels(t, frame)
        sink.info["lineage"] = {str(d): p for d, p in sample.lineage.items()}
    out = export_tracks(tmp_path / "labels.tif", tmp_path / "from_file", "ctc")
    assert "4 8 20 1" in (out / "res_track.txt").read_text()
    lineage = Lineage.from_parents(sample.lineage, _spans(sample))
    session = Session(objects=[SessionObject(i) for i in lineage.ids], lineage=lineage)
    session_file = save_session(session, tmp_path / "session.json")
    again = export_tracks(tmp_path / "labels.tif", tmp_path / "from_session", "ctc", session_file)
    assert (again / "res_track.txt").read_text() == (out / "res_track.txt").read_text()


def _spans(sample) -> dict[int, tuple[int, int]]:
    table = track_table(sample.truth, sample.lineage)
    return {t.id: (t.start, t.end) for t in table.lineage}


def test_a_gap_is_reported_and_written_the_challenge_way(tmp_path: Path, sample) -> None:
    labels = sample.truth.copy()
    labels[10:12][labels[10:12] == 3] = 0  # track 3 lost on frames 10 and 11
    with pytest.warns(TracksExportWarning) as caught:
        out = export_tracks(labels, tmp_path / "gap", "ctc", sample.lineage)
    said = " / ".join(str(w.message) for w in caught)
    assert "track 3: no mask on frame(s) 10-11" in said and "track 10 from frame 12" in said
    rows = (out / "res_track.txt").read_text().splitlines()
    assert "3 0 9 0" in rows and "10 12 29 3" in rows
    graph = traccuracy_loaders.load_ctc_data(str(out), run_checks=True).graph
    assert (3, 10) in _division_edges(graph)
    with pytest.warns(TracksExportWarning, match="track 3: no mask on frame"):
        geff_out = export_tracks(labels, tmp_path / "gap.geff", "geff", sample.lineage)
    graph, _ = geff.read(str(geff_out))
    assert any(
        graph.nodes[a]["track_id"] == 3 and graph.nodes[b]["t"] == 12 for a, b in graph.edges
    )


def test_declared_lives_are_checked(tmp_path: Path, sample) -> None:
    spans = _spans(sample)
    declared = Lineage.from_parents(sample.lineage, {**spans, 3: (0, None)})
    labels = sample.truth.copy()
    labels[25:][labels[25:] == 5] = 0  # lost at the end: its life goes on (open)
    longer = Lineage.from_parents(sample.lineage, {**spans, 5: (8, 29)})
    table = track_table(labels, longer)
    assert table.missing == ["track 5: no mask on frame(s) 25-29 of its life"]
    assert table.lineage[5].end == 24
    assert not track_table(sample.truth, declared).missing
    early = Lineage.from_parents(sample.lineage, {**spans, 5: (9, 29)})
    with pytest.raises(LineageError, match="track 5 has a mask on frame 8, outside its life"):
        track_table(sample.truth, early)


@pytest.mark.parametrize(
    ("change", "lineage", "phrase"),
    [
        (None, {4: 1}, "track 1 divides on frame 8 into one daughter \\(4\\)"),
        (None, {4: 1, 5: 1, 12: 2}, "track 12 .* but the labels have no mask of it"),
        (
            lambda labels: labels[7].__setitem__(labels[7] == 0, 4),
            {4: 1, 5: 1},
            "track 4 starts on frame 7, but its parent 1 ends on frame 7",
        ),
        (None, {4: 5, 5: 4}, "cycle"),
        (
            lambda labels: labels.__setitem__(labels == 3, 70000),
            {},
            "track 70000 does not fit .*16-bit",
        ),
        (lambda labels: labels.fill(0), {}, "no object on any frame"),
    ],
)
def test_labels_and_lineage_that_disagree(tmp_path: Path, sample, change, lineage, phrase) -> None:
    labels = sample.truth.astype(np.uint32)
    if change is not None:
        change(labels)
    with pytest.raises(ValueError, match=phrase):
        export_tracks(labels, tmp_path / "out", "ctc", lineage)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_outputs_follow_the_publish_rules(tmp_path: Path, sample) -> None:
    with pytest.raises(ValueError, match="format must be one of ctc, geff"):
        export_tracks(sample.truth, tmp_path / "x", "trackmate")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's folder")
    with pytest.raises(FileExistsError, match="already exists"):
        export_tracks(sample.truth, mine, "ctc", sample.lineage)
    with pytest.raises(NotOurOutputError):
        export_tracks(sample.truth, mine, "ctc", sample.lineage, overwrite=True)
    out = export_tracks(sample.truth, tmp_path / "ours", "ctc", sample.lineage)
    assert export_tracks(sample.truth, out, "ctc", {}, overwrite=True) == out
    assert (out / "res_track.txt").read_text().startswith("1 0 7 0\n")
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert "res_track.txt" in manifest["files"]


def test_tracks_layer_data(sample) -> None:
    data, graph, properties = tracks_layer_data(sample.truth, sample.lineage)
    assert data.shape[1] == 4 and graph == {d: [p] for d, p in sample.lineage.items()}
    rows = data[data[:, 0] == 4]
    assert rows[0, 1] == 8 and rows[-1, 1] == 20 and np.all(np.diff(rows[:, 1]) == 1)
    mask = sample.truth[8] == 4
    assert rows[0, 2:] == pytest.approx([np.nonzero(mask)[0].mean(), np.nonzero(mask)[1].mean()])
    assert properties["area"][0] == (sample.truth[0] == 1).sum()
