"""The session file format shared by the plugin, the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_sam2.session import (
    FramePrompt,
    Session,
    SessionError,
    SessionObject,
    decode_mask,
    encode_mask,
    load_session,
    save_session,
    session_from_prompts,
)


@pytest.mark.parametrize("first", [False, True])
def test_mask_rle_round_trip(first):
    rng = np.random.default_rng(0)
    mask = rng.random((17, 23)) > 0.6
    mask[0, 0] = first
    assert np.array_equal(decode_mask(encode_mask(mask)), mask)
    assert np.array_equal(decode_mask(encode_mask(np.zeros((4, 5), bool))), np.zeros((4, 5), bool))


def test_session_file_round_trip(tmp_path):
    mask = np.zeros((30, 40), bool)
    mask[5:9, 10:20] = True
    session = Session(
        source={"path": "cells.tif", "shape": [5, 30, 40], "axes": "TYX"},
        objects=[SessionObject(1, "cell", "#ff0000"), SessionObject(2, "other")],
        prompts=[
            FramePrompt(0, 1, points=[[3, 4], [10, 12.5]], labels=[1, 0]),
            FramePrompt(2, 2, box=[1, 2, 30, 25]),
            FramePrompt(4, 1, mask=mask),
        ],
        protected_frames=[3],
        settings={"fill_hole_area": 8},
    )
    path = save_session(session, tmp_path / "s.json")
    loaded = load_session(path)
    assert loaded.object_ids == [1, 2]
    assert loaded.prompts[0].points == [[3.0, 4.0], [10.0, 12.5]]
    assert loaded.prompts[1].box == [1.0, 2.0, 30.0, 25.0]
    assert np.array_equal(loaded.prompts[2].mask, mask)
    assert loaded.protected_frames == [3] and loaded.settings == {"fill_hole_area": 8}
    loaded.check_source(5, (30, 40))
    with pytest.raises(SessionError, match="saved for an image of 5 frames"):
        loaded.check_source(6, (30, 40))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="other"), "not a napari-sam2 session"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["prompts"][0].update(object=9), "not in the objects list"),
        (lambda d: d["prompts"][0].update(labels=[1, 1]), "2 labels"),
        (lambda d: d["prompts"][0].update(labels=[5]), "labels must be 1"),
        (lambda d: d["objects"].append({"id": 1}), "unique"),
        (lambda d: d["prompts"][0].update(mask={"size": [2, 2], "counts": [1]}), "add up"),
    ],
)
def test_bad_session_files_are_refused(tmp_path, change, message):
    data = Session(
        objects=[SessionObject(1)], prompts=[FramePrompt(0, 1, points=[[1, 1]], labels=[1])]
    ).to_json()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=message):
        load_session(path)


def test_not_json_and_missing_file(tmp_path):
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_session(tmp_path / "x.json")
    with pytest.raises(SessionError, match="not found"):
        load_session(tmp_path / "missing.json")


def test_plain_prompts_become_a_session():
    session = session_from_prompts(
        {
            1: {0: {"points": [[5, 6]]}},
            3: {2: {"box": [1, 1, 4, 4], "points": [[2, 2]], "labels": [0]}},
        }
    )
    assert session.object_ids == [1, 3]
    assert session.prompts[0].labels == [1]
    assert session.prompts[1].box == [1.0, 1.0, 4.0, 4.0]
    with pytest.raises(SessionError, match="outside"):
        session.check_source(3, (3, 3))
    with pytest.raises(SessionError, match="unknown keys"):
        session_from_prompts({1: {0: {"point": [[1, 1]]}}})
    with pytest.raises(SessionError, match="frame 7 does not exist"):
        session_from_prompts({1: {7: {"points": [[1, 1]]}}}).check_source(3, (10, 10))
