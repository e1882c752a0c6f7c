"""Model configurations: plain frozen dataclasses and the eight official presets.

The defaults of every dataclass reproduce SAM 2.1 Hiera-tiny. A preset only lists what differs.
No Hydra, no YAML: a config is an ordinary Python value that can be printed, compared and
changed with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class HieraConfig:
    """The Hiera trunk (hierarchical ViT with windowed and global attention).

    Attributes:
        embed_dim: channels of stage 1; each later stage multiplies them by ``dim_mul``.
        num_heads: attention heads of stage 1; each later stage multiplies them by ``head_mul``.
        blocks_per_stage: number of transformer blocks in each of the four stages.
        global_attention_blocks: indices (over all blocks) of blocks that attend globally.
        window_size_per_stage: attention window side per stage (0 means global).
        pos_embed_background_size: side of the learned background position grid, resized
            bicubically to the token grid.
        q_pool: number of stage transitions that pool queries (2x2 max-pool).
        q_stride: pooling stride of a stage transition.
        mlp_ratio: MLP hidden size over block width.
    """

    embed_dim: int = 96
    num_heads: int = 1
    blocks_per_stage: tuple[int, ...] = (1, 2, 7, 2)
    global_attention_blocks: tuple[int, ...] = (5, 7, 9)
    window_size_per_stage: tuple[int, ...] = (8, 4, 14, 7)
    pos_embed_background_size: tuple[int, int] = (7, 7)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    mlp_ratio: float = 4.0

    @property
    def stage_dims(self) -> tuple[int, ...]:
        """Output channels of each stage, e.g. (96, 192, 384, 768) for tiny."""
        return tuple(
            int(self.embed_dim * self.dim_mul**i) for i in range(len(self.blocks_per_stage))
        )

    @property
    def pos_embed_window_size(self) -> int:
        """Side of the learned window position pattern tiled over the token grid."""
        return self.window_size_per_stage[0]


@dataclass(frozen=True)
class Sam2Config:
    """A whole SAM 2 model: image encoder, prompt encoder, mask decoder and memory.

    The defaults reproduce ``sam2.1_hiera_tiny``. ``version`` switches the three
    SAM 2.1 differences (spatial no-object embedding in the memory and signed,
    projected temporal encodings of object pointers).

    Attributes:
        name: preset name, e.g. ``"sam2.1_hiera_tiny"`` (free text for custom configs).
        version: ``"2.1"`` or ``"2.0"``.
        hiera: trunk configuration.
        image_size: side of the square model input (1024 for every official model).
        backbone_stride: stride of the feature map used by decoder and memory (16).
        hidden_dim: width of the neck, prompt encoder, decoder and memory attention (256).
        mem_dim: channels of a stored memory map and of an object-pointer slice (64).
        fpn_top_down_levels: neck levels that receive the top-down path (0 = stride 4).
        num_maskmem: memory slots: 1 for conditioning frames + recent frames (7).
        max_obj_ptrs_in_encoder: object pointers a frame may attend to (16).
        memory_attention_layers: depth of memory attention (4).
        memory_attention_ffn_dim: FFN width inside memory attention (2048).
        rope_theta: base of the rotary position encoding in memory attention.
        decoder_depth: two-way transformer blocks in the mask decoder (2).
        decoder_heads: heads in the mask decoder (8).
        decoder_mlp_dim: MLP width in the mask decoder (2048).
        num_multimask_outputs: mask tokens besides the single-mask token (3).
        sigmoid_scale_for_mem_enc / sigmoid_bias_for_mem_enc: affine map applied to the
            0..1 mask before the memory encoder.
        mask_threshold: logit threshold that turns logits into masks.
        dynamic_multimask_stability_delta / _thresh: fallback from the single mask to the best
            multimask output when the single mask is unstable (as the official builders set).
    """

    name: str = "sam2.1_hiera_tiny"
    version: str = "2.1"
    hiera: HieraConfig = field(default_factory=HieraConfig)
    image_size: int = 1024
    backbone_stride: int = 16
    hidden_dim: int = 256
    mem_dim: int = 64
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    num_maskmem: int = 7
    max_obj_ptrs_in_encoder: int = 16
    memory_attention_layers: int = 4
    memory_attention_ffn_dim: int = 2048
    rope_theta: float = 10000.0
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    num_multimask_outputs: int = 3
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    mask_threshold: float = 0.0
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98

    @property
    def is_sam21(self) -> bool:
        return self.version == "2.1"

    @property
    def image_embedding_size(self) -> int:
        """Side of the stride-16 feature grid (64 at 1024 input)."""
        return self.image_size // self.backbone_stride

    # SAM 2.1 switches (all False for SAM 2.0)
    @property
    def no_obj_embed_spatial(self) -> bool:
        return self.is_sam21

    @property
    def add_tpos_enc_to_obj_ptrs(self) -> bool:
        return self.is_sam21

    @property
    def proj_tpos_enc_in_obj_ptrs(self) -> bool:
        return self.is_sam21

    @property
    def use_signed_tpos_enc_to_obj_ptrs(self) -> bool:
        return self.is_sam21


_TINY = HieraConfig()
_SMALL = HieraConfig(blocks_per_stage=(1, 2, 11, 2), global_attention_blocks=(7, 10, 13))
_BASE_PLUS = HieraConfig(
    embed_dim=112,
    num_heads=2,
    blocks_per_stage=(2, 3, 16, 3),
    global_attention_blocks=(12, 16, 20),
    pos_embed_background_size=(14, 14),
)
_LARGE = HieraConfig(
    embed_dim=144,
    num_heads=2,
    blocks_per_stage=(2, 6, 36, 4),
    global_attention_blocks=(23, 33, 43),
    window_size_per_stage=(8, 4, 16, 8),
)

_TRUNKS = {"tiny": _TINY, "small": _SMALL, "base_plus": _BASE_PLUS, "large": _LARGE}

#: The eight official models, by the names users know them by.
PRESETS: dict[str, Sam2Config] = {
    f"{prefix}_hiera_{size}": Sam2Config(
        name=f"{prefix}_hiera_{size}", version=version, hiera=trunk
    )
    for prefix, version in (("sam2.1", "2.1"), ("sam2", "2.0"))
    for size, trunk in _TRUNKS.items()
}

MODEL_NAMES: tuple[str, ...] = tuple(PRESETS)


def get_config(name: str, **overrides) -> Sam2Config:
    """The preset called ``name``, optionally with some fields replaced.

    Raises:
        ValueError: if ``name`` is not one of :data:`MODEL_NAMES`.
    """
    try:
        config = PRESETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Valid names: {', '.join(MODEL_NAMES)}."
        ) from None
    return replace(config, **overrides) if overrides else config


def thin_config(name: str = "thin random") -> Sam2Config:
    """A SAM 2.1-shaped model far smaller than any preset (not an official model).

    A one-block-per-stage, 16-channel trunk at a 256 input; decoder and memory keep their real
    widths, so every code path of the real models runs. It is for tests, GUI demos and
    screenshots with random weights, where a preset would be needlessly slow.
    """
    trunk = HieraConfig(
        embed_dim=16,
        num_heads=1,
        blocks_per_stage=(1, 1, 1, 1),
        global_attention_blocks=(3,),
        window_size_per_stage=(8, 4, 4, 4),
    )
    return Sam2Config(name=name, hiera=trunk, image_size=256)
