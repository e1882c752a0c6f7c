"""Predictor options: one checked object, a JSON round trip, clear errors."""

from __future__ import annotations

import pytest

from sam2_engine.options import OptionsError, PredictorOptions, option_names


def test_defaults_are_the_exact_official_settings_but_corrections() -> None:
    options = PredictorOptions()
    assert options.precision == "fp32" and options.device == "auto"
    assert options.fill_hole_area == 8 and options.add_all_frames_to_correct_as_cond
    kwargs = options.predictor_kwargs()
    assert "device" not in kwargs and "image_size" not in kwargs and kwargs["precision"] == "fp32"


def test_json_round_trip_and_aliases() -> None:
    options = PredictorOptions(device="CUDA:1", precision="bfloat16", image_size=512)
    assert options.device == "cuda:1" and options.precision == "bf16"
    assert PredictorOptions.from_json(options.to_json()) == options
    assert set(options.to_json()) == set(option_names())
    assert options.updated(precision=None, fill_hole_area=0).fill_hole_area == 0  # None: kept
    session_settings = {"direction": "both", "precision": "bf16"}
    assert PredictorOptions.from_json(session_settings, ignore_unknown=True).precision == "bf16"


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"precision": "fp8"}, "precision must be one of fp32, bf16, fp16"),
        ({"fill_hole_area": -5}, "fill_hole_area must be a whole number >= 0"),
        ({"fill_hole_area": 2.5}, "fill_hole_area must be a whole number"),
        ({"max_frames_in_memory": "abc"}, "max_frames_in_memory must be a whole number >= 7"),
        ({"max_frames_in_memory": 3}, "max_frames_in_memory must be a whole number >= 7"),
        ({"image_size": 500}, "multiple of 32"),
        ({"image_size": True}, "image_size must be a whole number"),
        ({"device": "gpu"}, "device must be auto, cpu, cuda, cuda:N or mps"),
        ({"device": "mps:1"}, "device must be"),
        ({"non_overlap_masks": "yes"}, "non_overlap_masks must be true or false"),
        ({"max_cond_frames_in_attn": 1}, "-1 \\(all\\) or at least 2"),
        ({"feature_cache_bytes": -1}, "feature_cache_bytes must be a whole number >= 0"),
    ],
)
def test_bad_values_name_the_option_and_the_rule(changes: dict, phrase: str) -> None:
    with pytest.raises(OptionsError, match=phrase):
        PredictorOptions().updated(**changes)
    with pytest.raises(OptionsError, match=phrase):
        PredictorOptions.from_json(changes)


def test_unknown_options_and_non_objects() -> None:
    with pytest.raises(OptionsError, match=r"unknown options \['fil_hole_area'\]"):
        PredictorOptions.from_json({"fil_hole_area": 3})
    with pytest.raises(OptionsError, match="unknown options"):
        PredictorOptions().updated(speed="fast")
    with pytest.raises(OptionsError, match="JSON object"):
        PredictorOptions.from_json(["bf16"])
    assert issubclass(OptionsError, ValueError)
