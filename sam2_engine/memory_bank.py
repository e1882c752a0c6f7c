"""Which memories a frame attends to: the SAM 2 memory bank, read for one object.

For a frame t of one object, the memory is made of
- every conditioning frame (prompted frames; or the ``max_cond_frames_in_attn`` closest),
  in temporal slot 0;
- the ``num_maskmem - 1`` frames just before t in the direction of travel (slot k is the frame
  ``num_maskmem - k`` steps back, so the last slot is t -/+ 1), where they were tracked;
- object pointers: those of conditioning frames not after t (in the direction of travel) and
  of up to ``max_obj_ptrs_in_encoder - 1`` tracked frames before t, each with its distance.
"""

from __future__ import annotations

import torch

from .errors import VideoStateError
from .modeling.sam2_model import Sam2Model
from .video_state import FrameOutput, TrackedObject, VideoState


def select_cond_frames(
    cond: dict[int, FrameOutput], frame_idx: int, limit: int
) -> tuple[dict[int, FrameOutput], dict[int, FrameOutput]]:
    """Conditioning frames to attend to (all when ``limit`` is -1, else the closest ones,
    always including the nearest before and after); returns (chosen, not chosen)."""
    if limit == -1 or len(cond) <= limit:
        return cond, {}
    chosen: dict[int, FrameOutput] = {}
    before = max((t for t in cond if t < frame_idx), default=None)
    after = min((t for t in cond if t >= frame_idx), default=None)
    for t in (before, after):
        if t is not None:
            chosen[t] = cond[t]
    rest = sorted((t for t in cond if t not in chosen), key=lambda t: abs(t - frame_idx))
    for t in rest[: limit - len(chosen)]:
        chosen[t] = cond[t]
    unselected = {t: out for t, out in cond.items() if t not in chosen}
    return chosen, unselected


def gather_pointers(
    model: Sam2Model,
    state: VideoState,
    obj: TrackedObject,
    frame_idx: int,
    cond: dict[int, FrameOutput],
    unselected: dict[int, FrameOutput],
    reverse: bool,
) -> tuple[list[int], list[torch.Tensor]]:
    """Object pointers frame ``frame_idx`` attends to, with their temporal offsets."""
    cfg = model.config
    sign = -1 if reverse else 1
    offsets, pointers = [], []
    # pointers of conditioning frames, only from the past in the direction of travel
    for t, out in cond.items():
        if (t >= frame_idx) if reverse else (t <= frame_idx):
            offset = (frame_idx - t) * sign
            offsets.append(offset if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(offset))
            pointers.append(out.obj_ptr)
    max_ptrs = min(state.num_frames, cfg.max_obj_ptrs_in_encoder)
    for distance in range(1, max_ptrs):
        t = frame_idx - sign * distance
        if not 0 <= t < state.num_frames:
            break
        out = obj.non_cond_outputs.pointer_output(t)  # never reads spilled tensors back
        if out is None:
            out = unselected.get(t)
        if out is not None:
            offsets.append(distance)
            pointers.append(out.obj_ptr)
    return offsets, pointers


def gather_memory(
    model: Sam2Model,
    state: VideoState,
    obj: TrackedObject,
    frame_idx: int,
    reverse: bool,
    max_cond_frames: int = -1,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The memory tokens of one object for one frame.

    Returns:
        memory (1, M, mem_dim), memory_pos (1, M, mem_dim) and the number of object-pointer
        tokens at the end of the memory.
    """
    num_maskmem = model.config.num_maskmem
    device = state.device
    cond, unselected = select_cond_frames(obj.cond_outputs, frame_idx, max_cond_frames)

    # (slot, output): conditioning frames take slot 0, recent frames slots 1..num_maskmem-1
    slots = [(0, out) for out in cond.values()]
    step = 1 if reverse else -1
    for slot in range(1, num_maskmem):
        prev = frame_idx + step * (num_maskmem - slot)
        out = obj.non_cond_outputs.get(prev, unselected.get(prev))
        if out is not None:
            slots.append((slot, out))

    if state.maskmem_pos is None or not slots:
        raise VideoStateError(
            f"object {obj.obj_id} has no encoded memory to track frame {frame_idx} with: "
            "prompt it on some frame, then propagate"
        )
    mem_pos_map = state.maskmem_pos.to(device).flatten(2).transpose(1, 2)  # (1, hw, mem)
    memories, positions = [], []
    for slot, out in slots:
        # stored in bf16; attention runs in the model's dtype (the official code fails on CPU
        # when no float32 pointer happens to promote the bf16 memory)
        memories.append(out.maskmem.to(device=device, dtype=mem_pos_map.dtype).flatten(2))
        positions.append(mem_pos_map + model.memory_slot_encoding(slot))
    memory = torch.cat(memories, dim=2).transpose(1, 2)  # (1, k*hw, mem)
    memory_pos = torch.cat(positions, dim=1)  # (1, k*hw, mem)

    offsets, pointers = gather_pointers(model, state, obj, frame_idx, cond, unselected, reverse)
    if not pointers:
        return memory, memory_pos, 0
    max_ptrs = min(state.num_frames, model.config.max_obj_ptrs_in_encoder)
    ptr_pos = model.pointer_positions(offsets, max_ptrs)
    ptrs = torch.stack([p.to(device) for p in pointers], dim=1)  # (1, P, C)
    ptr_tokens, ptr_token_pos = model.split_pointers(ptrs, ptr_pos)
    memory = torch.cat([memory, ptr_tokens.to(memory.dtype)], dim=1)
    memory_pos = torch.cat([memory_pos, ptr_token_pos.to(memory.dtype)], dim=1)
    return memory, memory_pos, ptr_tokens.shape[1]
