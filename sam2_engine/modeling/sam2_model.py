"""The SAM 2 model: composes the image encoder, prompt encoder, mask decoder and memory.

This module only wires the components together and holds the few learned tensors that belong
to no component (memory embeddings, object-pointer projections). It knows nothing of videos,
sessions or frame bookkeeping: the predictors decide which memories a frame sees.

Conventions: feature maps are batch-first ``(B, C, H, W)``; token sequences ``(B, N, C)``;
point coordinates are (x, y) pixels of the square model input (0..image_size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..configs import Sam2Config
from .common import MLP
from .image_encoder import ImageEncoder
from .mask_decoder import MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .position_encoding import sine_1d
from .prompt_encoder import PromptEncoder

#: Logit given to every pixel of an object judged absent on a frame.
NO_OBJECT_LOGIT = -1024.0


@dataclass
class ImageFeatures:
    """Backbone features of a batch of frames, ready for the decoder and the memory.

    Attributes:
        embed: (B, C, h, w) stride-16 features, before any memory conditioning.
        pos: (B, C, h, w) sine position map of ``embed`` (an expanded view, no copy).
        high_res: [(B, C/8, 4h, 4w), (B, C/4, 2h, 2w)] stride-4 and stride-8 features, already
            projected by the decoder's ``conv_s0`` / ``conv_s1``.
    """

    embed: torch.Tensor
    pos: torch.Tensor
    high_res: list[torch.Tensor]

    def select(self, index: int) -> ImageFeatures:
        """Features of one image of the batch, keeping a batch dim of 1."""
        sl = slice(index, index + 1)
        return ImageFeatures(self.embed[sl], self.pos[sl], [f[sl] for f in self.high_res])

    def nbytes(self) -> int:
        tensors = [self.embed, *self.high_res]
        return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class HeadOutput:
    """What the SAM heads say about one frame, per object of the batch.

    Attributes:
        low_res_multimasks: (B, M, 4h, 4w) logits of all returned masks (M = 1 or 3).
        ious: (B, M) predicted IoU of each returned mask.
        low_res_masks: (B, 1, 4h, 4w) logits of the chosen mask (best IoU when M > 1).
        high_res_masks: (B, 1, S, S) the chosen mask upsampled to the model input size.
        obj_ptr: (B, C) object pointer of the chosen mask.
        object_score_logits: (B, 1) object presence logit (> 0 means present).
    """

    low_res_multimasks: torch.Tensor
    ious: torch.Tensor
    low_res_masks: torch.Tensor
    high_res_masks: torch.Tensor
    obj_ptr: torch.Tensor
    object_score_logits: torch.Tensor


class Sam2Model(nn.Module):
    """SAM 2 / SAM 2.1. Attribute names follow the official checkpoint keys.

    Args:
        config: which model; see :mod:`sam2_engine.configs`.
    """

    def __init__(self, config: Sam2Config) -> None:
        super().__init__()
        self.config = config
        dim, mem_dim = config.hidden_dim, config.mem_dim
        grid = config.image_embedding_size

        self.image_encoder = ImageEncoder(config)
        self.memory_attention = MemoryAttention(
            d_model=dim,
            num_layers=config.memory_attention_layers,
            ffn_dim=config.memory_attention_ffn_dim,
            kv_in_dim=mem_dim,
            rope_theta=config.rope_theta,
        )
        self.memory_encoder = MemoryEncoder(hidden_dim=dim, out_dim=mem_dim)
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(grid, grid),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=dim,
            num_multimask_outputs=config.num_multimask_outputs,
            depth=config.decoder_depth,
            num_heads=config.decoder_heads,
            mlp_dim=config.decoder_mlp_dim,
            dynamic_multimask_stability_delta=config.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh=config.dynamic_multimask_stability_thresh,
        )
        # turns the decoder's output token into the pointer stored for later frames
        self.obj_ptr_proj = MLP(dim, dim, dim, 3)
        if config.proj_tpos_enc_in_obj_ptrs:
            self.obj_ptr_tpos_proj = nn.Linear(dim, mem_dim)
        # a mask prompt becomes a decoder mask input through this 4x4/4 conv
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)

        # temporal slot embeddings of memories: index num_maskmem-1 is a conditioning frame,
        # index num_maskmem-1-k is the k-th slot of recent frames (slot num_maskmem-1 = t-1)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(config.num_maskmem, 1, 1, mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, dim))  # in checkpoints, unused
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, dim))
        if config.no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))
        self.reset_extra_parameters()

    def reset_extra_parameters(self) -> None:
        """Random init of the learned tensors owned by this class (not the components)."""
        for p in (self.maskmem_tpos_enc, self.no_mem_embed, self.no_mem_pos_enc, self.no_obj_ptr):
            nn.init.trunc_normal_(p, std=0.02)
        if self.config.no_obj_embed_spatial:
            nn.init.trunc_normal_(self.no_obj_embed_spatial, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.no_obj_ptr.device

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def low_res_size(self) -> int:
        """Side of the decoder's low-resolution logits (256 at 1024 input)."""
        return self.config.image_embedding_size * 4

    # ------------------------------------------------------------------ image
    def encode_image(self, images: torch.Tensor) -> ImageFeatures:
        """Run the image encoder on normalised images (B, 3, S, S)."""
        features, positions = self.image_encoder(images)
        decoder = self.sam_mask_decoder
        high_res = [decoder.conv_s0(features[0]), decoder.conv_s1(features[1])]
        return ImageFeatures(embed=features[2], pos=positions[2], high_res=high_res)

    def add_no_memory(self, embed: torch.Tensor) -> torch.Tensor:
        """Features of a frame that has no memory to attend to (images, first prompts)."""
        return embed + self.no_mem_embed.view(1, -1, 1, 1)

    # ------------------------------------------------------------------ SAM heads
    def run_heads(
        self,
        pix_feat: torch.Tensor,
        high_res: list[torch.Tensor],
        point_coords: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
        mask_prompt: torch.Tensor | None = None,
        multimask_output: bool = False,
    ) -> HeadOutput:
        """Prompt encoder + mask decoder on (memory-conditioned) features, video style.

        Args:
            pix_feat: (B, C, h, w) features.
            high_res: projected high-resolution features, see :class:`ImageFeatures`.
            point_coords: (B, N, 2) xy in model-input pixels, boxes already as 2 points.
            point_labels: (B, N) int labels (1, 0, 2, 3).
            mask_prompt: (B, 1, H', W') logits or 0/1 map; resized to 4h x 4w if needed.
            multimask_output: return 3 masks and pick the best, or 1 mask.
        """
        batch = pix_feat.shape[0]
        if point_coords is None:
            # one padding point stands for "no clicks"
            point_coords = pix_feat.new_zeros(batch, 1, 2)
            point_labels = -torch.ones(batch, 1, dtype=torch.int32, device=pix_feat.device)
        if mask_prompt is not None:
            size = (self.low_res_size, self.low_res_size)
            if tuple(mask_prompt.shape[-2:]) != size:
                mask_prompt = F.interpolate(
                    mask_prompt.float(),
                    size=size,
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                )
        sparse, dense = self.sam_prompt_encoder(
            points=(point_coords, point_labels), boxes=None, masks=mask_prompt
        )
        multimasks, ious, tokens, object_scores = self.sam_mask_decoder(
            image_embeddings=pix_feat,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=high_res,
        )
        present = object_scores > 0  # (B, 1)
        # an absent object gets a constant, clearly negative mask
        multimasks = torch.where(present[:, :, None, None], multimasks, NO_OBJECT_LOGIT).float()

        token = tokens[:, 0]
        if multimask_output:
            best = torch.argmax(ious, dim=-1)  # (B,)
            rows = torch.arange(batch, device=pix_feat.device)
            low_res = multimasks[rows, best].unsqueeze(1)
            if tokens.shape[1] > 1:
                token = tokens[rows, best]
        else:
            low_res = multimasks
        high_res_masks = self.upsample_to_input(low_res)

        obj_ptr = self.obj_ptr_proj(token)
        obj_ptr = self._gate_pointer(obj_ptr, present.to(obj_ptr.dtype))
        return HeadOutput(multimasks, ious, low_res, high_res_masks, obj_ptr, object_scores)

    def mask_as_output(
        self, pix_feat: torch.Tensor, high_res: list[torch.Tensor], mask: torch.Tensor
    ) -> HeadOutput:
        """Take a 0/1 mask prompt (B, 1, S, S) as the frame's output (no decoding of clicks).

        The mask becomes +/-10 logits; its pointer comes from the heads run with the mask,
        downsampled by ``mask_downsample``, as the only prompt. Presence = any pixel set.
        """
        mask = mask.float()
        high_res_masks = mask * 20.0 - 10.0
        quarter = (high_res_masks.shape[-2] // 4, high_res_masks.shape[-1] // 4)
        low_res = F.interpolate(
            high_res_masks, size=quarter, mode="bilinear", align_corners=False, antialias=True
        )
        ious = mask.new_ones(mask.shape[0], 1)
        heads = self.run_heads(pix_feat, high_res, mask_prompt=self.mask_downsample(mask))
        present = (mask.flatten(1) > 0).any(dim=1, keepdim=True).float()  # (B, 1)
        object_scores = present * 20.0 - 10.0
        obj_ptr = self._gate_pointer(heads.obj_ptr, present)
        return HeadOutput(low_res, ious, low_res, high_res_masks, obj_ptr, object_scores)

    def _gate_pointer(self, obj_ptr: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Replace the pointer of absent objects by the learned ``no_obj_ptr`` (hard gate)."""
        return present * obj_ptr + (1 - present) * self.no_obj_ptr

    def upsample_to_input(self, low_res: torch.Tensor) -> torch.Tensor:
        """(B, M, 4h, 4w) logits -> (B, M, S, S), bilinear."""
        size = (self.image_size, self.image_size)
        return F.interpolate(low_res.float(), size=size, mode="bilinear", align_corners=False)

    # ------------------------------------------------------------------ memory
    def encode_memory(
        self,
        embed: torch.Tensor,
        high_res_masks: torch.Tensor,
        object_score_logits: torch.Tensor,
        binarize: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a frame's features and chosen mask into a memory.

        Args:
            embed: (B, C, h, w) raw stride-16 features of the frame (no memory conditioning).
            high_res_masks: (B, 1, S, S) mask logits.
            object_score_logits: (B, 1) presence logits.
            binarize: threshold the mask at 0 (frames whose mask came from user prompts)
                instead of taking its sigmoid.

        Returns:
            memory (B, mem_dim, h, w) and its position map (B, mem_dim, h, w).
        """
        cfg = self.config
        mask = (high_res_masks > 0).float() if binarize else torch.sigmoid(high_res_masks)
        mask = mask * cfg.sigmoid_scale_for_mem_enc + cfg.sigmoid_bias_for_mem_enc
        memory, pos = self.memory_encoder(embed, mask)
        if cfg.no_obj_embed_spatial:
            absent = (object_score_logits <= 0).to(memory.dtype)  # (B, 1)
            memory = memory + absent[:, :, None, None] * self.no_obj_embed_spatial[..., None, None]
        return memory, pos

    def memory_slot_encoding(self, slot: int) -> torch.Tensor:
        """(1, 1, mem_dim) temporal embedding of memory slot ``slot`` (0 = conditioning)."""
        return self.maskmem_tpos_enc[self.config.num_maskmem - 1 - slot].view(1, 1, -1)

    def pointer_positions(self, offsets: list[int], max_pointers: int) -> torch.Tensor:
        """Temporal encodings (P, mem_dim) of object pointers ``offsets`` frames away.

        SAM 2.0 uses no temporal encoding for pointers (zeros).
        """
        cfg = self.config
        if not cfg.add_tpos_enc_to_obj_ptrs:
            return self.no_obj_ptr.new_zeros(len(offsets), cfg.mem_dim)
        scale = max(max_pointers - 1, 1)
        rel = torch.tensor(offsets, dtype=torch.float32, device=self.device) / scale
        return self.obj_ptr_tpos_proj(sine_1d(rel, cfg.hidden_dim).to(self.no_obj_ptr.dtype))

    def attend_to_memory(
        self,
        embed: torch.Tensor,
        pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int,
    ) -> torch.Tensor:
        """Condition a frame's features on memories.

        Args:
            embed, pos: (B, C, h, w) frame features and their position map.
            memory, memory_pos: (B, M, mem_dim) memory tokens; the last ``num_obj_ptr_tokens``
                are object-pointer tokens.

        Returns:
            (B, C, h, w) memory-conditioned features.
        """
        batch, channels, h, w = embed.shape
        curr = embed.flatten(2).transpose(1, 2)  # (B, h*w, C)
        curr_pos = pos.flatten(2).transpose(1, 2)  # (B, h*w, C)
        out = self.memory_attention(
            curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens, grid_size=(h, w)
        )
        return out.transpose(1, 2).reshape(batch, channels, h, w)

    def split_pointers(self, pointers: torch.Tensor, positions: torch.Tensor):
        """Turn P pointers (B, P, C) + positions (P, mem_dim) into memory tokens.

        Each C-wide pointer becomes C / mem_dim tokens of width mem_dim; its position is
        repeated for each of them. Returns tokens (B, P*k, mem_dim) and positions (B, P*k, mem_dim).
        """
        batch, num, channels = pointers.shape
        mem_dim = self.config.mem_dim
        per_ptr = channels // mem_dim
        tokens = pointers.reshape(batch, num * per_ptr, mem_dim)  # (B, P*k, mem_dim)
        pos = positions.repeat_interleave(per_ptr, dim=0)[None].expand(batch, -1, -1)
        return tokens, pos
