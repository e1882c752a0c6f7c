"""The one model cache of the process: which model, from which file, on which device.

The scripted API, batch workers and the dock's engine all load models here, so a model is
loaded once per (model, checkpoint file, device, input size) and every output records the same
facts about it (:func:`model_info`: software, model, input size, checkpoint name and SHA-256).
Importing this module is free: torch loads with the first model.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sam2_engine.constants import DEFAULT_MODEL, software
from sam2_engine.options import OptionsError, PredictorOptions

if TYPE_CHECKING:
    from sam2_engine import Sam2Config
    from sam2_engine.modeling.sam2_model import Sam2Model

#: How many loaded models the process keeps.
MAX_CACHED_MODELS = 2


@dataclass(frozen=True)
class ModelChoice:
    """Which model to run (where and how: :class:`~sam2_engine.options.PredictorOptions`).

    Attributes:
        name: a preset name (``sam2.1_hiera_tiny`` ...), or the label of an injected model.
        checkpoint: a local ``.pt`` file for the preset; None takes it from the cache.
        allow_download: fetch a preset missing from the cache.
        injected: the model was handed over ready-made (tests, scripts), not loaded by name.
    """

    name: str = DEFAULT_MODEL
    checkpoint: str | None = None
    allow_download: bool = False
    injected: bool = False

    def describe(self) -> dict[str, Any]:
        """The session file's ``model`` entry."""
        return {"name": self.name, "checkpoint": self.checkpoint}


@dataclass(frozen=True)
class LoadedModel:
    """A model, the facts outputs record about it, and whether this call loaded it."""

    model: Sam2Model
    info: dict[str, Any]
    loaded_now: bool = False


_models: OrderedDict[tuple, LoadedModel] = OrderedDict()
_lock = threading.Lock()


def model_info(config: Sam2Config, checkpoint: Path | None, sha256: str | None) -> dict[str, Any]:
    """What outputs record about the model: software version, model, input size, checkpoint
    file name and SHA-256."""
    return {
        "software": software(),
        "model": config.name,
        "image_size": config.image_size,
        "checkpoint": None if checkpoint is None else checkpoint.name,
        "checkpoint_sha256": sha256,
    }


def model_config(model: str | Sam2Config, image_size: int | None) -> Sam2Config:
    """The configuration of a model name (or config) at ``image_size`` (None: its own)."""
    from sam2_engine import Sam2Config, get_config

    if isinstance(model, str):
        config = get_config(model)  # ValueError listing the names for an unknown one
    elif isinstance(model, Sam2Config):
        config = model
    else:
        raise TypeError(f"model must be a model name or a Sam2Config, got {type(model).__name__}")
    if image_size is None or image_size == config.image_size:
        return config
    return replace(config, image_size=image_size)


def resolve_checkpoint(
    name: str, checkpoint: str | os.PathLike | None, allow_download: bool, progress: bool = True
) -> Path:
    """The checkpoint file to load: the one given, else the cached one (downloaded first only
    if allowed). Raises ``ModelNotFoundError`` saying how to get it."""
    if checkpoint is not None:
        return Path(checkpoint).expanduser().resolve()
    from sam2_engine.weights import ensure_checkpoint

    return ensure_checkpoint(name, allow_download=allow_download, progress=progress)


def load_model(
    model: str | Sam2Config | Sam2Model = DEFAULT_MODEL,
    options: PredictorOptions | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    allow_download: bool = False,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
) -> LoadedModel:
    """A model from the process cache, loading it (and hashing its checkpoint) when new.

    When ``options.precision`` is bf16 or fp16 but its matrix products are not faster than
    fp32 on the device (measured once per process), that is said through ``warn`` (default: a
    ``sam2_engine.precision.PrecisionWarning``).

    Arguments:
        model: a model name, a ``Sam2Config``, or a loaded model (returned as is).
        options: its ``device`` and ``image_size`` are used.
        checkpoint: an official ``.pt`` file; None takes the cached one.
        allow_download: fetch a missing checkpoint from the official address.
        progress: show the download's progress bar.
        warn: called with the line about reduced precision, if any.

    Raises:
        ValueError: unknown model name, bad options, options given with a loaded model.
        ModelNotFoundError, DownloadError, CheckpointError: see ``sam2_engine.weights``.
    """
    from sam2_engine.modeling.sam2_model import Sam2Model

    options = options or PredictorOptions()
    if isinstance(model, Sam2Model):
        if checkpoint is not None or options.image_size not in (None, model.image_size):
            raise OptionsError(
                "checkpoint and image_size apply to a model name, not a model object"
            )
        _warn_precision(options.precision, model.device, warn)
        with _lock:
            known = next((x for x in _models.values() if x.model is model), None)
        return known or LoadedModel(model, model_info(model.config, None, None))
    from sam2_engine import load_model as build_and_load
    from sam2_engine.devices import resolve_device
    from sam2_engine.weights import file_sha256

    config = model_config(model, options.image_size)
    device = resolve_device(options.device)
    _warn_precision(options.precision, device, warn)
    path = resolve_checkpoint(config.name, checkpoint, allow_download, progress)
    stat = path.stat() if path.is_file() else None
    key = (config, str(path), stat and (stat.st_size, stat.st_mtime_ns), str(device))
    with _lock:  # held while loading: other threads wait, then reuse the model
        if key in _models:
            _models.move_to_end(key)
            return replace(_models[key], loaded_now=False)
        loaded = LoadedModel(
            build_and_load(config, checkpoint=path, device=device),
            model_info(config, path, file_sha256(path)),
            loaded_now=True,
        )
        _models[key] = loaded
        while len(_models) > MAX_CACHED_MODELS:
            _models.popitem(last=False)
        return loaded


def _warn_precision(precision: str, device: Any, warn: Callable[[str], None] | None) -> None:
    """Say so when reduced precision will not pay on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        return
    from sam2_engine.precision import PrecisionWarning, precision_warning

    note = precision_warning(precision, device)
    if note is None:
        return
    if warn is None:
        import warnings

        warnings.warn(note, PrecisionWarning, stacklevel=3)
    else:
        warn(note)


def clear_model_cache() -> None:
    """Forget the loaded models (frees their memory once nothing else holds them)."""
    with _lock:
        _models.clear()
