"""Prompt encoder and mask decoder: checkpoint layout and parity with the official modules."""

from __future__ import annotations

import pytest
import torch

from sam2_engine.modeling.mask_decoder import MaskDecoder
from sam2_engine.modeling.prompt_encoder import PromptEncoder
from tests.support.official_shapes import official_manifest
from tests.support.oracle import build_official

ATOL = 1e-4
PE_PREFIX = "sam_prompt_encoder."
DEC_PREFIX = "sam_mask_decoder."


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != official {tuple(b.shape)}"
    return (a.float() - b.float()).abs().max().item() if a.numel() else 0.0


def _ours(
    embedding: int = 64, image: int = 1024, **decoder_kwargs
) -> tuple[PromptEncoder, MaskDecoder]:
    pe = PromptEncoder(
        embed_dim=256, image_embedding_size=(embedding, embedding), input_image_size=(image, image)
    )
    return pe.eval(), MaskDecoder(**decoder_kwargs).eval()


@pytest.mark.parametrize("manifest", ["sam2.1_hiera_t.json", "sam2_hiera_t.json"])
def test_state_dict_matches_manifest(manifest: str) -> None:
    entries = official_manifest(manifest.removesuffix(".json"))
    pe, dec = _ours()
    for prefix, module in ((PE_PREFIX, pe), (DEC_PREFIX, dec)):
        expected = {k: tuple(v["shape"]) for k, v in _strip(entries, prefix).items()}
        got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert got == expected, f"{prefix}: {set(got) ^ set(expected)}"


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, torch.nn.Module, PromptEncoder, MaskDecoder]:
    """Official prompt encoder / decoder of a randomly initialised tiny model, and ours loaded
    strictly from the same weights."""
    torch.manual_seed(0)
    official = build_official("sam2.1_hiera_tiny")
    state = official.state_dict()
    pe, dec = _ours()
    pe.load_state_dict(_strip(state, PE_PREFIX), strict=True)
    dec.load_state_dict(_strip(state, DEC_PREFIX), strict=True)
    return official.sam_prompt_encoder, official.sam_mask_decoder, pe, dec


def _inputs(batch: int, image_batch: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(image_batch, 256, 64, 64, generator=g),
        "high_res": [
            torch.randn(image_batch, 32, 256, 256, generator=g),
            torch.randn(image_batch, 64, 128, 128, generator=g),
        ],
        "coords": lambda n: torch.rand(batch, n, 2, generator=g) * 1024,
        "boxes": lambda: _random_boxes(batch, g),
        "mask": torch.randn(batch, 1, 256, 256, generator=g) * 4,
    }


def _random_boxes(batch: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(batch, 2, 2, generator=g) * 1024
    return torch.cat((xy.min(1).values, xy.max(1).values), dim=1)  # (B, 4) xyxy


def _run_both(models, points, boxes, masks, image, high_res, multimask, repeat_image):
    off_pe, off_dec, pe, dec = models
    with torch.no_grad():
        theirs_prompt = off_pe(points, boxes, masks)
        ours_prompt = pe(points, boxes, masks)
        theirs = off_dec(
            image, off_pe.get_dense_pe(), *theirs_prompt, multimask, repeat_image, high_res
        )
        ours = dec(
            image_embeddings=image,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=ours_prompt[0],
            dense_prompt_embeddings=ours_prompt[1],
            multimask_output=multimask,
            repeat_image=repeat_image,
            high_res_features=high_res,
        )
    return theirs_prompt, ours_prompt, theirs, ours


def _check(case: str, theirs_prompt, ours_prompt, theirs, ours) -> None:
    names = ("sparse", "dense", "masks", "iou", "tokens", "obj")
    diffs = {
        n: _max_diff(o, t)
        for n, o, t in zip(names, (*ours_prompt, *ours), (*theirs_prompt, *theirs), strict=True)
    }
    print(f"\n{case:28s} " + " ".join(f"{n} {d:.1e}" for n, d in diffs.items()))
    bad = {n: d for n, d in diffs.items() if d > ATOL}
    assert not bad, f"{case}: {bad}"


# case -> (click labels or None, box via the boxes argument, mask input, multimask outputs)
PROMPT_CASES = {
    "one_click": ([1], False, False, (True, False)),
    "pos_neg_clicks": ([1, 0, 1, 0], False, False, (False,)),
    "box_as_points": ([2, 3], False, False, (False,)),
    "box_as_points_and_clicks": ([2, 3, 1, 0], False, False, (True,)),
    "box_argument": (None, True, False, (False,)),
    "box_argument_and_clicks": ([1, 0], True, False, (True,)),
    "mask_and_click": ([1], False, True, (False,)),
    "mask_only": (None, False, True, (True,)),
    "no_prompt": (None, False, False, (True,)),
}


@pytest.mark.parametrize("case", list(PROMPT_CASES))
def test_parity_single_prompt(models, case: str) -> None:
    labels, use_box, use_mask, multimask_flags = PROMPT_CASES[case]
    data = _inputs(batch=1, image_batch=1, seed=list(PROMPT_CASES).index(case))
    points = None
    if labels is not None:
        points = (data["coords"](len(labels)), torch.tensor([labels], dtype=torch.int32))
    boxes = data["boxes"]() if use_box else None
    masks = data["mask"] if use_mask else None
    for multimask in multimask_flags:
        results = _run_both(
            models, points, boxes, masks, data["image"], data["high_res"], multimask, False
        )
        _check(f"{case}/{'multi' if multimask else 'single'}", *results)


@pytest.mark.parametrize(
    ("repeat_image", "multimask"), [(True, False), (False, True)], ids=["repeat", "per_item"]
)
def test_parity_batch_of_three(models, repeat_image: bool, multimask: bool) -> None:
    """Three prompts on one shared image (``repeat_image``) or on three images."""
    data = _inputs(batch=3, image_batch=1 if repeat_image else 3, seed=7)
    # rows with 3, 2 and 1 real clicks; the rest is padding
    labels = torch.tensor([[1, 0, 1], [2, 3, -1], [1, -1, -1]], dtype=torch.int32)
    points = (data["coords"](3), labels)
    image, high_res = data["image"], data["high_res"]
    results = _run_both(
        models, points, None, data["mask"], image, high_res, multimask, repeat_image
    )
    mode = "multi" if multimask else "single"
    _check(f"batch3/{'repeat' if repeat_image else 'per_item'}/{mode}", *results)


def test_dynamic_multimask_fallback(models) -> None:
    """Single-mask output falls back to the best multimask output where mask 0 is unstable.

    Random weights give an unstable mask 0 (many logits within +-delta). A large positive
    stride-4 feature map saturates the last GELU, so the mask-0 logits become large and of one
    sign: stable. Items 0 and 2 get that map, item 1 does not.
    """
    data = _inputs(batch=3, image_batch=3, seed=11)
    data["high_res"][0][0::2] += 20.0
    points = (data["coords"](2), torch.tensor([[1, 0]] * 3, dtype=torch.int32))
    _, _, pe, dec = models
    results = _run_both(models, points, None, None, data["image"], data["high_res"], False, False)
    _check("dynamic_fallback", *results)

    with torch.no_grad():
        sparse, dense = pe(points, None, None)
        all_masks, all_iou, _, _ = dec.predict_all(
            data["image"], pe.get_dense_pe(), sparse, dense, False, data["high_res"]
        )
    stability = dec.stability_scores(all_masks[:, 0])
    print(f"\nstability of mask 0 per item: {stability.tolist()}")
    stable = stability >= dec.dynamic_multimask_stability_thresh
    assert stable.tolist() == [True, False, True]

    masks, iou = results[3][0], results[3][1]
    best = all_iou[:, 1:].argmax(-1) + 1
    for i in range(3):
        k = 0 if stable[i] else int(best[i])
        assert torch.equal(masks[i, 0], all_masks[i, k]), f"item {i} did not pick mask {k}"
        assert torch.equal(iou[i, 0], all_iou[i, k])
    # the unstable item really changed its output
    assert not torch.equal(masks[1, 0], all_masks[1, 0])


@pytest.mark.parametrize(
    "flags",
    [
        {
            "use_high_res_features": False,
            "pred_obj_scores": False,
            "pred_obj_scores_mlp": False,
            "use_multimask_token_for_obj_ptr": False,
            "iou_prediction_use_sigmoid": False,
            "dynamic_multimask_via_stability": False,
        },
        {"pred_obj_scores_mlp": False},
    ],
    ids=["sam1_like", "linear_obj_head"],
)
def test_parity_other_decoder_flags(flags: dict) -> None:
    """Non-default decoder options against an official ``MaskDecoder`` built the same way
    (on a small 16x16 map)."""
    from sam2.modeling.sam.mask_decoder import MaskDecoder as OfficialDecoder
    from sam2.modeling.sam.transformer import TwoWayTransformer as OfficialTransformer

    official_flags = {
        "use_high_res_features": True,
        "pred_obj_scores": True,
        "pred_obj_scores_mlp": True,
        "use_multimask_token_for_obj_ptr": True,
        "iou_prediction_use_sigmoid": True,
        "dynamic_multimask_via_stability": True,
        **flags,
    }
    torch.manual_seed(3)
    official = OfficialDecoder(
        transformer_dim=256,
        transformer=OfficialTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        **official_flags,
    ).eval()
    dec = MaskDecoder(**flags).eval()
    dec.load_state_dict(official.state_dict(), strict=True)

    g = torch.Generator().manual_seed(5)
    image = torch.randn(2, 256, 16, 16, generator=g)
    pe = torch.randn(1, 256, 16, 16, generator=g)
    sparse = torch.randn(2, 3, 256, generator=g)
    dense = torch.randn(2, 256, 16, 16, generator=g)
    high_res = None
    if official_flags["use_high_res_features"]:
        high_res = [
            torch.randn(2, 32, 64, 64, generator=g),
            torch.randn(2, 64, 32, 32, generator=g),
        ]
    for multimask in (True, False):
        with torch.no_grad():
            theirs = official(image, pe, sparse, dense, multimask, False, high_res)
            ours = dec(image, pe, sparse, dense, multimask, False, high_res)
        name = f"flags/{'multi' if multimask else 'single'}"
        _check(name, (sparse, dense), (sparse, dense), theirs, ours)


def test_box_argument_equals_box_as_points(models) -> None:
    """A box passed as ``boxes`` gives the same tokens as its two corners labelled 2 and 3,
    except for the padding token that only the point form gets."""
    _, _, pe, _ = models
    boxes = torch.tensor([[100.0, 200.0, 600.0, 900.0], [0.0, 0.0, 1023.0, 1023.0]])
    corners = (boxes.view(2, 2, 2), torch.tensor([[2, 3], [2, 3]]))
    with torch.no_grad():
        from_boxes, _ = pe(None, boxes, None)
        from_points, _ = pe(corners, None, None)
    assert from_boxes.shape == (2, 2, 256) and from_points.shape == (2, 3, 256)
    torch.testing.assert_close(from_boxes, from_points[:, :2])


def test_bf16_autocast_close_to_float32() -> None:
    """Runs under CPU bf16 autocast (small 16x16 map) and stays close to float32."""
    torch.manual_seed(0)
    pe, dec = _ours(embedding=16, image=256)
    g = torch.Generator().manual_seed(2)
    image = torch.randn(1, 256, 16, 16, generator=g)
    high_res = [torch.randn(1, 32, 64, 64, generator=g), torch.randn(1, 64, 32, 32, generator=g)]
    points = (torch.rand(1, 2, 2, generator=g) * 256, torch.tensor([[1, 0]]))
    mask = torch.randn(1, 1, 64, 64, generator=g)

    def run() -> tuple[torch.Tensor, ...]:
        sparse, dense = pe(points, None, mask)
        return dec(image, pe.get_dense_pe(), sparse, dense, True, False, high_res)

    with torch.no_grad():
        ref = run()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = run()
    for name, a, b in zip(("masks", "iou", "tokens", "obj"), low, ref, strict=True):
        assert a.shape == b.shape and torch.isfinite(a).all()
        rel = (a.float() - b).abs().mean() / b.abs().mean()
        print(f"\nbf16 autocast {name}: mean relative error {rel:.3f}")
        assert rel < 0.05, name
