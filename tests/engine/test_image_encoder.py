"""Image encoder (Hiera trunk + FPN neck): checkpoint layout and parity with the official code."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from sam2_engine.configs import MODEL_NAMES, get_config
from sam2_engine.modeling.image_encoder import ImageEncoder
from tests.support.official_shapes import official_manifest

PREFIX = "image_encoder."
SHORT_NAMES = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}
TOLERANCE = 1e-4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Both sides run in this process, so parity does not depend on the thread count; on the
    shared 2-core machine one thread is about twice as fast as two under load."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _manifest_shapes(name: str) -> dict[str, list[int]]:
    entries = official_manifest(name)
    return {
        key[len(PREFIX) :]: entry["shape"]
        for key, entry in entries.items()
        if key.startswith(PREFIX)
    }


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_state_dict_matches_official_layout(name: str) -> None:
    with torch.device("meta"):
        encoder = ImageEncoder(get_config(name))
    ours = {key: list(value.shape) for key, value in encoder.state_dict().items()}
    assert ours == _manifest_shapes(name)


@lru_cache(maxsize=1)  # reuse only between consecutive tests of one preset (memory)
def _encoders(name: str) -> tuple[torch.nn.Module, ImageEncoder]:
    """The official image encoder with random weights, and ours loaded from its state dict."""
    from tests.support.oracle import build_official

    torch.manual_seed(0)
    official = build_official(name, image_size=256).image_encoder
    # the official init leaves position embeddings at zero and norms at identity: perturb them
    # so that a mix-up there cannot pass unnoticed
    with torch.no_grad():
        for key, param in official.named_parameters():
            if "pos_embed" in key or "norm" in key:
                param.add_(torch.randn_like(param) * 0.1)
    with torch.device("meta"):
        ours = ImageEncoder(get_config(name))
    ours.load_state_dict(official.state_dict(), strict=True, assign=True)
    return official, ours.eval()


def _compare(name: str, size: int, batch: int, autocast: bool = False) -> tuple[float, float]:
    official, ours = _encoders(name)
    torch.manual_seed(1)
    image = torch.randn(batch, 3, size, size)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        reference = official(image)
        features, positions = ours(image)

    assert len(features) == len(positions) == 3
    feat_diff = pos_diff = 0.0
    for level, (feat, pos, ref_feat, ref_pos) in enumerate(
        zip(
            features, positions, reference["backbone_fpn"], reference["vision_pos_enc"], strict=True
        )
    ):
        side = size // 4 // 2**level
        assert feat.shape == pos.shape == (batch, 256, side, side)
        assert feat.dtype == ref_feat.dtype and pos.dtype == ref_pos.dtype
        assert pos.stride(0) == 0 or batch == 1  # an expanded view, not a copy
        feat_diff = max(feat_diff, (feat.float() - ref_feat.float()).abs().max().item())
        pos_diff = max(pos_diff, (pos.float() - ref_pos.float()).abs().max().item())
    mode = "bf16 autocast" if autocast else "fp32"
    print(
        f"\n{name} @ {size}px x{batch} ({mode}): max|diff| features {feat_diff:.2e}, "
        f"positions {pos_diff:.2e}"
    )
    return feat_diff, pos_diff


def test_bf16_autocast_matches_official() -> None:
    # runs just before the tiny parity case, which then reuses the cached models
    feat_diff, pos_diff = _compare("sam2.1_hiera_tiny", 128, 1, autocast=True)
    assert feat_diff <= 1e-2
    assert pos_diff <= 1e-2


def _parity_size(name: str) -> int:
    if name == "sam2.1_hiera_tiny":
        return 1024
    # the SAM 2.0 encoders are the SAM 2.1 ones; a smaller input there tests other paddings
    return 256 if name.startswith("sam2.1") else 128


PARITY_CASES = [pytest.param(name, _parity_size(name), id=name) for name in MODEL_NAMES]


@pytest.mark.parametrize(("name", "size"), PARITY_CASES)
def test_parity_with_official(name: str, size: int) -> None:
    batch = 2 if name == "sam2_hiera_tiny" else 1
    feat_diff, pos_diff = _compare(name, size, batch)
    assert feat_diff <= TOLERANCE
    assert pos_diff <= TOLERANCE


def test_trunk_parity_unusual_config() -> None:
    """A small trunk with a global block at an unpooled stage transition, paddings, two heads
    and a non-square input, against the official ``Hiera`` class."""
    import tests.support.oracle  # noqa: F401  (the torchvision shim must precede any sam2 import)

    # isort: split
    from sam2.modeling.backbones.hieradet import Hiera as OfficialHiera

    from sam2_engine.configs import HieraConfig
    from sam2_engine.modeling.hiera import Hiera

    config = HieraConfig(
        embed_dim=16,
        num_heads=2,
        blocks_per_stage=(1, 2, 2, 2),
        global_attention_blocks=(2, 5),
        window_size_per_stage=(8, 4, 6, 3),
        pos_embed_background_size=(5, 3),
        q_pool=2,
    )
    torch.manual_seed(0)
    official = OfficialHiera(
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        q_pool=config.q_pool,
        stages=config.blocks_per_stage,
        window_pos_embed_bkg_spatial_size=config.pos_embed_background_size,
        window_spec=config.window_size_per_stage,
        global_att_blocks=config.global_attention_blocks,
    ).eval()
    with torch.no_grad():
        for param in official.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    ours = Hiera(config).eval()
    ours.load_state_dict(official.state_dict(), strict=True)
    image = torch.randn(2, 3, 96, 160)
    with torch.no_grad():
        reference = official(image)
        outputs = ours(image)
    assert [o.shape for o in outputs] == [r.shape for r in reference]
    diff = max((o - r).abs().max().item() for o, r in zip(outputs, reference, strict=True))
    print(f"\nunusual trunk: max|diff| {diff:.2e}")
    assert diff <= TOLERANCE
