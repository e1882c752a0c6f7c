"""Property-based tests (hypothesis) of prompt normalisation: any input gives either a valid,
normalised prompt or a ``ValueError`` / ``TypeError`` with a message, never another exception
and never a silently changed prompt."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sam2_engine.errors import PromptError
from sam2_engine.prompts import (
    MAX_POINTS,
    VALID_LABELS,
    check_flag,
    check_integer,
    check_mask,
    check_number,
    prompt_points,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-100, 5000),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.complex_numbers(max_magnitude=10),
)
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
anything = st.one_of(nested, arrays, st.dictionaries(st.text(max_size=2), scalars, max_size=2))


def normalise(points, labels, box, width, height, normalize):
    return prompt_points(
        points, labels, box, width=width, height=height, image_size=1024, normalize=normalize
    )


@SETTINGS
@given(
    points=st.one_of(st.none(), anything),
    labels=st.one_of(st.none(), anything),
    box=st.one_of(st.none(), anything),
    width=st.integers(1, 4096),
    height=st.integers(1, 4096),
    normalize=st.booleans(),
)
def test_any_input_is_normalised_or_refused(points, labels, box, width, height, normalize):
    try:
        coords, lbl = normalise(points, labels, box, width, height, normalize)
    except (ValueError, TypeError) as error:
        assert str(error)  # a message, naming what was wrong
        return
    if coords is None:
        assert points is None and labels is None and box is None and lbl is None
        return
    assert coords.dtype == torch.float32 and lbl.dtype == torch.int32
    assert coords.ndim == 3 and coords.shape[-1] == 2 and coords.shape[0] >= 1
    assert lbl.shape == coords.shape[:2] and 1 <= coords.shape[1] <= MAX_POINTS + 2
    assert torch.isfinite(coords).all()
    assert ((coords >= 0) & (coords <= 1024)).all()
    assert set(lbl.unique().tolist()) <= set(VALID_LABELS)


@SETTINGS
@given(
    data=st.data(),
    width=st.integers(1, 4096),
    height=st.integers(1, 4096),
    count=st.integers(1, 20),
)
def test_valid_clicks_are_kept_exactly(data, width, height, count):
    xs = data.draw(st.lists(st.floats(0, width), min_size=count, max_size=count))
    ys = data.draw(st.lists(st.floats(0, height), min_size=count, max_size=count))
    labels = data.draw(st.lists(st.sampled_from([0, 1]), min_size=count, max_size=count))
    points = np.stack([xs, ys], axis=1)
    coords, lbl = normalise(points.tolist(), labels, None, width, height, True)
    expected = torch.as_tensor(points / [width, height] * 1024, dtype=torch.float32)
    assert torch.allclose(coords[0], expected, atol=1e-3)
    assert lbl[0].tolist() == labels


@SETTINGS
@given(pairs=st.integers(1, 6), data=st.data())
def test_a_flat_points_list_is_refused_with_the_pairs(pairs, data):
    values = data.draw(st.lists(st.floats(0, 100), min_size=2 * pairs, max_size=2 * pairs))
    with pytest.raises(PromptError, match="flat list of .* write one \\[x, y\\] pair per point"):
        normalise(values, [1] * (len(values) // 2), None, 200, 200, True)


@SETTINGS
@given(value=st.one_of(scalars, arrays, st.lists(st.integers(), max_size=2)))
def test_ids_and_frames_are_integers_or_refused(value):
    try:
        number = check_integer(value, "obj_id")
    except ValueError as error:
        assert "obj_id" in str(error)
        return
    assert type(number) is int and not isinstance(value, (bool, np.bool_, float, np.floating))
    assert number == value


@SETTINGS
@given(value=st.one_of(scalars, arrays))
def test_flags_are_booleans_or_refused(value):
    try:
        flag = check_flag(value, "reverse")
    except TypeError as error:
        assert "reverse" in str(error)
        return
    assert flag is bool(value) and isinstance(value, (bool, np.bool_))


@SETTINGS
@given(value=st.one_of(scalars, arrays))
def test_numbers_are_finite_or_refused(value):
    try:
        number = check_number(value, "max_hole_area", minimum=0)
    except ValueError as error:
        assert "max_hole_area" in str(error)
        return
    assert np.isfinite(number) and number >= 0


@SETTINGS
@given(
    mask=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.uint8, np.bool_, np.int16]),
        shape=st.sampled_from([(6, 8), (1, 6, 8), (8, 6), (6,), (2, 6, 8)]),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_masks_are_valid_or_refused(mask):
    try:
        out = check_mask(mask, 6, 8)
    except ValueError as error:
        assert "mask" in str(error)
        return
    assert out.dtype == torch.bool and tuple(out.shape) == (6, 8)
    values = np.asarray(mask).reshape(6, 8)
    assert np.isfinite(values.astype(np.float64)).all()
    assert torch.equal(out, torch.from_numpy(values > 0))
