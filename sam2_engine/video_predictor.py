"""Track objects through a video (or a stack along t or z) with SAM 2's memory.

The API keeps the official ``SAM2VideoPredictor``'s names and meanings, so existing scripts
carry over: ``init_state``, ``add_new_points_or_box``, ``add_new_mask``,
``propagate_in_video``, ``clear_all_prompts_in_frame``, ``remove_object``, ``reset_state``.
Differences, all on purpose:

- frames are read and encoded when first needed, and image features live in a bounded LRU
  cache (the official predictor decodes the whole video up front);
- the state is a typed :class:`~sam2_engine.video_state.VideoState`, not a dict;
- a correction on an already tracked frame becomes a conditioning frame by default, so the
  next propagation keeps it (``add_all_frames_to_correct_as_cond=False`` gives the official
  behaviour, where the correction is recomputed away);
- stored bfloat16 memories are promoted before attention, so tracking a frame with no
  object pointer works on every device (the official code fails on CPU there);
- hole filling (``fill_hole_area``) runs on every device;
- propagation tracks the objects of a frame together, in batches bounded in memory, with
  each object's results those of tracking it alone (the official predictor runs one object
  after another).

Prompting lives in :mod:`~sam2_engine.video_prompting`, propagation and its batches in
:mod:`~sam2_engine.video_propagation`, the model steps both share in
:mod:`~sam2_engine.video_inference`; this class checks arguments and ties them together.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import torch
import torch.nn.functional as F

from .allocator import map_large_blocks
from .errors import VideoStateError
from .feature_cache import FeatureCache
from .frames import open_frames
from .modeling.sam2_model import Sam2Model
from .precision import compute_model, resolve_precision
from .prefetch import FramePrefetcher
from .prompts import (
    check_flag,
    check_integer,
    check_mask,
    check_point_count,
    prompt_points,
)
from .resources import check_frame_memory
from .video_inference import frame_features
from .video_prompting import clear_object_prompts, frame_masks, run_prompt
from .video_propagation import Propagation, VideoOutput, commit_prompts, processing_order
from .video_state import PointPrompt, TrackedObject, VideoState

#: Default budget of the per-session image feature cache (about 16 frames of a 1024 model).
DEFAULT_FEATURE_CACHE_BYTES = 256 * 2**20
#: Default working memory of one batch of objects in propagation (about 7 objects at a full
#: memory bank of a 1024 model; see ``video_propagation.bytes_per_object``).
DEFAULT_OBJECT_BATCH_BYTES = 2**30


class VideoPredictor:
    """Prompt objects on some frames of a video and propagate them to the others.

    Args:
        model: a :class:`~sam2_engine.modeling.sam2_model.Sam2Model` (see ``load_model``).
        fill_hole_area: fill background holes up to this many low-res pixels in the masks
            (8, as the official video predictor; 0 turns it off).
        add_all_frames_to_correct_as_cond: treat a frame prompted after it was tracked as a
            conditioning frame (ours: True; official default: False).
        non_overlap_masks: where objects overlap, keep only the highest-scoring one.
        clear_non_cond_mem_around_input: forget the propagated memories of an object within
            ``num_maskmem`` frames of a frame it was prompted on.
        max_cond_frames_in_attn: conditioning frames a frame attends to (-1: all).
        feature_cache_bytes: budget of the image feature cache.
        max_frames_in_memory: propagated outputs per object kept in memory; older ones go to
            a temporary folder and come back when needed (None keeps all in memory).
        precision: "fp32" (exact, default), or "bf16" / "fp16": the image encoder, memory
            attention and memory encoder compute in that dtype, the decoder in fp32 (faster
            on GPUs and on CPUs with fast bf16 units; masks move slightly from the fp32
            result, see ``sam2_engine.precision``).
        object_batch_bytes: working memory of one batch of objects tracked together on a
            frame (memory attention, decoder, memory encoder); more objects run in several
            batches, and one object always runs. Larger batches pay on GPUs.
    """

    def __init__(
        self,
        model: Sam2Model,
        *,
        fill_hole_area: int = 8,
        add_all_frames_to_correct_as_cond: bool = True,
        non_overlap_masks: bool = False,
        clear_non_cond_mem_around_input: bool = False,
        max_cond_frames_in_attn: int = -1,
        feature_cache_bytes: int = DEFAULT_FEATURE_CACHE_BYTES,
        max_frames_in_memory: int | None = 32,
        precision: str = "fp32",
        object_batch_bytes: int = DEFAULT_OBJECT_BATCH_BYTES,
    ) -> None:
        fill_hole_area = check_integer(
            fill_hole_area, "fill_hole_area", minimum=0, error=ValueError
        )
        feature_cache_bytes = check_integer(
            feature_cache_bytes, "feature_cache_bytes", minimum=0, error=ValueError
        )
        object_batch_bytes = check_integer(
            object_batch_bytes, "object_batch_bytes", minimum=0, error=ValueError
        )
        max_cond_frames_in_attn = check_integer(
            max_cond_frames_in_attn, "max_cond_frames_in_attn", error=ValueError
        )
        if max_frames_in_memory is not None:
            max_frames_in_memory = check_integer(
                max_frames_in_memory, "max_frames_in_memory", error=ValueError
            )
        check_flag(add_all_frames_to_correct_as_cond, "add_all_frames_to_correct_as_cond")
        check_flag(non_overlap_masks, "non_overlap_masks")
        check_flag(clear_non_cond_mem_around_input, "clear_non_cond_mem_around_input")
        if max_frames_in_memory is not None and max_frames_in_memory < model.config.num_maskmem:
            raise ValueError(
                f"max_frames_in_memory must be at least {model.config.num_maskmem} (the memory "
                "window) or None"
            )
        if max_cond_frames_in_attn not in (-1,) and max_cond_frames_in_attn < 2:
            raise ValueError("max_cond_frames_in_attn must be -1 (all) or at least 2")
        self.model = model.eval()
        self.fill_hole_area = fill_hole_area
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.max_cond_frames_in_attn = max_cond_frames_in_attn
        self.feature_cache_bytes = feature_cache_bytes
        self.max_frames_in_memory = max_frames_in_memory
        self.precision = precision
        self.object_batch_bytes = object_batch_bytes
        self._compute_dtype = resolve_precision(precision, model.device)

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    @cached_property
    def _net(self) -> Sam2Model:
        """The model that computes: a reduced-precision copy for bf16/fp16, made on first use."""
        return compute_model(self.model, self._compute_dtype)

    # ------------------------------------------------------------------ session
    @torch.inference_mode()
    def init_state(
        self,
        video,
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
        **frame_options,
    ) -> VideoState:
        """Open a video and start a session. Nothing is decoded yet.

        Args:
            video: a frame source or anything :func:`sam2_engine.frames.open_frames` accepts
                (numpy/dask arrays, TIFF, zarr, image folders, video files).
            offload_video_to_cpu: accepted for compatibility; frames are never held on the
                device here.
            offload_state_to_cpu: keep per-frame outputs in CPU memory (saves GPU memory).
            **frame_options: passed to ``open_frames`` (axes, axis, channel, contrast_limits).
        """
        frames = open_frames(video, **frame_options)
        check_frame_memory(frames)  # a frame too large for this machine: refused now
        map_large_blocks()  # flat process memory over long propagations (see allocator.py)
        storage = torch.device("cpu") if offload_state_to_cpu else self.device
        return VideoState(
            frames=frames,
            num_frames=len(frames),
            video_height=frames.height,
            video_width=frames.width,
            device=self.device,
            storage_device=storage,
            features=FeatureCache(self.feature_cache_bytes),
            prefetcher=FramePrefetcher(frames, self.image_size),
            max_frames_in_memory=self.max_frames_in_memory,
        )

    @torch.inference_mode()
    def reset_state(self, state: VideoState) -> None:
        """Forget every object, prompt and result (cached image features stay)."""
        for obj in state.objects.values():
            obj.clear()
        state.objects.clear()

    # ------------------------------------------------------------------ prompts
    @torch.inference_mode()
    def add_new_points_or_box(
        self,
        state: VideoState,
        frame_idx: int,
        obj_id: int,
        points=None,
        labels=None,
        clear_old_points: bool = True,
        normalize_coords: bool = True,
        box=None,
        *,
        all_objects: bool = True,
    ) -> VideoOutput:
        """Add clicks and/or a box for one object on one frame; returns that frame's masks.

        Args:
            points: (N, 2) xy in pixels of the video frame (or in [0, 1] when
                ``normalize_coords`` is False); labels: (N,) 1 positive / 0 negative.
            clear_old_points: replace this frame's earlier clicks of this object (a box
                needs it, since box corners must come first).
            box: (4,) x0, y0, x1, y1 in the same coordinates as the points.
            all_objects: False returns only this object's mask (``obj_ids`` is
                ``[obj_id]``; no overlap resolution), which keeps prompting hundreds of
                objects linear in their number (the official output upsamples every
                object's mask on every prompt).

        Returns:
            ``(frame_idx, obj_ids, masks)`` with masks (num_objects, 1, H, W) logits at the
            video's resolution (-1024 for objects without output there).
        """
        self._check_frame(state, frame_idx)
        check_flag(clear_old_points, "clear_old_points")
        check_flag(all_objects, "all_objects")
        check_flag(normalize_coords, "normalize_coords")
        if points is None and box is None:
            raise ValueError("give points (with labels) or a box: both are None")
        if box is not None and not clear_old_points:
            raise ValueError(
                "a box must come before any click: pass clear_old_points=True with a box"
            )
        coords, labels_t = prompt_points(
            points,
            labels,
            box,
            width=state.video_width,
            height=state.video_height,
            image_size=self.image_size,
            normalize=normalize_coords,
        )
        if coords.shape[0] != 1:
            raise ValueError("prompts for one object must be (N, 2) points and a (4,) box")
        model_coords, model_labels = coords.to(state.device), labels_t.to(state.device)

        obj = self._object(state, obj_id, create=True)
        old = None if clear_old_points else obj.points.get(frame_idx)
        prompt = (
            PointPrompt(model_coords, model_labels)
            if old is None
            else old.extended(model_coords, model_labels)
        )
        check_point_count(prompt.labels.shape[1], "points (with this frame's earlier clicks)")
        obj.points[frame_idx] = prompt
        obj.masks.pop(frame_idx, None)
        return run_prompt(self, state, obj, frame_idx, all_objects, points=prompt)

    def add_new_points(self, *args, **kwargs) -> VideoOutput:
        """Alias of :meth:`add_new_points_or_box` (kept from the official API)."""
        return self.add_new_points_or_box(*args, **kwargs)

    @torch.inference_mode()
    def add_new_mask(
        self, state: VideoState, frame_idx: int, obj_id: int, mask, *, all_objects: bool = True
    ) -> VideoOutput:
        """Give one object's mask (H, W) on one frame (bool, or > 0 is inside); returns that
        frame's masks as :meth:`add_new_points_or_box` does (``all_objects`` the same)."""
        self._check_frame(state, frame_idx)
        check_flag(all_objects, "all_objects")
        mask_t = check_mask(mask, state.video_height, state.video_width)
        mask_t = mask_t[None, None].float().to(state.device)  # (1, 1, H, W)
        size = self.image_size
        if tuple(mask_t.shape[-2:]) != (size, size):
            mask_t = F.interpolate(
                mask_t, size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
            mask_t = (mask_t >= 0.5).float()
        obj = self._object(state, obj_id, create=True)
        obj.masks[frame_idx] = mask_t
        obj.points.pop(frame_idx, None)
        return run_prompt(self, state, obj, frame_idx, all_objects, mask=mask_t)

    @torch.inference_mode()
    def clear_all_prompts_in_frame(
        self, state: VideoState, frame_idx: int, obj_id: int, need_output: bool = True
    ) -> VideoOutput | None:
        """Remove one object's clicks, box and mask on one frame.

        The frame stops being a conditioning frame of that object; its last output is kept
        as an ordinary propagated result until the next propagation recomputes it.
        """
        self._check_frame(state, frame_idx)
        obj = self._object(state, obj_id, create=False)
        clear_object_prompts(obj, frame_idx)
        if not need_output:
            return None
        is_cond = any(frame_idx in o.pending_cond for o in state.objects.values())
        return frame_idx, state.obj_ids, frame_masks(self, state, frame_idx, is_cond)

    @torch.inference_mode()
    def remove_object(
        self, state: VideoState, obj_id: int, strict: bool = False, need_output: bool = True
    ) -> tuple[list[int], list[tuple[int, torch.Tensor]]]:
        """Remove an object. Returns the remaining ids and, per frame the object had prompts
        on, the updated masks of the others."""
        if obj_id not in state.objects:
            if strict:
                raise VideoStateError(
                    f"cannot remove object {obj_id}: it does not exist (objects: {state.obj_ids})"
                )
            return state.obj_ids, []
        if len(state.objects) == 1:
            self.reset_state(state)
            return state.obj_ids, []
        obj = state.objects[obj_id]
        prompted = sorted(set(obj.points) | set(obj.masks))
        for frame_idx in prompted:
            clear_object_prompts(obj, frame_idx)
        del state.objects[obj_id]
        updated = []
        if need_output:
            for frame_idx in prompted:
                is_cond = any(frame_idx in o.pending_cond for o in state.objects.values())
                updated.append((frame_idx, frame_masks(self, state, frame_idx, is_cond)))
        return state.obj_ids, updated

    # ------------------------------------------------------------------ propagation
    @torch.inference_mode()
    def propagate_in_video_preflight(self, state: VideoState) -> None:
        """Encode the memories of prompted frames and commit them (run by propagation)."""
        commit_prompts(self, state)

    @torch.inference_mode()
    def propagate_in_video(
        self,
        state: VideoState,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        reverse: bool = False,
        stop_after_absent: int | None = None,
    ) -> Iterator[VideoOutput]:
        """Track every object frame by frame; yields ``(frame_idx, obj_ids, masks)``.

        The objects of a frame are tracked together, in batches of at most
        ``object_batch_bytes`` of working memory; each object's results are those of
        tracking it alone (see :mod:`sam2_engine.video_propagation`).

        Args:
            start_frame_idx: first frame (default: the earliest prompted frame).
            max_frame_num_to_track: frames to go past the start (default: to the end).
            reverse: go towards frame 0.
            stop_after_absent: stop tracking an object after this many consecutive frames
                in which it is judged absent (its later masks are -1024 and nothing is
                stored for it); the pass ends early once every object stopped.

        Yields:
            masks (num_objects, 1, H, W) float32 logits at the video's resolution. Each
            frame's results are stored before it is yielded, so stopping the iteration keeps
            every finished frame.
        """
        check_flag(reverse, "reverse")
        if stop_after_absent is not None:
            check_integer(stop_after_absent, "stop_after_absent", minimum=1)
        if max_frame_num_to_track is not None:
            check_integer(max_frame_num_to_track, "max_frame_num_to_track", minimum=0)
        commit_prompts(self, state)
        if start_frame_idx is not None:
            self._check_frame(state, start_frame_idx)
        order = processing_order(state, start_frame_idx, max_frame_num_to_track, reverse)
        yield from Propagation(self, state, reverse, stop_after_absent).run(order)

    @torch.inference_mode()
    def encode_frame(self, state: VideoState, frame_idx: int) -> bool:
        """Encode a frame's image features now, into the state's feature cache, so that a
        later prompt on it only runs the decoder (what a GUI does ahead of the user's click).
        Returns False when they were cached already."""
        self._check_frame(state, frame_idx)
        if frame_idx in state.features:
            return False
        frame_features(self._net, state, frame_idx)
        return True

    # ------------------------------------------------------------------ internals
    def _object(self, state: VideoState, obj_id: int, *, create: bool) -> TrackedObject:
        obj_id = check_integer(obj_id, "obj_id")
        obj = state.objects.get(obj_id)
        if obj is None:
            if not create:
                raise VideoStateError(
                    f"unknown object id {obj_id}; objects in this session: {state.obj_ids}"
                )
            obj = state.new_object(obj_id)
        return obj

    @staticmethod
    def _check_frame(state: VideoState, frame_idx: int) -> None:
        frame_idx = check_integer(frame_idx, "frame_idx")
        if not 0 <= frame_idx < state.num_frames:
            raise IndexError(
                f"frame_idx {frame_idx} is outside the video (frames 0..{state.num_frames - 1})"
            )
