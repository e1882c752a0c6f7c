"""Which memories a frame attends to: the SAM 2 memory bank, read for a batch of objects.

For a frame t of one object, the memory is made of
- every conditioning frame (prompted frames; or the ``max_cond_frames_in_attn`` closest),
  in temporal slot 0;
- the ``num_maskmem - 1`` frames just before t in the direction of travel (slot k is the frame
  ``num_maskmem - k`` steps back, so the last slot is t -/+ 1), where they were tracked;
- object pointers: those of conditioning frames not after t (in the direction of travel) and
  of up to ``max_obj_ptrs_in_encoder - 1`` tracked frames before t, each with its distance.

Reading happens in two steps. :func:`plan_memory` decides, for one object, which stored
outputs it attends to, without reading anything back from disk; its :attr:`MemoryPlan.layout`
(how many memory frames and pointers) says which objects can attend together: the same layout
means the same number of memory tokens and pointer tokens. :func:`assemble_memory` then builds
the memory tokens of a batch of objects with one layout, directly into batch tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass
class MemoryPlan:
    """The memories one object attends to on one frame (nothing read back from disk yet).

    Attributes:
        obj: the object.
        spatial: (slot, store, frame) per memory frame, in attention order: the memory is
            ``store[frame].maskmem`` with the temporal encoding of ``slot`` (0: conditioning).
        pointer_offsets: temporal distance of each object pointer.
        pointers: (1, C) object pointers, in the same order.
    """

    obj: TrackedObject
    spatial: list[tuple[int, Mapping[int, FrameOutput], int]]
    pointer_offsets: list[int]
    pointers: list[torch.Tensor]

    @property
    def layout(self) -> tuple[int, int]:
        """(memory frames, pointers): plans with equal layouts stack into one batch."""
        return len(self.spatial), len(self.pointers)


def plan_memory(
    model: Sam2Model,
    state: VideoState,
    obj: TrackedObject,
    frame_idx: int,
    reverse: bool,
    max_cond_frames: int = -1,
) -> MemoryPlan:
    """Choose the memories of ``obj`` for frame ``frame_idx`` (see the module docstring).

    Raises:
        VideoStateError: the object has no encoded memory at all.
    """
    cfg = model.config
    cond, unselected = select_cond_frames(obj.cond_outputs, frame_idx, max_cond_frames)
    recent = obj.non_cond_outputs

    # conditioning frames take slot 0, recent frames slots 1..num_maskmem-1
    spatial: list[tuple[int, Mapping[int, FrameOutput], int]] = [(0, cond, t) for t in cond]
    step = 1 if reverse else -1
    for slot in range(1, cfg.num_maskmem):
        prev = frame_idx + step * (cfg.num_maskmem - slot)
        if prev in recent:
            spatial.append((slot, recent, prev))
        elif prev in unselected:
            spatial.append((slot, unselected, prev))
    if state.maskmem_pos is None or not spatial:
        raise VideoStateError(
            f"object {obj.obj_id} has no encoded memory to track frame {frame_idx} with: "
            "prompt it on some frame, then propagate"
        )

    sign = -1 if reverse else 1
    offsets, pointers = [], []
    # pointers of conditioning frames, only from the past in the direction of travel
    for t, out in cond.items():
        if (t >= frame_idx) if reverse else (t <= frame_idx):
            offset = (frame_idx - t) * sign
            offsets.append(offset if cfg.use_signed_tpos_enc_to_obj_ptrs else abs(offset))
            pointers.append(out.obj_ptr)
    for distance in range(1, min(state.num_frames, cfg.max_obj_ptrs_in_encoder)):
        t = frame_idx - sign * distance
        if not 0 <= t < state.num_frames:
            break
        out = recent.pointer_output(t)  # never reads spilled tensors back
        if out is None:
            out = unselected.get(t)
        if out is not None:
            offsets.append(distance)
            pointers.append(out.obj_ptr)
    return MemoryPlan(obj, spatial, offsets, pointers)


def assemble_memory(
    model: Sam2Model, state: VideoState, plans: list[MemoryPlan]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The memory tokens of a batch of objects whose plans share one layout.

    Memories are stored in bfloat16 and come back in the dtype of the session's memory
    position map (the official code fails on CPU when no float32 pointer happens to promote
    the bf16 memory).

    Returns:
        memory (B, M, mem_dim), memory_pos (B, M, mem_dim) and the number of object-pointer
        tokens at the end of the memory (M = frames * h * w + pointer tokens).
    """
    layout = plans[0].layout
    if any(plan.layout != layout for plan in plans):
        raise ValueError(
            f"plans of one batch must share one layout, got {[p.layout for p in plans]}"
        )
    cfg = model.config
    device = state.device
    pos_map = state.maskmem_pos.to(device).flatten(2).transpose(1, 2)[0]  # (hw, mem)
    grid = pos_map.shape[0]
    per_ptr = cfg.hidden_dim // cfg.mem_dim  # tokens per pointer
    num_frames, num_ptrs = layout
    num_tokens = num_frames * grid + num_ptrs * per_ptr
    slot_pos = {}  # slot -> (hw, mem) position of a memory in that slot
    pos_dtype = torch.promote_types(pos_map.dtype, model.maskmem_tpos_enc.dtype)

    memory = pos_map.new_empty(len(plans), num_tokens, cfg.mem_dim)  # (B, M, mem)
    memory_pos = memory.new_empty(memory.shape, dtype=pos_dtype)
    for b, plan in enumerate(plans):
        for i, (slot, store, t) in enumerate(plan.spatial):
            rows = slice(i * grid, (i + 1) * grid)
            maskmem = store[t].maskmem.to(device)  # (1, mem, h, w) bf16
            memory[b, rows] = maskmem.flatten(2)[0].t()  # (hw, mem), promoted exactly
            if slot not in slot_pos:
                slot_pos[slot] = pos_map + model.memory_slot_encoding(slot)[0]
            memory_pos[b, rows] = slot_pos[slot]
        if num_ptrs:
            max_ptrs = min(state.num_frames, cfg.max_obj_ptrs_in_encoder)
            ptr_pos = model.pointer_positions(plan.pointer_offsets, max_ptrs)  # (P, mem)
            ptrs = torch.stack([p.to(device) for p in plan.pointers], dim=1)  # (1, P, C)
            tokens, token_pos = model.split_pointers(ptrs, ptr_pos)  # (1, P*k, mem) each
            memory[b, num_frames * grid :] = tokens[0]
            memory_pos[b, num_frames * grid :] = token_pos[0].to(memory.dtype)
    return memory, memory_pos, num_ptrs * per_ptr
