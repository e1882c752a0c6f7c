"""Predictor options: one typed, checked object from every user surface to the predictors.

The command line's flags, the dock's controls, the scripted API's keyword arguments, a batch
job file and a saved session all become one :class:`PredictorOptions`; the tracking pipeline
loads the model with its ``device`` and ``image_size`` and builds predictors with
:meth:`PredictorOptions.predictor_kwargs`. Its JSON form (:meth:`~PredictorOptions.to_json`)
is what sessions record, so a session replays with the options it was made with. No torch here.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PRECISIONS = ("fp32", "bf16", "fp16")
_PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
#: The smallest memory window of the official models (``num_maskmem``).
MIN_FRAMES_IN_MEMORY = 7


class OptionsError(ValueError):
    """An option has a value it cannot take; the message names the option and the rule."""


@dataclass(frozen=True)
class PredictorOptions:
    """How the model runs and how the predictors track.

    Attributes:
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        image_size: the model's input side, a multiple of 32 (None: the model's own, 1024).
            Smaller is much faster and less accurate.
        precision: ``fp32`` (exact, default), ``bf16`` or ``fp16`` (GPUs).
        fill_hole_area: fill background holes up to this many low-resolution pixels (0: off).
        non_overlap_masks: where objects overlap, keep only the highest-scoring one.
        add_all_frames_to_correct_as_cond: a correction on a tracked frame becomes a
            conditioning frame (kept by the next propagation); False is the official default.
        clear_non_cond_mem_around_input: forget propagated memories near a prompted frame.
        max_cond_frames_in_attn: conditioning frames a frame attends to (-1: all).
        max_frames_in_memory: propagated outputs per object kept in memory (older ones are
            spilled to a temporary folder; None keeps all in memory).
        feature_cache_bytes: budget of the per-video image feature cache.
        object_batch_bytes: working memory of one batch of objects tracked together on a
            frame; more objects run in several batches, one object always runs (0: one
            object at a time). About 150 MB per object at a full memory bank of a 1024
            model; larger batches pay on GPUs.
    """

    device: str = "auto"
    image_size: int | None = None
    precision: str = "fp32"
    fill_hole_area: int = 8
    non_overlap_masks: bool = False
    add_all_frames_to_correct_as_cond: bool = True
    clear_non_cond_mem_around_input: bool = False
    max_cond_frames_in_attn: int = -1
    max_frames_in_memory: int | None = 32
    feature_cache_bytes: int = 256 * 2**20
    object_batch_bytes: int = 2**30

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once
        set_(self, "device", _device(self.device))
        set_(self, "precision", _precision(self.precision))
        set_(self, "image_size", _image_size(self.image_size))
        set_(self, "fill_hole_area", _whole("fill_hole_area", self.fill_hole_area, low=0))
        for name in (
            "non_overlap_masks",
            "add_all_frames_to_correct_as_cond",
            "clear_non_cond_mem_around_input",
        ):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name} must be true or false, got {getattr(self, name)!r}")
        attn = _whole("max_cond_frames_in_attn", self.max_cond_frames_in_attn, low=-1)
        if attn in (0, 1):
            raise OptionsError("max_cond_frames_in_attn must be -1 (all) or at least 2")
        set_(self, "max_cond_frames_in_attn", attn)
        if self.max_frames_in_memory is not None:
            set_(
                self,
                "max_frames_in_memory",
                _whole("max_frames_in_memory", self.max_frames_in_memory, MIN_FRAMES_IN_MEMORY),
            )
        set_(self, "feature_cache_bytes", _whole("feature_cache_bytes", self.feature_cache_bytes))
        set_(self, "object_batch_bytes", _whole("object_batch_bytes", self.object_batch_bytes))

    # ------------------------------------------------------------------ conversions
    def predictor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``VideoPredictor`` (everything but device and image size)."""
        values = asdict(self)
        values.pop("device")
        values.pop("image_size")
        return values

    def to_json(self) -> dict[str, Any]:
        """Plain values, as sessions and job files record them."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, *, ignore_unknown: bool = False) -> PredictorOptions:
        """Options from their JSON form; missing ones take their defaults.

        Arguments:
            data: a dict of option names to values.
            ignore_unknown: skip other keys (a session's settings hold more than options).

        Raises:
            OptionsError: not a dict, an unknown option (unless ignored) or a bad value.
        """
        if not isinstance(data, dict):
            raise OptionsError(f"options must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown and not ignore_unknown:
            raise OptionsError(f"unknown options {unknown} (known: {', '.join(sorted(names))})")
        return cls(**{k: v for k, v in data.items() if k in names})

    def updated(self, **changes: Any) -> PredictorOptions:
        """A copy with ``changes`` (None values are ignored), checked.

        Raises:
            OptionsError: an unknown option name or a bad value.
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise OptionsError(f"unknown options {unknown} (known: {', '.join(sorted(names))})")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def option_names() -> list[str]:
    """The names of every predictor option."""
    return [f.name for f in fields(PredictorOptions)]


def _whole(name: str, value: Any, low: int = 0) -> int:
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise OptionsError(f"{name} must be a whole number >= {low}, got {value!r}")
    try:
        number = operator.index(value) if not isinstance(value, float) else int(value)
    except TypeError:
        raise OptionsError(f"{name} must be a whole number >= {low}, got {value!r}") from None
    if number < low:
        raise OptionsError(f"{name} must be a whole number >= {low}, got {value!r}")
    return number


def _image_size(value: Any) -> int | None:
    if value is None:
        return None
    size = _whole("image_size", value, low=64)
    if size % 32:
        raise OptionsError(
            f"image_size must be a multiple of 32, at least 64 (the official models use "
            f"1024), got {value!r}"
        )
    return size


def _precision(value: Any) -> str:
    name = str(value).strip().lower()
    name = _PRECISION_ALIASES.get(name, name)
    if name not in PRECISIONS:
        raise OptionsError(
            f"precision must be one of {', '.join(PRECISIONS)} (fp32 is exact; bf16 and fp16 "
            f"are faster where the hardware has them), got {value!r}"
        )
    return name


def _device(value: Any) -> str:
    if not isinstance(value, str):
        value = str(value)  # a torch.device
    name = value.strip().lower()
    kind, colon, index = name.partition(":")
    if kind not in _DEVICE_KINDS or (colon and (kind not in ("cuda",) or not index.isdigit())):
        raise OptionsError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    return name
