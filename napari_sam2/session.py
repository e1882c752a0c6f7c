"""The session file: everything needed to resume or replay a tracking job.

One JSON format is shared by the napari plugin (save / load), the scripted API (``track``
accepts a session) and the command line (``track --session``, ``batch``). It records the image
source and axis choices, the model, the objects, the prompts per frame in the order they were
given, the frames edited by hand, and the predictor settings. Masks are stored run-length
encoded. Nothing here imports torch, napari or Qt.

Format (version 1)::

    {"format": "napari-sam2-session", "version": 1,
     "source": {"path": ..., "sample": [plugin, name] or null, "layer": ...,
                "shape": [T, H, W], "dtype": ..., "axes": ..., "axis": ..., "index": {...},
                "channel": ..., "contrast_limits": [lo, hi]},
     "model": {"name": "sam2.1_hiera_tiny", "checkpoint": null, "sha256": null},
     "settings": {...},
     "objects": [{"id": 1, "name": "cell 1", "color": "#ff7f0e"}],
     "prompts": [{"frame": 0, "object": 1, "points": [[x, y]], "labels": [1],
                  "box": [x0, y0, x1, y1] or null, "mask": {"size": [H, W], "counts": [...]}}],
     "protected_frames": [3, 4],
     "painted": [{"frame": 3, "labels": {"size": [H, W], "values": [...], "counts": [...]}}],
     "tracks": [{"id": 4, "start": 8, "end": null, "parent": 1}]}

``painted`` holds the labels of the frames painted by hand (run-length encoded label images),
so that a saved session brings back what the user painted, not only which frames.
``tracks`` (optional: absent in sessions without divisions) is the lineage
(:class:`napari_sam2.lineage.Lineage`): each object's first and last frame and its parent.
Coordinates are (x, y) pixels of the frame, as the engine's predictors take them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_sam2 import _session_values as values
from napari_sam2.lineage.model import Lineage, LineageError
from sam2_engine.constants import DEFAULT_MODEL

FORMAT_NAME = "napari-sam2-session"
FORMAT_VERSION = 1


class SessionError(ValueError):
    """A session file or prompt structure is malformed, or does not fit the image."""


# ---------------------------------------------------------------------- masks as RLE
def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Run-length encode a 2-D boolean mask (row-major; counts start with a run of False)."""
    flat = np.asarray(mask, dtype=bool).ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": list(np.shape(mask)), "counts": counts}


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_mask` (sizes and run lengths checked before anything is
    allocated)."""
    try:
        height, width, counts = values.rle_counts(rle, "a mask")
    except values.ValueRuleError as err:
        raise SessionError(str(err)) from None
    runs = np.arange(len(counts)) % 2 == 1
    return np.repeat(runs, counts).reshape(height, width)


def encode_labels(labels: np.ndarray) -> dict[str, Any]:
    """Run-length encode a 2-D label image (row-major runs of one value)."""
    flat = np.asarray(labels).ravel()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1]) if flat.size else []
    bounds = np.concatenate([starts, [flat.size]])
    return {
        "size": list(np.shape(labels)),
        "values": [int(v) for v in flat[np.asarray(starts, int)]],
        "counts": np.diff(bounds).astype(int).tolist(),
    }


def decode_labels(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_labels` (checked before anything is allocated), as uint32."""
    try:
        height, width, labels, counts = values.rle_labels(rle, "painted labels")
    except values.ValueRuleError as err:
        raise SessionError(str(err)) from None
    return np.repeat(np.asarray(labels, np.uint32), counts).reshape(height, width)


# ---------------------------------------------------------------------- data classes
@dataclass
class SessionObject:
    """An object: its id is the label value in the Labels layer."""

    id: int
    name: str = ""
    color: str | None = None


@dataclass
class FramePrompt:
    """The prompts of one object on one frame (a box, clicks, or a mask).

    ``points`` are (x, y) pixels, ``labels`` 1 positive / 0 negative, ``box`` x0, y0, x1, y1.
    A mask prompt replaces clicks and box on that frame.
    """

    frame: int
    object: int
    points: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: list[float] | None = None
    mask: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return not self.points and self.box is None and self.mask is None

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "object": self.object,
            "points": [[float(x), float(y)] for x, y in self.points],
            "labels": [int(v) for v in self.labels],
            "box": None if self.box is None else [float(v) for v in self.box],
            "mask": None if self.mask is None else encode_mask(self.mask),
        }


@dataclass
class Session:
    """A tracking session; see the module docstring for the file format."""

    source: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=lambda: {"name": DEFAULT_MODEL})
    settings: dict[str, Any] = field(default_factory=dict)
    objects: list[SessionObject] = field(default_factory=list)
    prompts: list[FramePrompt] = field(default_factory=list)
    protected_frames: list[int] = field(default_factory=list)
    #: frame -> the (H, W) labels painted by hand there (the protected frames' pixels)
    painted: dict[int, np.ndarray] = field(default_factory=dict)
    #: the objects' tracks: first and last frames, parents (divisions)
    lineage: Lineage = field(default_factory=Lineage)

    @property
    def object_ids(self) -> list[int]:
        return [obj.id for obj in self.objects]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "source": self.source,
            "model": self.model,
            "settings": self.settings,
            "objects": [asdict(obj) for obj in self.objects],
            "prompts": [p.to_json() for p in self.prompts],
            "protected_frames": sorted(int(f) for f in self.protected_frames),
            "painted": [
                {"frame": int(f), "labels": encode_labels(self.painted[f])}
                for f in sorted(self.painted)
            ],
            **({"tracks": self.lineage.to_json()} if len(self.lineage) else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        """Parse and validate; raises :class:`SessionError` saying what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise SessionError(f"not a napari-sam2 session (expected format {FORMAT_NAME!r})")
        if data.get("version") != FORMAT_VERSION:
            raise SessionError(
                f"session format version {data.get('version')!r} is not supported "
                f"(this napari-sam2 reads version {FORMAT_VERSION})"
            )
        try:
            objects = [_object_from_json(o) for o in _listed(data, "objects")]
            prompts = [_prompt_from_json(p) for p in _listed(data, "prompts")]
            protected = [
                values.whole(f, "a protected frame") for f in _listed(data, "protected_frames")
            ]
            parts = {name: _mapping(data, name) for name in ("source", "model", "settings")}
            painted = dict(_painted_from_json(p) for p in _listed(data, "painted"))
            lineage = Lineage.from_json(_listed(data, "tracks"))
        except (values.ValueRuleError, LineageError) as err:
            raise SessionError(f"malformed session: {err}") from None
        session = cls(
            source=parts["source"],
            model=parts["model"] or {"name": DEFAULT_MODEL},
            settings=parts["settings"],
            objects=objects,
            prompts=prompts,
            protected_frames=protected,
            painted=painted,
            lineage=lineage,
        )
        session.validate()
        return session

    def validate(self, num_frames: int | None = None, frame_shape=None) -> None:
        """Check ids, labels and (when given) that frames and coordinates fit the image."""
        ids = self.object_ids
        if len(set(ids)) != len(ids):
            raise SessionError(f"object ids must be unique, got {ids}")
        if any(i <= 0 for i in ids):
            raise SessionError(f"object ids must be positive (they are label values), got {ids}")
        known = set(ids)
        for p in self.prompts:
            where = f"prompt for object {p.object} on frame {p.frame}"
            if p.object not in known:
                raise SessionError(f"{where}: object {p.object} is not in the objects list {ids}")
            if p.frame < 0 or (num_frames is not None and p.frame >= num_frames):
                limit = "" if num_frames is None else f" (the image has frames 0..{num_frames - 1})"
                raise SessionError(f"{where}: frame {p.frame} does not exist{limit}")
            if len(p.points) != len(p.labels):
                raise SessionError(f"{where}: {len(p.points)} points but {len(p.labels)} labels")
            if any(v not in (0, 1) for v in p.labels):
                raise SessionError(f"{where}: labels must be 1 (positive) or 0 (negative)")
            if p.box is not None and len(p.box) != 4:
                raise SessionError(f"{where}: a box is [x0, y0, x1, y1], got {p.box}")
            if p.is_empty:
                raise SessionError(f"{where}: no points, box or mask")
            if frame_shape is not None:
                _check_prompt_inside(p, frame_shape, where)
        self._validate_lineage(known, num_frames)

    def _validate_lineage(self, known: set[int], num_frames: int | None) -> None:
        try:
            self.lineage.validate(num_frames)
        except LineageError as err:
            raise SessionError(f"the lineage: {err}") from None
        strangers = [i for i in self.lineage.ids if i not in known]
        if strangers:
            raise SessionError(
                f"track(s) {strangers} of the lineage are not in the objects list {sorted(known)}"
            )

    def check_source(self, num_frames: int, frame_shape: tuple[int, int]) -> None:
        """Raise if the session was made for an image of another size."""
        shape = self.source.get("shape")
        if shape:
            expected = (int(shape[0]), int(shape[-2]), int(shape[-1]))
            found = (num_frames, *frame_shape)
            if expected != found:
                raise SessionError(
                    f"this session was saved for an image of {expected[0]} frames of "
                    f"{expected[1]} x {expected[2]}, but the image has {found[0]} frames of "
                    f"{found[1]} x {found[2]}: open the image it was made for "
                    f"({self.source.get('path') or self.source.get('layer') or 'unknown'})"
                )
        self.validate(num_frames, frame_shape)


def _listed(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise values.ValueRuleError(f"{key} must be a list, got {type(value).__name__}")
    return value


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise values.ValueRuleError(f"{key} must be an object, got {type(value).__name__}")
    return dict(value)


def _painted_from_json(p: Any) -> tuple[int, np.ndarray]:
    if not isinstance(p, dict) or "frame" not in p or "labels" not in p:
        raise values.ValueRuleError(f"painted labels must be {{'frame', 'labels'}}, got {p!r}")
    return values.whole(p["frame"], "a painted frame"), decode_labels(p["labels"])


def _object_from_json(o: Any) -> SessionObject:
    if not isinstance(o, dict) or "id" not in o:
        raise values.ValueRuleError(f"an object must be {{'id': N, 'name': ...}}, got {o!r}")
    color = o.get("color")
    if color is not None and not isinstance(color, str):
        raise values.ValueRuleError(f"object {o['id']!r}: a colour is a '#rrggbb' string")
    return SessionObject(values.whole(o["id"], "an object id", 1), str(o.get("name", "")), color)


def _prompt_from_json(p: Any) -> FramePrompt:
    if not isinstance(p, dict) or "frame" not in p or "object" not in p:
        raise values.ValueRuleError(f"a prompt must have a frame and an object, got {p!r}")
    where = f"the prompt on frame {p['frame']!r} for object {p['object']!r}"
    clicks = values.points(p.get("points"), f"{where}: points")
    mask = p.get("mask")
    return FramePrompt(
        frame=values.whole(p["frame"], f"{where}: the frame"),
        object=values.whole(p["object"], f"{where}: the object id", 1),
        points=clicks,
        labels=values.labels(p.get("labels") or [], len(clicks), f"{where}: labels"),
        box=values.box(p.get("box"), f"{where}: the box"),
        mask=None if mask is None else decode_mask(mask),
    )


def _check_prompt_inside(p: FramePrompt, frame_shape, where: str) -> None:
    height, width = frame_shape
    coords = list(p.points)
    if p.box is not None:
        coords += [p.box[:2], p.box[2:]]
    for x, y in coords:
        if not (0 <= x <= width and 0 <= y <= height):
            raise SessionError(f"{where}: ({x:g}, {y:g}) lies outside the {width} x {height} frame")
    if p.mask is not None and p.mask.shape != (height, width):
        raise SessionError(f"{where}: mask is {p.mask.shape}, the frames are {(height, width)}")


# ---------------------------------------------------------------------- files
def save_session(session: Session, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write a session as JSON, atomically; an existing file is replaced only if it is a
    napari-sam2 session (or another output napari-sam2 wrote), never any other file."""
    from sam2_engine.publish import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(session.to_json(), indent=1)
    return write_atomic(path, text, overwrite=overwrite, recognise=_is_session_file)


def _is_session_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT_NAME


def load_session(path: str | os.PathLike) -> Session:
    """Read and validate a session file."""
    path = Path(path)
    if path.is_dir():
        raise SessionError(f"{path} is a folder, not a session file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SessionError(f"session file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SessionError(f"{path} is not a session file (not valid JSON: {err})") from None
    except RecursionError:
        raise SessionError(f"{path} is not a session file (nested too deeply)") from None
    try:
        return Session.from_json(data)
    except SessionError as err:
        raise SessionError(f"{path}: {err}") from None


# ---------------------------------------------------------------------- plain prompts
def session_from_prompts(prompts: dict, model: str = DEFAULT_MODEL) -> Session:
    """Build a session from the plain structure scripts use.

    ``prompts`` maps object id -> frame -> prompt, where a prompt is a dict with any of
    ``points`` ((N, 2) xy), ``labels`` ((N,), default all 1), ``box`` (x0, y0, x1, y1) and
    ``mask`` ((H, W) bool)::

        {1: {0: {"points": [[120, 80]]}}, 2: {5: {"box": [10, 10, 60, 40]}}}
    """
    if isinstance(prompts, Session):
        return prompts
    if not isinstance(prompts, dict) or not prompts:
        raise SessionError(
            "prompts must be a non-empty dict: object id -> frame -> "
            "{'points': [[x, y], ...], 'labels': [...], 'box': [x0, y0, x1, y1], 'mask': HxW}"
        )
    session = Session(model={"name": model})
    try:
        for obj_id, per_frame in prompts.items():
            obj = values.key(obj_id, "an object id", 1)
            session.objects.append(SessionObject(obj, f"object {obj}"))
            if not isinstance(per_frame, dict) or not per_frame:
                raise values.ValueRuleError(
                    f"object {obj_id}: expected a dict frame -> prompt, got {per_frame!r}"
                )
            for frame, spec in per_frame.items():
                session.prompts.append(_plain_prompt(obj, frame, spec))
    except values.ValueRuleError as err:
        raise SessionError(str(err)) from None
    session.validate()
    return session


def _plain_prompt(obj: int, frame: Any, spec: Any) -> FramePrompt:
    where = f"object {obj}, frame {frame!r}"
    if not isinstance(spec, dict):
        raise values.ValueRuleError(f"{where}: a prompt is a dict")
    unknown = set(spec) - {"points", "labels", "box", "mask"}
    if unknown:
        raise values.ValueRuleError(
            f"{where}: unknown keys {sorted(unknown)} (use points, labels, box, mask)"
        )
    clicks = values.points(spec.get("points"), f"{where}: points")
    return FramePrompt(
        frame=values.key(frame, f"{where}: the frame"),
        object=obj,
        points=clicks,
        labels=values.labels(spec.get("labels"), len(clicks), f"{where}: labels"),
        box=values.box(spec.get("box"), f"{where}: the box"),
        mask=values.mask(spec.get("mask"), f"{where}: the mask"),
    )


def apply_prompts(session: Session, predictor, state) -> None:
    """Replay a session's prompts, in order, into an engine ``VideoPredictor`` state."""
    session.check_source(state.num_frames, (state.video_height, state.video_width))
    for p in session.prompts:
        if p.mask is not None:
            predictor.add_new_mask(state, p.frame, p.object, p.mask, all_objects=False)
            continue
        predictor.add_new_points_or_box(
            state,
            frame_idx=p.frame,
            obj_id=p.object,
            points=p.points or None,
            labels=p.labels or None,
            box=p.box,
            all_objects=False,
        )
