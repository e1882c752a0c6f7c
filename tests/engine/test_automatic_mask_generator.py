"""AutomaticMaskGenerator against the official SAM2AutomaticMaskGenerator.

Both generators get the same random weights and the same image; their records must agree one
for one, in order: same boxes, areas, prompts and crop boxes, same masks, scores within the
parity tolerance. The official generator runs on CPU through ``tests.support.oracle_kernels``
(a CPU ``torchvision::nms`` and connected-components kernel).

Random weights give masks that ignore the prompt and speckle everywhere. Two things make them
worth comparing: a picture of flat shapes (masks then follow the shapes), and the
hypernetwork's output layer scaled up (logits far from the threshold, so stability scores
spread over [0, 1] instead of all being 0). Thresholds are relaxed accordingly. The model is
the thin test trunk (``thin_config``, with no global-attention block, which the official
Hiera cannot pool into) at a 256 input; one case uses the real tiny trunk.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import torch

from sam2_engine import AutomaticMaskGenerator, build_model, thin_config
from sam2_engine.automask import boxes as box_ops
from sam2_engine.automask import grids, masks
from sam2_engine.checkpoint import apply_state_dict
from sam2_engine.configs import get_config
from sam2_engine.errors import ImageInputError
from tests.support import oracle
from tests.support.oracle_kernels import official_kernels, reference_nms
from tests.support.parity import ATOL

NAME = "sam2.1_hiera_tiny"
IMAGE_SIZE = 256
#: The official tiny config turned into our thin trunk (minus its global block).
THIN_OVERRIDES = (
    "++model.image_encoder.trunk.embed_dim=16",
    "++model.image_encoder.trunk.stages=[1,1,1,1]",
    "++model.image_encoder.trunk.global_att_blocks=[]",
    "++model.image_encoder.trunk.window_spec=[8,4,4,4]",
    "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
)
HYPER_OUTPUT_SCALE = 30.0
#: Relaxed filters for random weights (their predicted IoUs sit near 0.5).
RELAXED = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


def thin_pair_config():
    thin = thin_config("thin automask")
    return dataclasses.replace(
        thin, hiera=dataclasses.replace(thin.hiera, global_attention_blocks=())
    )


def _scale_hypernetworks(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "output_hypernetworks_mlps" in name and ".layers.2." in name:
                param.mul_(HYPER_OUTPUT_SCALE)


def _model_pair(config, overrides: tuple[str, ...], seed: int):
    torch.manual_seed(seed)
    official = oracle.build_official(NAME, image_size=config.image_size, overrides=overrides)
    _scale_hypernetworks(official)
    ours = build_model(config, seed=None)
    apply_state_dict(ours, official.state_dict(), config.name, "official random weights")
    return ours, official


@pytest.fixture(scope="module")
def models():
    return _model_pair(thin_pair_config(), THIN_OVERRIDES, seed=1)


@pytest.fixture(scope="module")
def tiny_models():
    return _model_pair(get_config(NAME, image_size=IMAGE_SIZE), (), seed=6)


def shapes_image(height: int = 160, width: int = 200) -> np.ndarray:
    """Four flat shapes, one per quadrant, on a dark background with a faint gradient."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), dtype=np.float64)
    image[:] = 30 + 20 * xx[..., None] / width
    image[15:55, 15:70] = (225, 220, 210)
    image[100:140, 20:60] = (200, 40, 30)
    image[((yy - 40) ** 2 + (xx - 150) ** 2) < 22**2] = (60, 170, 90)
    image[105:145, 125:185] = (90, 90, 230)
    return image.astype(np.uint8)


IMAGE = shapes_image()


def official_records(official, image, **options) -> list[dict]:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    generator = SAM2AutomaticMaskGenerator(official, **options)
    # the official image predictor assumes a 1024 input; tell it the feature sizes at ours
    size = official.image_size
    generator.predictor._bb_feat_sizes = [(size // s, size // s) for s in (4, 8, 16)]
    with official_kernels(), torch.inference_mode():
        return generator.generate(image)


def official_logits(official, image, record: dict, options: dict) -> np.ndarray:
    """The official (H, W) logits behind one official record: its point prompted again on its
    crop, as the official generator prompted it (used only to judge differing pixels)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    area = options.get("min_mask_region_area", 0)
    predictor = SAM2ImagePredictor(official, max_hole_area=area, max_sprinkle_area=area)
    size = official.image_size
    predictor._bb_feat_sizes = [(size // s, size // s) for s in (4, 8, 16)]
    x0, y0, w, h = (int(v) for v in record["crop_box"])
    point = np.array(record["point_coords"]) - [x0, y0]
    multimask = options.get("multimask_output", True)
    with official_kernels(), torch.inference_mode():
        predictor.set_image(image[y0 : y0 + h, x0 : x0 + w])
        logits, ious, low_res = predictor.predict(
            point_coords=point, point_labels=[1], multimask_output=multimask, return_logits=True
        )
        if options.get("use_m2m", False):
            refined = [
                predictor.predict(
                    point_coords=point,
                    point_labels=[1],
                    mask_input=low[None],
                    multimask_output=False,
                    return_logits=True,
                )
                for low in low_res
            ]
            logits = np.concatenate([r[0] for r in refined])
            ious = np.concatenate([r[1] for r in refined])
    best = int(np.argmin(np.abs(ious - record["predicted_iou"])))
    full = np.full(image.shape[:2], -np.inf, dtype=np.float32)
    full[y0 : y0 + h, x0 : x0 + w] = logits[best]
    return full


def stability_bounds(logits: np.ndarray, offset: float = 1.0) -> tuple[float, float]:
    """The range of stability scores ``logits`` give when any pixel within ATOL of a cut may
    fall on either side of it (mask threshold 0)."""
    inner = np.count_nonzero(logits > offset)
    outer = np.count_nonzero(logits > -offset)
    near_inner = np.count_nonzero(np.abs(logits - offset) <= ATOL)
    near_outer = np.count_nonzero(np.abs(logits + offset) <= ATOL)
    low = (inner - near_inner) / (outer + near_outer)
    high = (inner + near_inner) / max(outer - near_outer, 1)
    return low - 1e-6, high + 1e-6


def assert_records_match(ours: list[dict], theirs: list[dict], explain=None) -> None:
    """Records equal one for one. Masks may differ only at pixels whose official logit is
    within ATOL of the threshold (``explain(record)`` gives the official logits); the area
    and box of such a mask then follow from its pixels."""
    assert len(ours) == len(theirs), f"{len(ours)} records, official {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert sorted(a) == sorted(b), f"record {i}: keys {sorted(a)} != {sorted(b)}"
        for key in ("point_coords", "crop_box", "bbox", "area"):
            assert type(a[key]) is type(b[key]), f"record {i} {key}: type differs"
        for key in ("point_coords", "crop_box"):
            assert a[key] == b[key], f"record {i} {key}: {a[key]} != official {b[key]}"
        for key in ("predicted_iou", "stability_score"):
            assert isinstance(a[key], float)
        assert abs(a["predicted_iou"] - b["predicted_iou"]) <= ATOL, f"record {i} IoU"
        if abs(a["stability_score"] - b["stability_score"]) > ATOL:
            # a count of pixels: it moves when pixels at the +-offset cuts flip
            assert explain is not None, f"record {i} stability score differs"
            low, high = stability_bounds(explain(b))
            assert low <= a["stability_score"] <= high, f"record {i} stability score"
        sa, sb = a["segmentation"], b["segmentation"]
        if not isinstance(sb, np.ndarray):
            assert sa == sb, f"record {i}: RLE differs"
            assert a["bbox"] == b["bbox"] and a["area"] == b["area"]
            continue
        assert isinstance(sa, np.ndarray) and sa.dtype == sb.dtype and sa.shape == sb.shape
        differ = sa != sb
        if differ.any():
            assert explain is not None, f"record {i}: {np.count_nonzero(differ)} pixels differ"
            logits = explain(b)
            far = differ & (np.abs(logits) > ATOL)
            assert not far.any(), f"record {i}: mask pixels differ away from the threshold"
            box = box_ops.masks_to_boxes(torch.from_numpy(sa)[None])[0].tolist()
            assert a["bbox"] == box_ops.xyxy_to_xywh(box) and a["area"] == int(sa.sum())
        else:
            assert a["bbox"] == b["bbox"], f"record {i} bbox: {a['bbox']} != {b['bbox']}"
            assert a["area"] == b["area"], f"record {i} area: {a['area']} != {b['area']}"


def both(models, image=IMAGE, **options) -> tuple[list[dict], list[dict]]:
    ours_model, official = models
    theirs = official_records(official, image, **options)
    ours = AutomaticMaskGenerator(ours_model, **options).generate(image)
    assert_records_match(
        ours, theirs, lambda record: official_logits(official, image, record, options)
    )
    return ours, theirs


# ---------------------------------------------------------------------------- parity
def test_relaxed_filters_match(models):
    # 5 points per batch: 16 points end with a batch of one (a single-prompt decoder call)
    ours, _ = both(models, points_per_side=4, points_per_batch=5, **RELAXED)
    assert len(ours) >= 3
    assert len({tuple(r["bbox"]) for r in ours}) == len(ours)
    assert ours[0]["segmentation"].shape == IMAGE.shape[:2]


def test_filters_and_nms_match(models):
    everything, _ = both(models, points_per_side=4, box_nms_thresh=1.0, **RELAXED)
    options = {"pred_iou_thresh": 0.5, "stability_score_thresh": 0.4, "box_nms_thresh": 0.8}
    filtered, _ = both(models, points_per_side=4, **options)
    assert 0 < len(filtered) < len(everything) == 4 * 4 * 3
    assert all(r["predicted_iou"] > 0.5 and r["stability_score"] >= 0.4 for r in filtered)


def test_crop_layer_matches(models):
    ours, _ = both(
        models,
        points_per_side=4,
        crop_n_layers=1,
        crop_n_points_downscale_factor=2,
        **RELAXED,
    )
    crops = {tuple(r["crop_box"]) for r in ours}
    assert (0.0, 0.0, 200.0, 160.0) in crops and len(crops) > 1, crops


def test_m2m_matches(models):
    ours, _ = both(models, points_per_side=3, use_m2m=True, **RELAXED)
    assert ours


def test_single_mask_output_matches(models):
    ours, _ = both(models, points_per_side=4, multimask_output=False, **RELAXED)
    assert ours


def test_min_mask_region_area_matches(models):
    options = {"points_per_side": 3, "box_nms_thresh": 1.0, **RELAXED}
    plain, _ = both(models, **options)
    cleaned, _ = both(models, min_mask_region_area=40, **options)
    # the option changes masks (specks and holes of the random-weight masks go)
    assert len(plain) == len(cleaned)
    assert any(a["area"] != b["area"] for a, b in zip(plain, cleaned, strict=True))


def test_uncompressed_rle_matches(models):
    ours, _ = both(models, points_per_side=3, output_mode="uncompressed_rle", **RELAXED)
    assert ours and all(masks.rle_area(r["segmentation"]) == r["area"] for r in ours)


def test_explicit_point_grid_matches(models):
    grid = np.array([[0.5, 0.5], [0.2, 0.8], [0.8, 0.3], [0.05, 0.05]])
    ours, _ = both(models, points_per_side=None, point_grids=[grid], **RELAXED)
    assert ours


def test_tiny_model_matches(tiny_models):
    ours, _ = both(tiny_models, points_per_side=3, **RELAXED)
    assert ours


# ---------------------------------------------------------------------------- input
def test_sixteen_bit_image_uses_the_contrast_path(models):
    """uint16 data mapped by contrast limits (0, 65535) is the 8-bit image scaled by 257: the
    records are the official ones for the 8-bit image; without limits the image is stretched
    between its percentiles, as ImagePredictor.set_image does."""
    ours_model, official = models
    options = {"points_per_side": 3, **RELAXED}
    theirs = official_records(official, IMAGE, **options)
    generator = AutomaticMaskGenerator(ours_model, **options)
    wide = IMAGE.astype(np.uint16) * 257
    assert_records_match(
        generator.generate(wide, contrast_limits=(0, 65535)),
        theirs,
        lambda record: official_logits(official, IMAGE, record, options),
    )
    floats = IMAGE.astype(np.float32) / 255
    assert_records_match(generator.generate(floats), theirs)

    from sam2_engine.image_input import image_to_tensor

    stretched = image_to_tensor(wide).permute(1, 2, 0).numpy()  # float in [0, 1]
    assert_records_match(generator.generate(wide), generator.generate(stretched))


def test_gray_image_equals_replicated_rgb(models):
    ours_model, _ = models
    gray = IMAGE[..., 0]
    generator = AutomaticMaskGenerator(ours_model, points_per_side=3, **RELAXED)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert_records_match(generator.generate(gray), generator.generate(rgb))


def test_progress_reports_points_and_can_stop(models):
    ours_model, _ = models
    generator = AutomaticMaskGenerator(ours_model, points_per_side=4, points_per_batch=6)
    seen = []
    generator.generate(IMAGE, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(6, 16), (12, 16), (16, 16)]

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop

    with pytest.raises(Stop):
        generator.generate(IMAGE, progress=stop)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"points_per_side": None}, "exactly one of points_per_side and point_grids"),
        ({"point_grids": [np.zeros((1, 2))]}, "exactly one of points_per_side"),
        ({"points_per_side": 0}, "points_per_side must be an integer >= 1"),
        ({"points_per_batch": 0}, "points_per_batch must be an integer >= 1"),
        ({"crop_n_layers": -1}, "crop_n_layers must be an integer >= 0"),
        ({"output_mode": "png"}, "output_mode must be one of"),
        (
            {"points_per_side": None, "point_grids": [np.zeros((2, 2))], "crop_n_layers": 1},
            "needs 2 (one per crop layer",
        ),
        ({"points_per_side": None, "point_grids": [np.full((2, 2), 1.5)]}, "in [0, 1]"),
    ],
)
def test_bad_options_are_refused(models, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        AutomaticMaskGenerator(models[0], **options)


def test_coco_rle_without_pycocotools_says_so(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(ImportError, match="needs pycocotools"):
        AutomaticMaskGenerator(models[0], output_mode="coco_rle")


def test_bad_image_is_refused(models):
    generator = AutomaticMaskGenerator(models[0], points_per_side=2)
    with pytest.raises(ImageInputError, match="RGBA"):
        generator.generate(np.zeros((20, 20, 4), dtype=np.uint8))


def test_blank_image_gives_no_records_without_failing(models):
    generator = AutomaticMaskGenerator(models[0], points_per_side=3)
    assert generator.generate(np.zeros((40, 50), dtype=np.uint8)) == []


# ---------------------------------------------------------------------------- helpers
def test_predictor_torch_path_equals_predict(models):
    """set_image_tensor + predict_torch + upscale_logits give what set_image + predict give."""
    from sam2_engine import ImagePredictor

    predictor = ImagePredictor(models[0], max_hole_area=30, max_sprinkle_area=30)
    points = np.array([[[20.0, 30.0]], [[150.0, 40.0]], [[100.5, 120.25]]])
    predictor.set_image(IMAGE)
    masks, scores, low_res = predictor.predict(
        point_coords=points, point_labels=np.ones((3, 1)), return_logits=True
    )
    predictor.set_image_tensor(torch.from_numpy(IMAGE).permute(2, 0, 1).float() / 255)
    low, ious = predictor.predict_torch(torch.from_numpy(points), torch.ones(3, 1))
    assert torch.equal(ious, torch.from_numpy(scores))
    assert torch.equal(low.clamp(-32, 32), torch.from_numpy(low_res))
    assert torch.equal(predictor.upscale_logits(low), torch.from_numpy(masks))


def test_grids_and_crop_boxes_equal_the_official():
    from sam2.utils import amg

    for n, layers, factor in [(32, 0, 1), (7, 2, 2), (5, 1, 3)]:
        for mine, official in zip(
            grids.layer_point_grids(n, layers, factor),
            amg.build_all_layer_point_grids(n, layers, factor),
            strict=True,
        ):
            assert np.array_equal(mine, official)
    for hw, layers, ratio in [((120, 160), 1, 512 / 1500), ((999, 301), 3, 0.2), ((7, 5), 2, 0.5)]:
        boxes, layer_ids = amg.generate_crop_boxes(hw, layers, ratio)
        expected = [(tuple(b), layer) for b, layer in zip(boxes, layer_ids, strict=True)]
        assert grids.crop_boxes(*hw, layers, ratio) == expected


def test_masks_to_boxes_equals_the_official():
    from sam2.utils.amg import batched_mask_to_box

    rng = np.random.default_rng(1)
    batch = torch.from_numpy(rng.random((6, 17, 23)) > 0.97)
    batch[0] = False  # empty
    batch[1] = False
    batch[1, 16, 22] = True  # one pixel in the corner
    assert torch.equal(box_ops.masks_to_boxes(batch), batched_mask_to_box(batch))


def test_box_nms_equals_torchvision_including_ties():
    """Against torchvision's batched_nms (over the reference CPU kernel), below and above the
    size at which it switches to sorting twice; scores come in tied groups, as crop scores do."""
    import torchvision

    rng = np.random.default_rng(2)
    for n in (1, 40, 1500):
        xy = rng.integers(0, 60, size=(n, 2))
        wh = rng.integers(1, 40, size=(n, 2))
        boxes = torch.from_numpy(np.concatenate([xy, xy + wh], axis=1)).float()
        scores = torch.from_numpy(rng.integers(0, 5, size=n) / 7).float()
        for threshold in (0.3, 0.7):
            with official_kernels():
                expected = torchvision.ops.batched_nms(
                    boxes, scores, torch.zeros(n), iou_threshold=threshold
                )
            assert torch.equal(box_ops.box_nms(boxes, scores, threshold), expected)
            if n < 1000:
                assert torch.equal(expected, reference_nms(boxes, scores, threshold))


def test_rle_and_stability_equal_the_official():
    from sam2.utils import amg

    rng = np.random.default_rng(3)
    logits = torch.from_numpy(rng.normal(size=(4, 13, 9)).astype(np.float32)) * 3
    binary = logits > 0
    binary[0] = True  # a mask starting with foreground
    binary[1] = False
    for mine, official in zip(
        [masks.mask_to_rle(m.numpy()) for m in binary],
        amg.mask_to_rle_pytorch(binary),
        strict=True,
    ):
        assert mine == official
        assert np.array_equal(masks.rle_to_mask(mine), amg.rle_to_mask(official))
        assert masks.rle_area(mine) == amg.area_from_rle(official)
    theirs = amg.calculate_stability_score(logits, 0.2, 1.0)
    assert torch.equal(masks.stability_score(logits, 0.2, 1.0), theirs)
