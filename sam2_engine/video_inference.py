"""The model steps that prompting and propagation share: one frame, a batch of objects.

A frame's image features are computed once and shared by every object on it (they are
expanded, not copied, over the batch). Prompting runs these steps with a batch of one object;
propagation with every object of a frame that shares a memory layout
(see :mod:`sam2_engine.video_propagation`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .memory_bank import MemoryPlan, assemble_memory
from .modeling.sam2_model import HeadOutput, ImageFeatures, Sam2Model
from .postprocess import fill_holes
from .video_state import FrameOutput, PointPrompt, VideoState


def frame_features(net: Sam2Model, state: VideoState, frame_idx: int) -> ImageFeatures:
    """A frame's image features: from the session's cache, else encoded now and cached."""
    feats = state.features.get(frame_idx)
    if feats is None:
        image = state.prefetcher.get(frame_idx).to(state.device)[None]
        feats = net.encode_image(image)
        state.features.put(frame_idx, feats)
    return feats


def use_multimask(points: PointPrompt | None) -> bool:
    """Three masks (the best kept) for no click or one click; one for 2+ clicks or a box."""
    num_points = 0 if points is None else points.labels.shape[1]
    return num_points <= 1


def condition_on_memory(
    net: Sam2Model, state: VideoState, plans: list[MemoryPlan], feats: ImageFeatures
) -> torch.Tensor:
    """(B, C, h, w) features of the frame after attending to each object's memories
    (the plans of one batch share a layout)."""
    memory, memory_pos, num_ptr_tokens = assemble_memory(net, state, plans)
    batch = len(plans)
    embed = feats.embed.expand(batch, -1, -1, -1)
    pos = feats.pos.expand(batch, -1, -1, -1)
    return net.attend_to_memory(embed, pos, memory, memory_pos, num_ptr_tokens)


def track_batch(
    net: Sam2Model,
    state: VideoState,
    plans: list[MemoryPlan],
    feats: ImageFeatures,
    fill_hole_area: int,
) -> tuple[list[FrameOutput], torch.Tensor]:
    """Track a batch of objects on a frame with no prompts: memory attention, the SAM heads
    and the memory encoder, each run once for the whole batch.

    Returns:
        each object's output (memory encoded) and the (B, 1, 4h, 4w) low-res logits.
    """
    batch = len(plans)
    pix_feat = condition_on_memory(net, state, plans, feats)
    high_res = [f.expand(batch, -1, -1, -1) for f in feats.high_res]
    heads = net.run_heads(pix_feat, high_res, multimask_output=use_multimask(None))
    # the frame's features are the same for every object: the encoder's projection of them
    # runs once and is broadcast over the batch of masks
    memory, pos = net.encode_memory(
        feats.embed, heads.high_res_masks, heads.object_score_logits, binarize=False
    )
    return frame_outputs(state, heads, fill_hole_area, store_memory(state, memory, pos))


def store_memory(state: VideoState, memory: torch.Tensor, pos: torch.Tensor) -> list[torch.Tensor]:
    """(B, mem_dim, h, w) memories as B tensors to keep: rounded to bfloat16, as the official
    predictor does, each its own copy on the storage device (no view keeps a batch alive)."""
    if state.maskmem_pos is None:
        state.maskmem_pos = pos[:1].clone()
    memory = memory.to(torch.bfloat16)
    return [_own_row(memory, i, state.storage_device) for i in range(memory.shape[0])]


def frame_outputs(
    state: VideoState,
    heads: HeadOutput,
    fill_hole_area: int,
    maskmems: list[torch.Tensor] | None = None,
) -> tuple[list[FrameOutput], torch.Tensor]:
    """Split the heads' batch into one output to keep per object (holes filled).

    Returns:
        the outputs and the (B, 1, 4h, 4w) low-res logits on the compute device.
    """
    masks = heads.low_res_masks
    if fill_hole_area > 0:
        masks = fill_holes(masks, fill_hole_area)
    outputs = []
    for i in range(masks.shape[0]):
        outputs.append(
            FrameOutput(
                pred_masks=_own_row(masks, i, state.storage_device),
                obj_ptr=_own_row(heads.obj_ptr.float(), i, heads.obj_ptr.device),
                object_score_logits=_own_row(
                    heads.object_score_logits.float(), i, heads.obj_ptr.device
                ),
                maskmem=None if maskmems is None else maskmems[i],
            )
        )
    return outputs, masks


def _own_row(batch: torch.Tensor, index: int, device: torch.device) -> torch.Tensor:
    """Row ``index`` of a batch, kept as (1, ...): a tensor of its own (saving a view would
    save the whole batch)."""
    return batch[index : index + 1].to(device, copy=True)


def to_video_res(state: VideoState, masks: torch.Tensor, non_overlap: bool) -> torch.Tensor:
    """(N, 1, h', w') logits -> (N, 1, H, W) at the video's size (overlaps resolved if asked)."""
    size = (state.video_height, state.video_width)
    if tuple(masks.shape[-2:]) != size:
        masks = F.interpolate(masks.float(), size=size, mode="bilinear", align_corners=False)
    if non_overlap:
        masks = keep_highest_object(masks)
    return masks


def keep_highest_object(masks: torch.Tensor) -> torch.Tensor:
    """Where objects overlap, clamp all but the highest-scoring one to <= -10."""
    if masks.shape[0] == 1:
        return masks
    winner = torch.argmax(masks, dim=0, keepdim=True)
    index = torch.arange(masks.shape[0], device=masks.device)[:, None, None, None]
    return torch.where(winner == index, masks, masks.clamp(max=-10.0))
