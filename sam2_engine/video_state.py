"""The typed state of one video session: objects, their prompts and their per-frame outputs."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .feature_cache import FeatureCache
from .frames import FrameSource
from .modeling.sam2_model import ImageFeatures
from .prefetch import FramePrefetcher


@dataclass
class PointPrompt:
    """Clicks (and box corners) of one object on one frame, in model-input pixels.

    Attributes:
        coords: (1, N, 2) xy in 0..image_size.
        labels: (1, N) int32: 1 positive, 0 negative, 2/3 box top-left/bottom-right.
    """

    coords: torch.Tensor
    labels: torch.Tensor

    def extended(self, coords: torch.Tensor, labels: torch.Tensor) -> PointPrompt:
        return PointPrompt(
            torch.cat([self.coords, coords], dim=1), torch.cat([self.labels, labels], dim=1)
        )


@dataclass
class FrameOutput:
    """What is kept of one object on one frame.

    Attributes:
        pred_masks: (1, 1, 4h, 4w) float32 low-resolution logits (after hole filling).
        obj_ptr: (1, C) object pointer.
        object_score_logits: (1, 1) presence logit.
        maskmem: (1, mem_dim, h, w) bfloat16 memory, or None until the memory encoder ran.
    """

    pred_masks: torch.Tensor
    obj_ptr: torch.Tensor
    object_score_logits: torch.Tensor
    maskmem: torch.Tensor | None = None

    def nbytes(self) -> int:
        tensors = [self.pred_masks, self.obj_ptr, self.object_score_logits]
        if self.maskmem is not None:
            tensors.append(self.maskmem)
        return sum(t.numel() * t.element_size() for t in tensors)


class FrameOutputStore(MutableMapping[int, FrameOutput]):
    """Per-frame outputs of one object, with RAM use bounded by ``max_in_memory`` frames.

    Pointers and object scores (about 1 KiB a frame) always stay in memory. The large parts
    (the memory map and the low-res logits, about 0.75 MiB a frame at 1024) of the least
    recently used frames beyond ``max_in_memory`` are written to ``spill_dir`` and read back
    when a frame is needed again, so nothing is lost and results stay exactly those of an
    unbounded store. ``max_in_memory=None`` keeps everything in memory (the official way).
    """

    def __init__(self, max_in_memory: int | None, spill_dir: Path | None) -> None:
        if max_in_memory is not None and spill_dir is None:
            raise ValueError("a bounded store needs a spill directory")
        self.max_in_memory = max_in_memory
        self.spill_dir = spill_dir
        self._hot: OrderedDict[int, FrameOutput] = OrderedDict()
        self._spilled: dict[int, FrameOutput] = {}  # light outputs: big tensors on disk

    def _path(self, frame_idx: int) -> Path:
        return self.spill_dir / f"{id(self):x}_{frame_idx}.pt"

    def __getitem__(self, frame_idx: int) -> FrameOutput:
        out = self._hot.get(frame_idx)
        if out is not None:
            self._hot.move_to_end(frame_idx)
            return out
        light = self._spilled.pop(frame_idx)  # KeyError if absent
        path = self._path(frame_idx)
        big = torch.load(path, map_location="cpu", weights_only=True)
        path.unlink(missing_ok=True)
        out = FrameOutput(
            pred_masks=big["pred_masks"].to(light.obj_ptr.device),
            obj_ptr=light.obj_ptr,
            object_score_logits=light.object_score_logits,
            maskmem=None if big["maskmem"] is None else big["maskmem"].to(light.obj_ptr.device),
        )
        self._put_hot(frame_idx, out)
        return out

    def __setitem__(self, frame_idx: int, out: FrameOutput) -> None:
        self._discard_spilled(frame_idx)
        self._put_hot(frame_idx, out)

    def __delitem__(self, frame_idx: int) -> None:
        if frame_idx in self._hot:
            del self._hot[frame_idx]
        elif frame_idx in self._spilled:
            self._discard_spilled(frame_idx)
        else:
            raise KeyError(frame_idx)

    def __contains__(self, frame_idx: object) -> bool:
        return frame_idx in self._hot or frame_idx in self._spilled

    def __iter__(self) -> Iterator[int]:
        yield from list(self._hot)
        yield from list(self._spilled)

    def __len__(self) -> int:
        return len(self._hot) + len(self._spilled)

    def discard(self, frame_idx: int) -> None:
        """Remove a frame's output if present, without reading it back from disk."""
        self._hot.pop(frame_idx, None)
        self._discard_spilled(frame_idx)

    def clear(self) -> None:
        for frame_idx in list(self._spilled):
            self._discard_spilled(frame_idx)
        self._hot.clear()

    def pointer_output(self, frame_idx: int) -> FrameOutput | None:
        """The output of a frame for its pointer and score only, never read from disk
        (its big tensors may be absent)."""
        out = self._hot.get(frame_idx)
        return out if out is not None else self._spilled.get(frame_idx)

    @property
    def frames_in_memory(self) -> int:
        return len(self._hot)

    def nbytes(self) -> int:
        """Bytes held in memory (spilled frames count their pointer and score only)."""
        hot = sum(out.nbytes() for out in self._hot.values())
        return hot + sum(out.nbytes() for out in self._spilled.values())

    def _put_hot(self, frame_idx: int, out: FrameOutput) -> None:
        self._hot[frame_idx] = out
        self._hot.move_to_end(frame_idx)
        if self.max_in_memory is None:
            return
        while len(self._hot) > self.max_in_memory:
            old_idx, old = self._hot.popitem(last=False)
            torch.save(
                {
                    "pred_masks": old.pred_masks.cpu(),
                    "maskmem": None if old.maskmem is None else old.maskmem.cpu(),
                },
                self._path(old_idx),
            )
            self._spilled[old_idx] = FrameOutput(
                pred_masks=old.pred_masks.new_empty(0),
                obj_ptr=old.obj_ptr,
                object_score_logits=old.object_score_logits,
            )

    def _discard_spilled(self, frame_idx: int) -> None:
        if self._spilled.pop(frame_idx, None) is not None:
            self._path(frame_idx).unlink(missing_ok=True)


SPILL_PREFIX = "sam2_engine_state_"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale_spill_dirs(root: Path | None = None) -> list[Path]:
    """Remove spill folders left behind by processes that were killed (SIGKILL, power loss).

    A spill folder is named ``sam2_engine_state_<pid>_*``; it is stale when that process no
    longer runs. Returns the folders removed.
    """
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{SPILL_PREFIX}*_*"):
        pid_text = folder.name[len(SPILL_PREFIX) :].split("_", 1)[0]
        if not pid_text.isdigit() or not folder.is_dir() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class SpillDirectory:
    """A temporary folder for spilled outputs, removed with the session (or at exit).

    Folders of killed processes, which had no chance to clean up, are removed when the next
    one is created.
    """

    def __init__(self) -> None:
        remove_stale_spill_dirs()
        prefix = f"{SPILL_PREFIX}{os.getpid()}_"
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, True)

    def cleanup(self) -> None:
        self._finalizer()


@dataclass
class TrackedObject:
    """One object of a session (its id is the label value users see).

    Conditioning frames are frames with prompts; their outputs are kept for the whole session.
    Non-conditioning outputs are what propagation produced. ``pending_*`` hold prompt results
    whose memory has not been encoded yet (done when propagation starts).
    """

    obj_id: int
    points: dict[int, PointPrompt] = field(default_factory=dict)
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    cond_outputs: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond_outputs: FrameOutputStore = field(default_factory=lambda: FrameOutputStore(None, None))
    pending_cond: dict[int, FrameOutput] = field(default_factory=dict)
    pending_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    #: frame -> True when it was last tracked in reverse
    tracked: dict[int, bool] = field(default_factory=dict)

    def pending(self, is_cond: bool) -> dict[int, FrameOutput]:
        return self.pending_cond if is_cond else self.pending_non_cond

    def outputs(self, is_cond: bool) -> dict[int, FrameOutput]:
        return self.cond_outputs if is_cond else self.non_cond_outputs

    def latest_output(self, frame_idx: int, is_cond: bool) -> FrameOutput | None:
        """The newest output on a frame: a pending one of the given kind, else a stored one."""
        out = self.pending(is_cond).get(frame_idx)
        if out is None:
            out = self.cond_outputs.get(frame_idx)
        if out is None:
            out = self.non_cond_outputs.get(frame_idx)
        return out

    def clear(self) -> None:
        for store in (
            self.points,
            self.masks,
            self.cond_outputs,
            self.non_cond_outputs,
            self.pending_cond,
            self.pending_non_cond,
            self.tracked,
        ):
            store.clear()

    def nbytes(self) -> int:
        """Bytes of outputs held in memory (spilled outputs are not read back to count them)."""
        stores = (self.cond_outputs, self.pending_cond, self.pending_non_cond)
        held = sum(out.nbytes() for store in stores for out in store.values())
        return held + self.non_cond_outputs.nbytes()


@dataclass
class VideoState:
    """One video session (the official predictors' ``inference_state``, as a class).

    Memory use does not grow with the number of frames: frames are read on demand, image
    features sit in a bounded cache, and each object keeps at most ``max_frames_in_memory``
    propagated outputs in memory (older ones are spilled to a temporary folder).

    Attributes:
        frames: where frames come from (read lazily).
        num_frames, video_height, video_width: the source's size; masks come back at it.
        device: where the model runs; storage_device: where per-frame outputs are kept.
        objects: tracked objects by id, in the order they were added.
        features: per-frame image features (LRU, bounded in bytes).
        prefetcher: prepares the next frames' model inputs in the background.
        max_frames_in_memory: propagated outputs kept in memory per object (None: all).
        spill: the temporary folder for spilled outputs (created when first needed).
        maskmem_pos: (1, mem_dim, h, w) memory position map, the same for every frame.
    """

    frames: FrameSource
    num_frames: int
    video_height: int
    video_width: int
    device: torch.device
    storage_device: torch.device
    features: FeatureCache[ImageFeatures]
    prefetcher: FramePrefetcher
    max_frames_in_memory: int | None = None
    spill: SpillDirectory | None = None
    objects: dict[int, TrackedObject] = field(default_factory=dict)
    maskmem_pos: torch.Tensor | None = None

    def new_object(self, obj_id: int) -> TrackedObject:
        """Add an object whose propagated outputs follow the session's memory bound."""
        spill_dir = None
        if self.max_frames_in_memory is not None:
            if self.spill is None:
                self.spill = SpillDirectory()
            spill_dir = self.spill.path
        store = FrameOutputStore(self.max_frames_in_memory, spill_dir)
        obj = self.objects[obj_id] = TrackedObject(obj_id, non_cond_outputs=store)
        return obj

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    def object_index(self, obj_id: int) -> int:
        return self.obj_ids.index(obj_id)

    def nbytes(self) -> int:
        """Bytes held by per-frame outputs of all objects (features not counted)."""
        return sum(obj.nbytes() for obj in self.objects.values())

    def close(self) -> None:
        """Release the session's resources: background thread, spilled outputs, open files."""
        self.prefetcher.close()
        self.features.clear()
        if self.spill is not None:
            self.spill.cleanup()
        self.frames.close()
