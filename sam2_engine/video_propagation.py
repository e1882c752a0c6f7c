"""Propagation: every object of a session, frame by frame, in batches of objects.

On each frame, objects with a prompt there give back their stored output; the others are
tracked together. Objects attend to memory banks that may differ in size (objects prompted on
other frames, or on more frames, or whose recent memories have gaps), so they are grouped by
memory layout (:attr:`~sam2_engine.memory_bank.MemoryPlan.layout`): objects of one group have
the same number of memory and pointer tokens and stack into one batch without padding, which
keeps every object's numbers those of tracking it alone. A group larger than the memory budget
(``object_batch_bytes``) is cut into several batches. The image features of a frame are
computed once, for all batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from .errors import VideoStateError
from .memory_bank import MemoryPlan, plan_memory
from .modeling.sam2_model import NO_OBJECT_LOGIT, Sam2Model
from .video_inference import frame_features, store_memory, to_video_res, track_batch
from .video_state import FrameOutput, TrackedObject, VideoState

if TYPE_CHECKING:
    from .video_predictor import VideoPredictor

VideoOutput = tuple[int, list[int], torch.Tensor]


def bytes_per_object(net: Sam2Model, layout: tuple[int, int]) -> int:
    """Working memory of one object in a batch whose memory ``layout`` is (frames, pointers).

    Memory attention needs the most: the object's memory tokens, their positions and keys
    (three tensors of M x mem_dim), the projected keys and values (two of M x C), five copies
    of the frame's tokens (T x C) and the feed-forward hidden layer (T x ffn). The heads and
    the memory encoder need less at a full memory bank; on an object's first frames their
    upsampled maps (4h x 4w x C/8 channels, a few times, and the S x S mask) can be more.
    Counted in float32.
    """
    cfg = net.config
    tokens = cfg.image_embedding_size**2  # T
    frames, pointers = layout
    num_memory = frames * tokens + pointers * (cfg.hidden_dim // cfg.mem_dim)  # M
    attention = (
        3 * num_memory * cfg.mem_dim
        + 2 * num_memory * cfg.hidden_dim
        + 5 * tokens * cfg.hidden_dim
        + tokens * cfg.memory_attention_ffn_dim
    )
    heads = 4 * (16 * tokens) * (cfg.hidden_dim // 8) + 2 * cfg.image_size**2
    return 4 * max(attention, heads)


def object_batches(
    net: Sam2Model, plans: list[MemoryPlan], budget_bytes: int
) -> list[list[MemoryPlan]]:
    """Group plans by memory layout (in order of first appearance), then cut each group into
    batches of at most ``budget_bytes`` of working memory (at least one object each)."""
    groups: dict[tuple[int, int], list[MemoryPlan]] = {}
    for plan in plans:
        groups.setdefault(plan.layout, []).append(plan)
    batches = []
    for layout, group in groups.items():
        size = max(1, budget_bytes // bytes_per_object(net, layout))
        batches += [group[i : i + size] for i in range(0, len(group), size)]
    return batches


class Propagation:
    """One call of ``propagate_in_video``: the objects' absence counts and who stopped.

    Args:
        predictor: the predictor (settings and compute model).
        state: the session.
        reverse: travel towards frame 0.
        stop_after_absent: stop an object after this many consecutive absent frames (None:
            never).
    """

    def __init__(
        self,
        predictor: VideoPredictor,
        state: VideoState,
        reverse: bool,
        stop_after_absent: int | None,
    ) -> None:
        self.predictor = predictor
        self.state = state
        self.reverse = reverse
        self.stop_after_absent = stop_after_absent
        self.absent_run = dict.fromkeys(state.objects, 0)
        self.stopped: set[int] = set()

    def run(self, order: range) -> Iterator[VideoOutput]:
        """Track every frame of ``order``; yields ``(frame_idx, obj_ids, masks)`` with masks
        (num_objects, 1, H, W) at the video's size, each frame stored before it is yielded."""
        state = self.state
        try:
            for position, frame_idx in enumerate(order):
                upcoming = order[position + 1 : position + 1 + state.prefetcher.depth]
                state.prefetcher.schedule(t for t in upcoming if t not in state.features)
                masks = self.track_frame(frame_idx)
                yield frame_idx, state.obj_ids, masks
                if len(self.stopped) == len(state.objects):
                    break
        finally:
            state.prefetcher.discard()

    def track_frame(self, frame_idx: int) -> torch.Tensor:
        """Every object on one frame: (num_objects, 1, H, W) logits at the video's size."""
        predictor, state = self.predictor, self.state
        net = predictor._net
        results: dict[int, tuple[torch.Tensor, FrameOutput]] = {}
        plans = []
        for obj_id, obj in state.objects.items():
            if obj_id in self.stopped:
                continue
            stored = obj.cond_outputs.get(frame_idx)
            if stored is None:
                plans.append(
                    plan_memory(
                        net,
                        state,
                        obj,
                        frame_idx,
                        self.reverse,
                        predictor.max_cond_frames_in_attn,
                    )
                )
                continue
            results[obj_id] = (stored.pred_masks.to(state.device), stored)
            if predictor.clear_non_cond_mem_around_input:
                clear_memory_around(net, obj, frame_idx)
            obj.tracked[frame_idx] = self.reverse

        if plans:
            feats = frame_features(net, state, frame_idx)  # once, for every batch
            for batch in object_batches(net, plans, predictor.object_batch_bytes):
                outputs, masks = track_batch(net, state, batch, feats, predictor.fill_hole_area)
                for i, (plan, out) in enumerate(zip(batch, outputs, strict=True)):
                    plan.obj.non_cond_outputs[frame_idx] = out
                    plan.obj.tracked[frame_idx] = self.reverse
                    results[plan.obj.obj_id] = (masks[i : i + 1], out)

        per_object = []
        for obj_id in state.objects:
            per_object.append(
                self._absent_low_res(net) if obj_id in self.stopped else results[obj_id][0]
            )
        # every score read back at once (one device sync per frame, not one per object)
        if results:
            scores = torch.stack([out.object_score_logits.max() for _, out in results.values()])
            for obj_id, score in zip(results, scores.tolist(), strict=True):
                self._count_absence(obj_id, score)
        return to_video_res(state, torch.cat(per_object), predictor.non_overlap_masks)

    def _count_absence(self, obj_id: int, score: float) -> None:
        self.absent_run[obj_id] = self.absent_run[obj_id] + 1 if score <= 0 else 0
        limit = self.stop_after_absent
        if limit is not None and self.absent_run[obj_id] >= limit:
            self.stopped.add(obj_id)

    def _absent_low_res(self, net: Sam2Model) -> torch.Tensor:
        side = net.low_res_size
        return torch.full((1, 1, side, side), NO_OBJECT_LOGIT, device=self.state.device)


def commit_prompts(predictor: VideoPredictor, state: VideoState) -> None:
    """Encode the memories of prompted frames and commit them (before every propagation)."""
    if not state.objects:
        raise VideoStateError(
            "nothing to propagate: add points, a box or a mask for an object first"
        )
    net = predictor._net
    for obj in state.objects.values():
        for is_cond in (False, True):
            pending = obj.pending(is_cond)
            for frame_idx, out in pending.items():
                if out.maskmem is None:
                    out.maskmem = _encode_prompted_memory(net, state, frame_idx, out)
                obj.outputs(is_cond)[frame_idx] = out
                if predictor.clear_non_cond_mem_around_input:
                    clear_memory_around(net, obj, frame_idx)
            pending.clear()
        if not obj.cond_outputs:
            raise VideoStateError(
                f"object {obj.obj_id} has no prompts left: add points, a box or a mask "
                f"for it, or remove it"
            )
        for frame_idx in obj.cond_outputs:
            obj.non_cond_outputs.discard(frame_idx)


def _encode_prompted_memory(
    net: Sam2Model, state: VideoState, frame_idx: int, out: FrameOutput
) -> torch.Tensor:
    """Memory of a prompted frame, from its (binarised) mask, once prompting is done."""
    feats = frame_features(net, state, frame_idx)
    high_res = net.upsample_to_input(out.pred_masks.to(state.device))
    memory, pos = net.encode_memory(feats.embed, high_res, out.object_score_logits, binarize=True)
    return store_memory(state, memory, pos)[0]


def clear_memory_around(net: Sam2Model, obj: TrackedObject, frame_idx: int) -> None:
    """Forget the object's propagated memories within ``num_maskmem`` frames of a prompt."""
    window = net.config.num_maskmem
    for t in range(frame_idx - window, frame_idx + window + 1):
        obj.non_cond_outputs.discard(t)


def processing_order(
    state: VideoState,
    start_frame_idx: int | None,
    max_frame_num_to_track: int | None,
    reverse: bool,
) -> range:
    """The frames a propagation visits, in order (the official meaning of every argument).

    ``start_frame_idx`` None means the earliest prompted frame; it must be a frame of the
    video (the caller checks).
    """
    num_frames = state.num_frames
    if start_frame_idx is None:
        start_frame_idx = min(t for obj in state.objects.values() for t in obj.cond_outputs)
    if max_frame_num_to_track is None:
        max_frame_num_to_track = num_frames
    if reverse:
        end = max(start_frame_idx - max_frame_num_to_track, 0)
        return range(start_frame_idx, end - 1, -1) if start_frame_idx > 0 else range(0)
    end = min(start_frame_idx + max_frame_num_to_track, num_frames - 1)
    return range(start_frame_idx, end + 1)
