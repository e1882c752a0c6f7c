"""Building SAM 2 models: from official checkpoint files, or randomly initialised."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoint import apply_state_dict, read_checkpoint, save_checkpoint
from .configs import Sam2Config, get_config
from .devices import resolve_device
from .modeling.sam2_model import Sam2Model
from .resources import check_memory, estimate_model_bytes, model_memory_hint
from .weights import ensure_checkpoint

#: The bias of the decoder's object-score head; see :func:`build_model`.
OBJECT_SCORE_BIAS_KEY = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"


def _config(name_or_config: str | Sam2Config) -> Sam2Config:
    if isinstance(name_or_config, Sam2Config):
        return name_or_config
    if not isinstance(name_or_config, str):
        raise TypeError(
            f"name_or_config must be a model name such as 'sam2.1_hiera_tiny' or a Sam2Config, "
            f"got {type(name_or_config).__name__}"
        )
    return get_config(name_or_config)


def _check_memory(config: Sam2Config, device: torch.device) -> None:
    """Refuse a model whose estimated memory for one frame exceeds what ``device`` has."""
    check_memory(
        estimate_model_bytes(config),
        device,
        f"Model {config.name!r} at image_size={config.image_size}",
        model_memory_hint(config),
    )


def load_model(
    name_or_config: str | Sam2Config = "sam2.1_hiera_tiny",
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    *,
    allow_download: bool = False,
    progress: bool = True,
) -> Sam2Model:
    """A SAM 2 model with official weights, in eval mode, on ``device``.

    Args:
        name_or_config: one of :data:`sam2_engine.MODEL_NAMES` (e.g. ``"sam2.1_hiera_tiny"``)
            or a :class:`Sam2Config`.
        checkpoint: path to an official ``.pt`` file (``{"model": state_dict}``). ``None``
            takes the file from the cache, downloading it first only if ``allow_download``.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
        allow_download: permit a network download when the checkpoint is not cached.
        progress: show a progress bar while downloading.

    Raises:
        ValueError: unknown model name or device.
        ModelNotFoundError / DownloadError: no checkpoint on disk and none could be fetched.
        CheckpointError: the file is missing, not a checkpoint or truncated.
        CheckpointMismatchError: the file is for another model (lists the differing keys).
        InsufficientMemoryError: the model at its ``image_size`` needs more memory than
            ``device`` has (an up-front estimate, see ``sam2_engine.resources``).
    """
    config = _config(name_or_config)
    target = resolve_device(device)
    _check_memory(config, target)
    if checkpoint is None:
        checkpoint = ensure_checkpoint(
            config.name, allow_download=allow_download, progress=progress
        )
    state_dict = read_checkpoint(checkpoint)
    # weights are about to be replaced: build without spending time on random init
    with torch.device("meta"):
        model = Sam2Model(config)
    apply_state_dict(model, state_dict, config.name, str(checkpoint), assign=True)
    return model.to(target).eval()


def build_model(
    name_or_config: str | Sam2Config = "sam2.1_hiera_tiny",
    *,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    object_score_bias: float = 0.0,
) -> Sam2Model:
    """A randomly initialised model (tests, benchmarks, examples that need no download).

    Args:
        seed: torch seed for a reproducible init (``None``: leave the global RNG alone).
        object_score_bias: added to the decoder's object-score bias. Random weights judge
            every object absent on video frames; ``2.0`` makes them present, so the video
            path is exercised.
    """
    config = _config(name_or_config)
    target = resolve_device(device)
    _check_memory(config, target)
    if seed is not None:
        torch.manual_seed(seed)
    model = Sam2Model(config)
    if object_score_bias:
        with torch.no_grad():
            model.state_dict()[OBJECT_SCORE_BIAS_KEY].add_(object_score_bias)
    return model.to(target).eval()


def save_random_checkpoint(
    path: str | os.PathLike, name_or_config: str | Sam2Config = "sam2.1_hiera_tiny", **kwargs
) -> Path:
    """Build a random model (see :func:`build_model`) and save it in the official format."""
    return save_checkpoint(build_model(name_or_config, **kwargs), path)
