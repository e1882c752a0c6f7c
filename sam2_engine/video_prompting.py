"""Prompts on a video: one object's clicks, box or mask on one frame, decoded at once.

A prompt's result waits as *pending* until the next propagation encodes its memory
(:func:`~sam2_engine.video_propagation.commit_prompts`), so more clicks on the same frame
only run the decoder again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .memory_bank import plan_memory
from .modeling.sam2_model import NO_OBJECT_LOGIT
from .video_inference import (
    condition_on_memory,
    frame_features,
    frame_outputs,
    keep_highest_object,
    use_multimask,
)
from .video_state import PointPrompt, TrackedObject, VideoState

if TYPE_CHECKING:
    from .video_predictor import VideoPredictor


def run_prompt(
    predictor: VideoPredictor,
    state: VideoState,
    obj: TrackedObject,
    frame_idx: int,
    all_objects: bool = True,
    *,
    points: PointPrompt | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[int, list[int], torch.Tensor]:
    """Decode a prompted frame for one object and keep the result as pending.

    A frame the object was not tracked on yet is a new conditioning frame (no memory); a
    correction on a tracked frame attends to the object's memories, as tracking did.

    Returns:
        ``(frame_idx, obj_ids, masks)``: every object's newest masks on the frame, or with
        ``all_objects`` False this object's alone.
    """
    net = predictor._net
    is_init_cond = frame_idx not in obj.tracked
    reverse = obj.tracked.get(frame_idx, False)
    is_cond = is_init_cond or predictor.add_all_frames_to_correct_as_cond
    feats = frame_features(net, state, frame_idx)
    if mask is not None:
        heads = net.mask_as_output(feats.embed, feats.high_res, mask)
    else:
        prev_logits = None
        if points is not None:
            # the newest mask of this frame is fed back with the clicks
            prev = obj.latest_output(frame_idx, is_cond)
            if prev is not None:
                prev_logits = prev.pred_masks.to(state.device).clamp(-32.0, 32.0)
        if is_init_cond:
            pix_feat = net.add_no_memory(feats.embed)
        else:
            plan = plan_memory(
                net, state, obj, frame_idx, reverse, predictor.max_cond_frames_in_attn
            )
            pix_feat = condition_on_memory(net, state, [plan], feats)
        coords = labels = None
        if points is not None:
            coords, labels = points.coords, points.labels
        heads = net.run_heads(
            pix_feat,
            feats.high_res,
            coords,
            labels,
            mask_prompt=prev_logits,
            multimask_output=use_multimask(points),
        )
    (out,), _ = frame_outputs(state, heads, predictor.fill_hole_area)
    obj.pending(is_cond)[frame_idx] = out
    if not all_objects:
        size = (state.video_height, state.video_width)
        return frame_idx, [obj.obj_id], _upsample(out.pred_masks.to(state.device), size)
    return frame_idx, state.obj_ids, frame_masks(predictor, state, frame_idx, is_cond)


def clear_object_prompts(obj: TrackedObject, frame_idx: int) -> None:
    """Forget one object's prompts on a frame; its last output stays as a propagated one."""
    obj.points.pop(frame_idx, None)
    obj.masks.pop(frame_idx, None)
    obj.pending_cond.pop(frame_idx, None)
    obj.pending_non_cond.pop(frame_idx, None)
    out = obj.cond_outputs.pop(frame_idx, None)
    if out is not None:
        obj.non_cond_outputs[frame_idx] = out
        obj.tracked.pop(frame_idx, None)


def frame_masks(
    predictor: VideoPredictor, state: VideoState, frame_idx: int, is_cond: bool
) -> torch.Tensor:
    """All objects' newest masks on a frame at video resolution (-1024 where none)."""
    size = (state.video_height, state.video_width)
    masks = torch.full(
        (len(state.objects), 1, *size),
        NO_OBJECT_LOGIT,
        dtype=torch.float32,
        device=state.device,
    )
    for i, obj in enumerate(state.objects.values()):
        out = obj.latest_output(frame_idx, is_cond)
        if out is None:
            continue
        masks[i : i + 1] = _upsample(out.pred_masks.to(state.device), size)
    if predictor.non_overlap_masks:
        masks = keep_highest_object(masks)
    return masks


def _upsample(low_res: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(1, 1, h, w) low-res logits -> (1, 1, H, W) float32 at the video's size."""
    return F.interpolate(low_res.float(), size=size, mode="bilinear", align_corners=False)
