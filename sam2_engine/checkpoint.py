"""Reading, identifying, applying and writing SAM 2 checkpoint files.

Pure functions, no network. The official checkpoint format is a ``torch.save``-d dict
``{"model": state_dict}``; files are always read with ``weights_only=True`` (no arbitrary code
runs while loading) and mapped to the CPU.

Typical use (inside ``load_model``)::

    state_dict = read_checkpoint(path)
    apply_state_dict(model, state_dict, model_name, source=str(path))
"""

from __future__ import annotations

import os
import re
import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .configs import PRESETS
from .errors import CheckpointError, CheckpointMismatchError

__all__ = [
    "apply_state_dict",
    "check_finite",
    "identify_model",
    "read_checkpoint",
    "save_checkpoint",
]

#: How many entries of each list a mismatch message shows before summarising the rest.
MAX_LISTED = 20

_PATCH_EMBED = "image_encoder.trunk.patch_embed.proj.weight"
_POS_EMBED = "image_encoder.trunk.pos_embed"
_SAM21_ONLY = "obj_ptr_tpos_proj.weight"
_TRUNK_BLOCK = re.compile(r"^image_encoder\.trunk\.blocks\.(\d+)\.")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """Load the state dict stored in a checkpoint file.

    Accepts the official format (a dict with key ``"model"`` holding the state dict) and, for
    convenience, a bare state dict (a dict whose values are all tensors).

    Args:
        path: the ``.pt`` file.

    Returns:
        The state dict, every tensor on the CPU.

    Raises:
        CheckpointError: the file is missing or unreadable, is not a PyTorch file (corrupt,
            truncated, an HTML error page, a Git LFS pointer), is an old pickle format or holds
            objects other than tensors (refused for safety; the message says how to convert
            it), has neither a ``"model"`` key nor only tensor values, or holds NaN or infinite
            weights (the message names the tensors).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file not found: {path}. Check the path.")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint path is not a file: {path}.")
    try:
        with warnings.catch_warnings():  # torch's note on a pickle protocol of a refused file
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise CheckpointError(f"Cannot read checkpoint {path}: permission denied.") from exc
    except Exception as exc:  # torch raises many kinds for bad files; all mean the same here
        raise CheckpointError(_load_failure_message(path, exc)) from exc
    state_dict = _extract_state_dict(data, path)
    check_finite(state_dict, str(path))
    return state_dict


#: How ``torch.save`` began files before PyTorch 1.6: a pickled magic number.
_LEGACY_TORCH_HEAD = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#: First bytes of a pickle stream (protocol 2 and later start with PROTO).
_PICKLE_HEADS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def convert_command(path: str | os.PathLike, *, raw_pickle: bool = False) -> str:
    """A one-line shell command that re-saves an old-format checkpoint ``path`` as
    ``<stem>_weights.pt`` in the official format (tensors only). It unpickles the file, which
    can run code: for files from a trusted source only (also in ``docs/errors.md``)."""
    path = Path(path)
    new = path.with_name(f"{path.stem}_weights.pt")
    if raw_pickle:
        body = (
            f"import pickle, torch; d = pickle.load(open({str(path)!r}, 'rb')); "
            "d = d.get('model', d); "
            f"torch.save({{'model': {{k: torch.as_tensor(v) for k, v in d.items()}}}}, "
            f"{str(new)!r})"
        )
    else:
        body = (
            f"import torch; d = torch.load({str(path)!r}, weights_only=False); "
            f"torch.save({{'model': d.get('model', d)}}, {str(new)!r})"
        )
    return f'python -c "{body}"'


def _load_failure_message(path: Path, exc: Exception) -> str:
    """Explain why ``torch.load`` failed on ``path`` and what to do."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(64)
    detail = str(exc).strip().splitlines()[0].split(". ")[0][:150] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    refused = "weights only" in str(exc).lower()
    again = " Delete it and download or copy it again."
    if size == 0:
        what = "The file is empty (an interrupted download or copy?)." + again
    elif head.startswith(b"version https://git-lfs"):
        what = (
            "The file is a Git LFS pointer, not the weights: fetch it with `git lfs pull`, or "
            "download or copy it again."
        )
    elif head.lstrip().startswith(b"<"):
        what = (
            "The file looks like an HTML/XML page (an error page saved instead of weights?)."
            + again
        )
    elif head.startswith(b"PK\x03\x04") and refused:
        what = (
            "It is a PyTorch file, but it holds Python objects other than tensors, which are "
            "refused for safety (weights_only=True: unpickling them could run code). If it "
            f"comes from a source you trust, re-save only the weights once: {convert_command(path)}"
        )
    elif head.startswith(_LEGACY_TORCH_HEAD) and refused:
        what = (
            "It is in PyTorch's old (pre-1.6) pickle format and holds Python objects other than "
            "tensors, which are refused for safety (weights_only=True: unpickling them could "
            "run code). It is not necessarily corrupt. If it comes from a source you trust, "
            f"convert it once: {convert_command(path)}"
        )
    elif head.startswith(_PICKLE_HEADS) and refused:
        what = (
            "It is a raw Python pickle (written with pickle.dump, not torch.save), an old "
            "format that is refused for safety (weights_only=True: unpickling it could run "
            "code). It is not necessarily corrupt. If it comes from a source you trust, "
            f"convert it once: {convert_command(path, raw_pickle=True)}"
        )
    elif head.startswith(b"PK\x03\x04"):
        what = (
            f"It is an incomplete PyTorch file ({size} bytes; {detail or 'unreadable'}): the "
            "file is corrupt or truncated (an interrupted download or copy?)." + again
        )
    else:
        what = (
            f"It is not a valid PyTorch checkpoint ({size} bytes): the file is corrupt or "
            "truncated (an interrupted download or copy?)." + again
        )
    return f"Cannot load checkpoint {path}. {what} [{reason}]"


def check_finite(state_dict: Mapping[str, Tensor], source: str) -> None:
    """Refuse a state dict whose floating-point tensors hold NaN or infinite values.

    A model with such weights runs, but gives NaN logits that become empty masks everywhere
    (a diverged training run, or a damaged file). Raises :class:`CheckpointError` naming the
    tensors and how many bad values each holds.
    """
    bad = []
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() or tensor.is_complex():
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                count = int(finite.numel() - finite.sum())
                bad.append(f"{key} ({count} of {tensor.numel()} values)")
    if bad:
        raise CheckpointError(
            f"Checkpoint {source} holds NaN or infinite weights in {len(bad)} tensor(s): "
            f"{_format_list(bad)}. A model with them gives empty masks everywhere. The file "
            "is damaged or comes from a diverged training run: download or copy it again, "
            "or use another checkpoint."
        )


def _extract_state_dict(data: object, path: Path) -> dict[str, Tensor]:
    """The state dict inside what ``torch.load`` returned, validated."""
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"Checkpoint {path} holds a {type(data).__name__}, not a dict: expected "
            "{'model': state_dict} as written by the official SAM 2 training code."
        )
    if "model" in data:
        state_dict = data["model"]
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(
                f"Checkpoint {path}: the value under 'model' is a {type(state_dict).__name__}, "
                "not a state dict."
            )
    elif data and all(isinstance(v, Tensor) for v in data.values()):
        state_dict = data  # a bare state dict
    else:
        keys = ", ".join(repr(k) for k in list(data)[:MAX_LISTED]) or "none"
        raise CheckpointError(
            f"Checkpoint {path} has no 'model' key (keys found: {keys}). Expected the official "
            "format {'model': state_dict} or a bare state dict of tensors."
        )
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"Checkpoint {path}: {len(not_tensors)} state-dict entries are not tensors "
            f"({_format_list(not_tensors)})."
        )
    return dict(state_dict)


def identify_model(state_dict: Mapping[str, Tensor]) -> str | None:
    """Which of the eight official presets a state dict fits, judged from a few keys.

    Looks at the patch-embedding width (``image_encoder.trunk.patch_embed.proj.weight``), the
    number of trunk blocks, the background position-embedding grid
    (``image_encoder.trunk.pos_embed``), and ``obj_ptr_tpos_proj.weight``, which only SAM 2.1
    checkpoints have. Works on ``meta`` tensors (only shapes are read). A dict wrapped as
    ``{"model": state_dict}`` is unwrapped.

    Returns:
        The preset name, e.g. ``"sam2.1_hiera_small"``, or ``None`` if no preset fits.
    """
    if isinstance(state_dict.get("model"), Mapping):
        state_dict = state_dict["model"]
    patch = state_dict.get(_PATCH_EMBED)
    pos = state_dict.get(_POS_EMBED)
    if patch is None or pos is None or patch.ndim != 4 or pos.ndim != 4:
        return None
    embed_dim = patch.shape[0]
    pos_grid = tuple(pos.shape[-2:])
    blocks = {int(m.group(1)) for k in state_dict if (m := _TRUNK_BLOCK.match(k))}
    version = "2.1" if _SAM21_ONLY in state_dict else "2.0"
    for name, config in PRESETS.items():
        hiera = config.hiera
        if (
            config.version == version
            and hiera.embed_dim == embed_dim
            and sum(hiera.blocks_per_stage) == len(blocks)
            and tuple(hiera.pos_embed_background_size) == pos_grid
        ):
            return name
    return None


def apply_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    model_name: str,
    source: str,
    *,
    assign: bool = False,
) -> None:
    """Load ``state_dict`` into ``model`` strictly, or change nothing and explain why.

    Every key and shape is checked before anything is copied, so a failed call leaves the
    model exactly as it was.

    Args:
        model: the module to fill.
        state_dict: tensors by parameter/buffer name, e.g. from :func:`read_checkpoint`.
        model_name: the preset (or free-text name) ``model`` was built as; used in messages.
        source: where the state dict came from (usually the file path); used in messages.
        assign: passed to :meth:`torch.nn.Module.load_state_dict` (use ``True`` for a model
            built on the ``meta`` device).

    Raises:
        CheckpointMismatchError: one error listing all missing, unexpected and wrong-shape
            keys, which preset the checkpoint seems to be, and how to fix the call.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        (k, tuple(expected[k].shape), tuple(v.shape))
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        identified = identify_model(state_dict)
        raise CheckpointMismatchError(
            _mismatch_message(model_name, source, missing, unexpected, mismatched, identified),
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
            source=source,
            identified=identified,
        )
    state_dict = _to_model_dtypes(state_dict, expected, source)
    model.load_state_dict(state_dict, strict=True, assign=assign)


def _to_model_dtypes(
    state_dict: Mapping[str, Tensor], expected: Mapping[str, Tensor], source: str
) -> dict[str, Tensor]:
    """``state_dict`` with floating-point tensors cast to the model's dtypes.

    A half-precision (fp16 / bf16) or float64 checkpoint loads into the float32 model, exactly
    as its values are (float64 rounded to float32); without the cast, ``assign=True`` would keep
    the file's dtype and the first frame would fail deep in torch ("Input type (float) and bias
    type (c10::Half) should be the same"). Any other dtype difference (an integer or complex
    tensor where the model has floats) raises :class:`CheckpointError` naming the tensors.
    """
    converted, wrong = {}, []
    for key, tensor in state_dict.items():
        want = expected[key].dtype
        if tensor.dtype == want:
            converted[key] = tensor
        elif tensor.is_floating_point() and want.is_floating_point:
            converted[key] = tensor.to(want)
        else:
            wrong.append(f"{key}: {tensor.dtype}, expected {want}")
    if wrong:
        raise CheckpointError(
            f"Checkpoint {source} has tensors of an unusable dtype ({len(wrong)}): "
            f"{_format_list(wrong)}. Floating-point weights of any precision are accepted; "
            "these are not. Nothing was loaded."
        )
    narrowed = {
        k: v for k, v in converted.items() if v is not state_dict[k] and state_dict[k].itemsize > 4
    }
    check_finite(narrowed, f"{source} (after rounding float64 to float32)")
    return converted


def _mismatch_message(
    model_name: str,
    source: str,
    missing: list[str],
    unexpected: list[str],
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    identified: str | None,
) -> str:
    """The user-facing text of a :class:`CheckpointMismatchError`."""
    lines = [f"Checkpoint {source} does not fit model {model_name!r}; nothing was loaded."]
    if missing:
        lines.append(f"Missing keys ({len(missing)}): {_format_list(missing)}")
    if unexpected:
        lines.append(f"Unexpected keys ({len(unexpected)}): {_format_list(unexpected)}")
    if mismatched:
        shapes = [f"{k}: expected {list(want)}, found {list(got)}" for k, want, got in mismatched]
        lines.append(f"Wrong shapes ({len(mismatched)}): {_format_list(shapes)}")
    if identified is not None and identified != model_name:
        lines.append(
            f"The file looks like a {identified!r} checkpoint: pass model={identified!r}, "
            f"or use the {model_name!r} checkpoint file."
        )
    elif identified is None:
        lines.append(
            "The file matches none of the official models: it may be a checkpoint of another "
            "architecture, or a modified model whose config must be passed explicitly."
        )
    else:
        lines.append(
            "The file looks like this model but differs in detail: it may come from another "
            "implementation or a modified model."
        )
    return "\n".join(lines)


def _format_list(items: list[str]) -> str:
    """Comma-separated, at most :data:`MAX_LISTED` entries, then a count of the rest."""
    shown = ", ".join(items[:MAX_LISTED])
    rest = len(items) - MAX_LISTED
    return f"{shown}, ... and {rest} more" if rest > 0 else shown


def save_checkpoint(
    model_or_state_dict: nn.Module | Mapping[str, Tensor], path: str | os.PathLike
) -> Path:
    """Write a checkpoint in the official format ``{"model": state_dict}``, atomically.

    The data go to a temporary file in the same directory, which then replaces ``path`` in one
    step: a crash never leaves a half-written file under the final name. A mapping that is
    already ``{"model": state_dict}`` is written as it is.

    Args:
        model_or_state_dict: a module (its ``state_dict()`` is saved) or a state dict.
        path: the destination file; missing parent directories are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if isinstance(model_or_state_dict, nn.Module):
        payload = {"model": model_or_state_dict.state_dict()}
    elif isinstance(model_or_state_dict.get("model"), Mapping):
        payload = dict(model_or_state_dict)
    else:
        payload = {"model": dict(model_or_state_dict)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "xb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def temp_path_beside(path: Path) -> Path:
    """A fresh hidden temporary name in ``path``'s directory (so ``os.replace`` is atomic).

    Unique per process and call; created with ``open(..., "xb")`` it gets the usual permissions
    (unlike :func:`tempfile.mkstemp`, which makes files readable by the owner only).
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
