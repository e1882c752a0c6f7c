"""The lineage model: tracks, divisions, undo-friendly values, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sam2.lineage import (
    Division,
    Lineage,
    LineageError,
    Track,
    divide_by_mask,
    label_parts,
)
from napari_sam2.session import Session, SessionError, SessionObject, load_session, save_session


def _family() -> Lineage:
    return Lineage().add(1, 0).add(2, 0).divide(1, 5, [3, 4]).divide(3, 9, [5, 6])


def test_a_division_ends_the_parent_and_starts_the_daughters() -> None:
    lineage = _family()
    assert lineage[1] == Track(1, 0, 4, None)
    assert lineage[3] == Track(3, 5, 8, 1) and lineage[4] == Track(4, 5, None, 1)
    assert lineage[5].start == 9 and lineage[5].parent == 3
    assert lineage.tree() == {1: (3, 4), 3: (5, 6)}
    assert lineage.parents() == {3: 1, 4: 1, 5: 3, 6: 3}
    assert lineage.divisions() == [Division(1, 5, (3, 4)), Division(3, 9, (5, 6))]
    assert lineage.roots() == [1, 2] and lineage.root(6) == 1
    assert lineage.descendants(1) == [1, 3, 4, 5, 6]
    assert lineage.next_id(taken=[10]) == 11
    assert lineage[1].alive(4) and not lineage[1].alive(5)


def test_values_are_immutable_and_compare_by_content() -> None:
    before = Lineage().add(1, 0)
    after = before.divide(1, 3, [2, 3])
    assert len(before) == 1 and before[1].end is None  # the undo snapshot is untouched
    assert after.undivide(1) == before
    assert Lineage.from_json(after.to_json()) == after


def test_removing_tracks() -> None:
    lineage = Lineage().add(1, 0).divide(1, 3, [2, 3, 4])
    assert lineage.remove(4).daughters(1) == (2, 3)
    with pytest.raises(LineageError, match="one of the two daughters of track 1 .*frame 3"):
        lineage.remove(4).remove(3)
    assert lineage.remove(1) == Lineage()
    assert lineage.ended(4, 7)[4].end == 7


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (lambda g: g.divide(2, 6, [7]), "track 2 dividing on frame 6: .*at least two daughters"),
        (lambda g: g.divide(2, 6, [7, 7]), "daughter ids repeat"),
        (lambda g: g.divide(2, 6, [3, 7]), "track 3 exists already \\(from frame 5\\)"),
        (lambda g: g.add(4, 0), "track 4 exists already"),
        (lambda g: g.divide(1, 7, [7, 8]), "divides already on frame 5 into \\[3, 4\\]"),
        (lambda g: g.divide(2, 0, [7, 8]), "must live on frame -1"),
        (lambda g: g.divide(9, 3, [7, 8]), "track 9 is not in the lineage"),
        (lambda g: g.ended(3, 12), "track 5 starts on frame 9, but its parent 3 ends on frame 12"),
        (lambda g: g.ended(2, -1), "must be in 0"),
        (lambda g: g.undivide(2), "track 2 does not divide"),
    ],
)
def test_bad_changes_name_the_track_and_frame(change, phrase) -> None:
    with pytest.raises(LineageError, match=phrase):
        change(_family())


@pytest.mark.parametrize(
    ("tracks", "phrase"),
    [
        ([Track(1, 0, 4), Track(2, 3, None, 1), Track(3, 5, None, 1)], "track 2 starts on frame 3"),
        ([Track(1, 0, 4), Track(2, 5, None, 1)], "into one daughter \\(2\\)"),
        ([Track(1, 0, 4, 2), Track(2, 5, 9, 1)], "cycle"),
        ([Track(1, 0, 4, 1)], "its own parent"),
        ([Track(1, 0), Track(1, 3)], "track 1 is used twice"),
        ([Track(2, 5, None, 7)], "parent 7, which is not in the lineage"),
        ([Track(1, 5, 3)], "ends on frame 3, before it starts"),
        ([Track(0, 0)], "a track id must be in 1"),
        ([Track(True, 0)], "whole number, got True"),
        ([Track(1, 0, None), Track(2, 3, None, 1), Track(3, 3, None, 1)], "parent 1 never ends"),
    ],
)
def test_bad_lineages_are_refused(tracks, phrase) -> None:
    with pytest.raises(LineageError, match=phrase):
        Lineage(tuple(tracks))


def test_validate_against_the_frames() -> None:
    with pytest.raises(
        LineageError, match="track 5 lives on frames 9..\\(open\\), but the image has"
    ):
        _family().validate(num_frames=9)
    _family().validate(num_frames=10)


def test_a_mask_split_into_its_parts() -> None:
    mask = np.zeros((20, 30), bool)
    mask[2:8, 2:10] = True  # 48 px
    mask[10:18, 15:28] = True  # 104 px
    mask[0, 29] = True  # a fragment
    parts, areas = label_parts(mask, min_area=20)
    assert areas == [104, 48] and parts[12, 20] == 1 and parts[4, 4] == 2 and parts[0, 29] == 0
    lineage, daughters = divide_by_mask(Lineage().add(1, 0), 1, 6, mask, taken=[1, 2])
    assert list(daughters) == [3, 4] and lineage.tree() == {1: (3, 4)}
    assert daughters[3].sum() == 104 and daughters[4].sum() == 48
    with pytest.raises(LineageError, match="track 1 on frame 6: its mask has 1 part"):
        divide_by_mask(Lineage().add(1, 0), 1, 6, mask, min_area=60)


def test_sessions_keep_the_lineage(tmp_path) -> None:
    objects = [SessionObject(i) for i in (1, 2, 3, 4)]
    session = Session(objects=objects, lineage=Lineage().add(1, 0).add(2, 0).divide(1, 5, [3, 4]))
    loaded = load_session(save_session(session, tmp_path / "s.json"))
    assert loaded.lineage == session.lineage and loaded.lineage.tree() == {1: (3, 4)}
    plain = load_session(save_session(Session(objects=objects), tmp_path / "old.json"))
    assert len(plain.lineage) == 0 and "tracks" not in Session(objects=objects).to_json()
    with pytest.raises(SessionError, match="track\\(s\\) \\[3, 4\\] of the lineage are not in"):
        Session(objects=objects[:2], lineage=session.lineage).validate()
    with pytest.raises(
        SessionError, match="track 3 lives on frames 5..\\(open\\), but the image has frames 0..4"
    ):
        session.validate(num_frames=5)
