"""Many objects from the command line (issue #14): ``track --seed-labels / --seed-all /
--redetect-every`` and ``segment-all``, each equal to the API it wraps."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_sam2 import api
from napari_sam2.seeding import prompts_from_labels, segment_everything
from tests.support.cli import MODEL, SIZE, main, model_args

#: Settings under which the random tiny model finds something.
FIND_ANY = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-thresh", "0"]
FIND_ANY_KW = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> tuple:
    """A label image of two cells on the movie (ids 4 and 8), and a 4-frame stack of it."""
    folder = tmp_path_factory.mktemp("seeds")
    yy, xx = np.mgrid[0:48, 0:64]
    labels = np.zeros((48, 64), np.uint16)
    labels[(yy - 16) ** 2 + (xx - 18) ** 2 < 64] = 4
    labels[(yy - 36) ** 2 + (xx - 50) ** 2 < 40] = 8
    tifffile.imwrite(folder / "seeds.tif", labels)
    stack = np.zeros((4, 48, 64), np.uint16)
    stack[2] = labels
    tifffile.imwrite(folder / "stack.tif", stack, photometric="minisblack")
    return folder / "seeds.tif", folder / "stack.tif", labels


def api_args(checkpoint) -> dict:
    return {"checkpoint": checkpoint, "device": "cpu", "image_size": int(SIZE)}


def test_seed_labels_tracks_every_label_like_the_api(tmp_path, tiny_checkpoint, movie, seeds):
    path, stack, labels = seeds
    out = tmp_path / "tracked.tif"
    assert main("track", str(movie), "--seed-labels", f"{stack}@2", "-o", str(out),
                "--device", "cpu", *model_args(tiny_checkpoint)) == 0  # fmt: skip
    expected = api.track(movie, prompts_from_labels(labels, 2), MODEL, progress=False,
                         **api_args(tiny_checkpoint))  # fmt: skip
    np.testing.assert_array_equal(tifffile.imread(out), expected)
    assert api.read_info(out)["objects"] == [4, 8]


def test_specks_are_said_in_one_line_with_the_flag_to_change(tmp_path, tiny_checkpoint, movie,
                                                             seeds, capsys):  # fmt: skip
    labels = seeds[2].copy()
    labels[0, 0] = 30  # a one-pixel label
    path = tmp_path / "specks.tif"
    tifffile.imwrite(path, labels)
    out = tmp_path / "x.tif"
    args = ["track", str(movie), "--seed-labels", str(path), "--point", "0,30,30,50"]
    assert main(*args, "-o", str(out), *model_args(tiny_checkpoint)) == 0
    captured = capsys.readouterr()
    assert ("napari-sam2: warning: 1 label(s) smaller than 16 pixels were skipped: 30 "
            "(--seed-min-area changes the threshold)") in captured.err  # fmt: skip
    assert "objects [4, 8, 50]" in captured.out  # in order of id
    out.unlink()
    assert main(*args, "--seed-min-area", "1", "-o", str(out), *model_args(tiny_checkpoint)) == 0
    assert "objects [4, 8, 30, 50]" in capsys.readouterr().out


def test_the_seed_labels_are_never_the_output(tmp_path, tiny_checkpoint, movie, seeds, capsys):
    out = tmp_path / "labels.tif"
    args = ["track", str(movie), "--point", "0,20,16", *model_args(tiny_checkpoint)]
    assert main(*args, "-o", str(out)) == 0  # our own output: replaceable with --overwrite...
    before = out.read_bytes()
    seeded = ["track", str(movie), "--seed-labels", f"{out}@0", *model_args(tiny_checkpoint)]
    assert main(*seeded, "-o", str(out), "--overwrite") == 1  # ...but not while it is an input
    assert "is the input" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_seeds_and_clicks_with_one_id_clash(tmp_path, tiny_checkpoint, movie, seeds, capsys):
    path, _, _ = seeds
    out = tmp_path / "x.tif"
    args = ["track", str(movie), "--seed-labels", str(path), "-o", str(out)]
    assert main(*args, "--point", "0,30,30,4", *model_args(tiny_checkpoint)) == 1
    err = capsys.readouterr().err
    assert "object 4 is seeded twice" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed-labels", "{movie}"], "looks like an intensity image"),
        (["--seed-labels", "{stack}@7"], "holds 4 label frames; there is no frame 7"),
        (["--seed-labels", "nowhere.tif"], "label image not found: nowhere.tif"),
        (["--seed-labels", "{stack}@x"], None),
    ],
)
def test_bad_seeds_fail_in_one_line(tmp_path, movie, seeds, flags, message, capsys) -> None:
    values = {"movie": movie, "stack": seeds[1]}
    flags = [f.format(**values) for f in flags]
    code = main("track", str(movie), *flags, "-o", str(tmp_path / "x.tif"))
    err = capsys.readouterr().err
    if message is None:  # a usage error
        assert code == 2 and "expects LABELS[@T] with T a frame number" in err
        return
    assert code == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["track", "in.tif", "--seed-all", "0", "--session", "s.json"], "either --session"),
        (["track", "in.tif", "--point", "0,1,2", "--redetect-every", "0"], "--redetect-every"),
        (["track", "in.tif", "--seed-all", "0", "--points-per-side", "0"], "--points-per-side"),
        (["track", "in.tif", "--seed-all", "-1"], "--seed-all expects a frame number >= 0"),
        (["track", "in.tif", "--seed-labels", "l.tif", "--seed-min-area", "0"], "at least 1"),
        (["segment-all", "in.tif", "--min-area", "-1"], "--min-area must be at least 0"),
    ],
)
def test_bad_object_flags_are_usage_errors(tmp_path, args, message, capsys) -> None:
    assert main(*args, "-o", str(tmp_path / "x.tif")) == 2
    assert message in capsys.readouterr().err


def test_seed_all_tracks_everything_found(tmp_path, tiny_checkpoint, movie) -> None:
    out = tmp_path / "all_tracked.tif"
    assert main("track", str(movie), "--seed-all", "1", *FIND_ANY, "-o", str(out),
                "--device", "cpu", *model_args(tiny_checkpoint)) == 0  # fmt: skip
    found = segment_everything(movie, MODEL, frame=1, **api_args(tiny_checkpoint), **FIND_ANY_KW)
    expected = api.track(movie, prompts_from_labels(found, 1, min_area=1), MODEL,
                         progress=False, **api_args(tiny_checkpoint))  # fmt: skip
    np.testing.assert_array_equal(tifffile.imread(out), expected)
    assert api.read_info(out)["objects"] == list(range(1, int(found.max()) + 1))


def test_redetect_records_where_objects_start(tmp_path, tiny_checkpoint, movie, seeds) -> None:
    out = tmp_path / "redetected.tif"
    assert main("track", str(movie), "--seed-labels", str(seeds[0]), "--redetect-every", "2",
                *FIND_ANY, "-o", str(out), *model_args(tiny_checkpoint)) == 0  # fmt: skip
    info = api.read_info(out)
    assert {"4": 0, "8": 0}.items() <= info["first_frames"].items()
    assert set(info["first_frames"].values()) <= {0, 2}  # seeded, or found on frame 2
    labels = tifffile.imread(out)
    for obj, first in info["first_frames"].items():
        assert not (labels[:first] == int(obj)).any()


def test_segment_all_writes_the_api_result_and_keeps_user_files(
    tmp_path, tiny_checkpoint, movie, capsys
) -> None:
    out = tmp_path / "everything.tif"
    args = ["segment-all", str(movie), "--frame", "2", *FIND_ANY, *model_args(tiny_checkpoint)]
    assert main(*args, "-o", str(out)) == 0
    assert "objects on frame 2" in capsys.readouterr().out
    expected = segment_everything(movie, MODEL, frame=2, **api_args(tiny_checkpoint),
                                  **FIND_ANY_KW)  # fmt: skip
    np.testing.assert_array_equal(tifffile.imread(out), expected)
    assert main(*args, "-o", str(out)) == 1  # exists
    assert "already exists" in capsys.readouterr().err
    assert main(*args, "-o", str(out), "--overwrite") == 0  # ours: replaced on request
    mine = tmp_path / "mine.tif"
    mine.write_bytes(b"a user's file")
    assert main(*args, "-o", str(mine), "--overwrite") == 1
    assert mine.read_bytes() == b"a user's file"
    assert main(*args, "-o", str(movie), "--overwrite") == 1
    assert "is the input" in capsys.readouterr().err
