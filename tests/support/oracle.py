"""The official SAM 2 implementation (PyPI ``sam2``), used only as a numerical test oracle.

Importing this module makes the CUDA-only torchvision wheel importable on a CPU torch (see
``make_torchvision_importable``) and builds official models from the same random weights as
ours. Nothing in ``sam2_engine`` or ``napari_sam2`` imports the official package.
"""

from __future__ import annotations

import torch

# torchvision's CUDA wheel registers fake kernels for two custom ops whose C++ library cannot
# load without libtorch_cuda; declaring the op schemas first lets ``import torchvision`` pass.
# The official code only uses torchvision's pure-Python transforms.
_TORCHVISION_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_libraries = []


def make_torchvision_importable() -> None:
    undefined = []
    for schema in _TORCHVISION_OPS:
        op_name = schema.split("(")[0]
        try:
            getattr(torch.ops.torchvision, op_name)
        except (AttributeError, RuntimeError):
            undefined.append(schema)
    if undefined:
        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in undefined:
            library.define(schema)
        _libraries.append(library)


make_torchvision_importable()

OFFICIAL_CONFIG_FILES = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large": "configs/sam2/sam2_hiera_l.yaml",
}

#: The bias that decides "object present"; random weights put it near -0.1 (absent everywhere).
OBJECT_SCORE_BIAS_KEY = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"


def build_official(
    name: str,
    state_dict: dict | None = None,
    *,
    video: bool = False,
    image_size: int = 1024,
    overrides: tuple[str, ...] = (),
) -> torch.nn.Module:
    """An official ``SAM2Base`` (or ``SAM2VideoPredictor`` with ``video=True``) on CPU, eval mode.

    ``state_dict`` is loaded strictly when given; otherwise the weights are the official random
    initialisation under the current torch seed.
    """
    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    build = build_sam2_video_predictor if video else build_sam2
    extra = [f"++model.image_size={image_size}", *overrides]
    model = build(OFFICIAL_CONFIG_FILES[name], None, device="cpu", hydra_overrides_extra=extra)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


def random_official_state_dict(name: str, seed: int = 0, object_score_shift: float = 2.0) -> dict:
    """Random weights in the official layout, with the object-score bias shifted so that the
    video path sees objects as present (random weights would judge every object absent)."""
    torch.manual_seed(seed)
    model = build_official(name)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state[OBJECT_SCORE_BIAS_KEY] += object_score_shift
    return state
