"""The session reader takes anything and answers with a session or a SessionError naming the
rule, never another exception; values are never truncated or guessed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_sam2.session import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Session,
    SessionError,
    encode_mask,
    load_session,
    session_from_prompts,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["objects", "prompts", "protected_frames", "source", "model", "settings", "tracks"]
)
PROMPT_KEYS = st.sampled_from(["frame", "object", "points", "labels", "box", "mask"])
TRACK_KEYS = st.sampled_from(["id", "start", "end", "parent"])
SMALL = st.none() | st.integers(-2, 12) | st.floats() | st.booleans() | st.text(max_size=3)


def _session(**parts) -> dict:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **parts}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=6))
def test_any_json_gives_a_session_or_a_session_error(parts) -> None:
    with contextlib.suppress(SessionError):
        Session.from_json(_session(**parts))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.dictionaries(PROMPT_KEYS, JSON, max_size=6), max_size=3))
def test_any_prompt_gives_a_session_or_a_session_error(prompts) -> None:
    with contextlib.suppress(SessionError):
        Session.from_json(_session(objects=[{"id": 1}], prompts=prompts))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.dictionaries(TRACK_KEYS, SMALL | JSON, max_size=4), max_size=4))
def test_any_tracks_give_a_session_or_a_session_error(tracks) -> None:
    objects = [{"id": i} for i in range(1, 13)]
    with contextlib.suppress(SessionError):
        Session.from_json(_session(objects=objects, tracks=tracks))


@pytest.mark.parametrize(
    ("tracks", "phrase"),
    [
        ([{"id": 1, "start": 0.5}], "track 1: the start must be a whole number, got 0.5"),
        ([{"id": True, "start": 0}], "a track id must be a whole number, got True"),
        ([{"id": 1, "start": 0, "end": float("nan")}], "the end must be a whole number, got nan"),
        ([{"id": 1}], "a track is \\{'id', 'start', 'end', 'parent'\\}"),
        ({"id": 1}, "tracks must be a list"),
        ([{"id": 2, "start": 0, "parent": 2}], "is its own parent"),
        ([{"id": 1, "start": 0}, {"id": 1, "start": 3}], "track 1 is used twice"),
        (
            [{"id": 1, "start": 0, "end": 4}, {"id": 2, "start": 3, "parent": 1}],
            "track 2 starts on frame 3, but its parent 1 ends on frame 4",
        ),
        ([{"id": 9, "start": 0}], "track\\(s\\) \\[9\\] of the lineage are not in the objects"),
    ],
)
def test_bad_tracks_are_refused_by_rule(tracks, phrase) -> None:
    with pytest.raises(SessionError, match=phrase):
        Session.from_json(_session(objects=[{"id": 1}, {"id": 2}, {"id": 3}], tracks=tracks))


def test_sessions_without_tracks_load_with_no_lineage() -> None:
    session = Session.from_json(_session(objects=[{"id": 1}]))
    assert len(session.lineage) == 0
    good = [{"id": 1, "start": 0, "end": 4}, *({"id": i, "start": 5, "parent": 1} for i in (2, 3))]
    assert Session.from_json(_session(objects=[{"id": 1}, {"id": 2}, {"id": 3}], tracks=good))


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_plain_prompt_structure_gives_a_session_or_a_session_error(prompts) -> None:
    with contextlib.suppress(SessionError):
        session_from_prompts(prompts)


GOOD = {"frame": 0, "object": 1, "points": [[5, 5]], "labels": [1]}


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"frame": 0.9}, "the frame must be a whole number, got 0.9"),
        ({"object": 1.7}, "the object id must be a whole number, got 1.7"),
        ({"object": True}, "the object id must be a whole number, got True"),
        (
            {"points": [10, 20, 30, 40]},
            r"\[x, y\] pairs.*for pairs write \[\[10, 20\], \[30, 40\]\]",
        ),
        ({"points": [[1, float("nan")]]}, "must be a finite number"),
        ({"labels": [2]}, "1 \\(positive\\) or 0 \\(negative\\)"),
        ({"box": [1, 2, 3]}, "must be \\[x0, y0, x1, y1\\], got 3 numbers"),
        ({"mask": {"size": [100000, 100000], "counts": [10**10]}}, "larger than any frame"),
        ({"mask": {"size": [2, 2], "counts": [5, -1]}}, "a run length must be >= 0, got -1"),
        ({"mask": {"size": [2, 2], "counts": [1, 2]}}, "add up to 3, not 2 x 2 = 4"),
    ],
)
def test_bad_values_are_refused_by_rule(change, phrase) -> None:
    prompt = {**GOOD, **change}
    with pytest.raises(SessionError, match=phrase):
        Session.from_json(_session(objects=[{"id": 1}], prompts=[prompt]))


@pytest.mark.parametrize(
    ("prompts", "phrase"),
    [
        ({1: {0.9: {"points": [[5, 5]]}}}, "the frame must be a whole number, got 0.9"),
        ({True: {0: {"points": [[5, 5]]}}}, "an object id must be a whole number, got True"),
        ({1.7: {0: {"points": [[5, 5]]}}}, "an object id must be a whole number, got 1.7"),
        ({1: {0: {"points": [10, 20, 30, 40]}}}, r"for pairs write \[\[10, 20\], \[30, 40\]\]"),
        ({1: {0: {"mask": np.full((4, 4), np.nan)}}}, "holds NaN"),
        ({1: {0: {"mask": np.ones((4, 4), complex)}}}, "must hold bool or numbers"),
        ({"one": {0: {"points": [[5, 5]]}}}, "an object id must be a whole number, got 'one'"),
    ],
)
def test_bad_plain_prompts_are_refused_by_rule(prompts, phrase) -> None:
    with pytest.raises(SessionError, match=phrase):
        session_from_prompts(prompts)


def test_json_keys_and_masks_of_numbers_are_read() -> None:
    session = session_from_prompts({"2": {"3": {"mask": np.eye(4) * 0.7}}})
    (prompt,) = session.prompts
    assert (prompt.object, prompt.frame) == (2, 3) and prompt.mask.dtype == bool
    assert prompt.mask.sum() == 4
    rle = encode_mask(prompt.mask)
    data = _session(objects=[{"id": 2}], prompts=[{"frame": 3.0, "object": 2, "mask": rle}])
    assert Session.from_json(data).prompts[0].frame == 3  # an integral float is a whole number


def test_files_that_are_no_session(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SessionError, match="nested too deeply|not valid JSON"):
        load_session(deep)
    with pytest.raises(SessionError, match="is a folder"):
        load_session(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SessionError, match="not a session file"):
        load_session(tmp_path / "bin.json")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(SessionError, match="not a napari-sam2 session"):
        load_session(tmp_path / "list.json")
