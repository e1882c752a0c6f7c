"""ImagePredictor against the official SAM2ImagePredictor: same random weights, same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2_engine import ImagePredictor, load_model
from sam2_engine.checkpoint import save_checkpoint
from tests.support import oracle
from tests.support.parity import ATOL, assert_logits_match, max_abs_diff

NAME = "sam2.1_hiera_tiny"
REPORT: dict[str, float] = {}


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    state = oracle.random_official_state_dict(NAME, seed=1)
    path = save_checkpoint(state, tmp_path_factory.mktemp("ckpt") / "random.pt")
    ours = ImagePredictor(load_model(NAME, checkpoint=path, device="cpu"))
    theirs = SAM2ImagePredictor(oracle.build_official(NAME, state))
    rng = np.random.default_rng(0)
    image = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    image[80:200, 120:260] //= 3  # a darker block, so masks have some structure
    ours.set_image(image)
    theirs.set_image(image)
    yield ours, theirs, image
    print("\nimage predictor parity, max abs diff per case:")
    for case, diff in sorted(REPORT.items()):
        print(f"  {case:40s} {diff:.2e}")


def test_image_embedding_matches(predictors):
    ours, theirs, _ = predictors
    diff = max_abs_diff(ours.get_image_embedding(), theirs.get_image_embedding())
    REPORT["image embedding"] = diff
    assert diff <= ATOL
    pairs = zip(ours._features.high_res, theirs._features["high_res_feats"], strict=True)
    for i, (a, b) in enumerate(pairs):
        d = max_abs_diff(a, b)
        REPORT[f"high-res features {i}"] = d
        assert d <= ATOL


CASES = {
    "one point": {"point_coords": [[200, 150]], "point_labels": [1]},
    "pos+neg points": {
        "point_coords": [[200, 150], [50, 40], [330, 260]],
        "point_labels": [1, 0, 0],
    },
    "box": {"box": [110, 70, 270, 210]},
    "box+point": {"box": [110, 70, 270, 210], "point_coords": [[190, 140]], "point_labels": [1]},
    "batched boxes": {"box": [[110, 70, 270, 210], [0, 0, 100, 100], [250, 150, 399, 299]]},
    "batched points": {"point_coords": [[[200, 150]], [[20, 30]]], "point_labels": [[1], [1]]},
}


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("case", list(CASES))
def test_predict_matches(predictors, case, multimask):
    ours, theirs, _ = predictors
    kwargs = CASES[case]
    o_masks, o_scores, o_low = ours.predict(
        **kwargs, multimask_output=multimask, return_logits=True
    )
    t_masks, t_scores, t_low = theirs.predict(
        **kwargs, multimask_output=multimask, return_logits=True
    )
    what = f"{case} ({'multi' if multimask else 'single'})"
    assert o_masks.shape == t_masks.shape and o_low.shape == t_low.shape
    assert_logits_match(o_masks, t_masks, f"{what} masks", REPORT)
    assert_logits_match(o_low, t_low, f"{what} low-res", REPORT)
    diff = max_abs_diff(o_scores, t_scores)
    REPORT[f"{what} scores"] = diff
    assert diff <= ATOL
    # thresholded masks: same 0/1 values and dtype as the official output
    o_bin, _, _ = ours.predict(**kwargs, multimask_output=multimask)
    t_bin, _, _ = theirs.predict(**kwargs, multimask_output=multimask)
    assert o_bin.dtype == t_bin.dtype
    near = np.abs(t_masks) <= ATOL
    assert np.array_equal(o_bin[~near], t_bin[~near])


def test_mask_input_matches(predictors):
    ours, theirs, _ = predictors
    _, _, low = theirs.predict(point_coords=[[200, 150]], point_labels=[1], multimask_output=False)
    prompt = {"point_coords": [[210, 160]], "point_labels": [1], "mask_input": low}
    o_masks, o_scores, o_low = ours.predict(**prompt, multimask_output=False, return_logits=True)
    t_masks, t_scores, t_low = theirs.predict(**prompt, multimask_output=False, return_logits=True)
    assert_logits_match(o_masks, t_masks, "mask input masks", REPORT)
    assert_logits_match(o_low, t_low, "mask input low-res", REPORT)
    assert max_abs_diff(o_scores, t_scores) <= ATOL


def test_gray_image_equals_replicated_rgb(predictors):
    """A gray image is the official RGB image with three equal channels."""
    ours, theirs, image = predictors
    gray = image[..., 1].copy()
    ours.set_image(gray)
    theirs.set_image(np.repeat(gray[..., None], 3, axis=-1))
    try:
        o, _, _ = ours.predict(point_coords=[[200, 150]], point_labels=[1], return_logits=True)
        t, _, _ = theirs.predict(point_coords=[[200, 150]], point_labels=[1], return_logits=True)
        assert_logits_match(o, t, "gray image masks", REPORT)
    finally:
        ours.set_image(image)
        theirs.set_image(image)


def test_image_batch_matches(predictors):
    ours, theirs, image = predictors
    second = np.ascontiguousarray(image[::-1, ::-1])
    ours.set_image_batch([image, second[:250]])
    theirs.set_image_batch([image, second[:250]])
    try:
        args = {
            "point_coords_batch": [np.array([[200, 150]]), np.array([[40, 60]])],
            "point_labels_batch": [np.array([1]), np.array([1])],
            "return_logits": True,
        }
        o_masks, o_scores, _ = ours.predict_batch(**args)
        t_masks, t_scores, _ = theirs.predict_batch(**args)
        for i in range(2):
            assert_logits_match(o_masks[i], t_masks[i], f"batch image {i} masks", REPORT)
            assert max_abs_diff(o_scores[i], t_scores[i]) <= ATOL
    finally:
        ours.set_image(image)
        theirs.set_image(image)


@torch.inference_mode()
def test_all_presets_forward_match_official():
    """Keys load strictly and one full forward matches, for each of the eight presets
    (at 256 input to keep it fast; the 1024 path is covered above for tiny)."""
    from sam2_engine import build_model
    from sam2_engine.checkpoint import apply_state_dict
    from sam2_engine.configs import get_config

    image = torch.randn(1, 3, 256, 256)
    for name in oracle.OFFICIAL_CONFIG_FILES:
        torch.manual_seed(3)
        official = oracle.build_official(name, image_size=256)
        ours = build_model(get_config(name, image_size=256), seed=None)
        apply_state_dict(ours, official.state_dict(), name, f"official {name}")
        theirs_out = official.forward_image(image)
        feats = ours.encode_image(image)
        diff = max(
            max_abs_diff(feats.embed, theirs_out["backbone_fpn"][2]),
            max_abs_diff(feats.high_res[0], theirs_out["backbone_fpn"][0]),
            max_abs_diff(feats.high_res[1], theirs_out["backbone_fpn"][1]),
        )
        REPORT[f"forward_image {name} @256"] = diff
        assert diff <= ATOL, name
