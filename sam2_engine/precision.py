"""Reduced precision: which dtype a predictor computes in, and a model copy that computes in it.

``precision="bf16"`` (or ``"fp16"`` on GPUs) runs the heavy stages of SAM 2 with weights and
activations in the reduced dtype: the image encoder, the memory attention and the memory
encoder (plus the decoder's two 1x1 projections of the high-resolution maps, applied once per
frame with the encoder). Their matrix products and attention read reduced-precision operands
and accumulate in float32 inside the kernels (oneDNN on CPUs, tensor cores on GPUs); layer-norm
and softmax statistics are taken in float32 by the kernels too. Everything that decides a mask
stays in float32: the prompt encoder, the mask decoder (its mask logits, IoU scores and object
score), the object-pointer projection and the thresholds.

The heavy stages' weights are converted once, into a compute copy of the model
(:func:`compute_model`), instead of on every call as ``torch.autocast`` does; the light stages
of the copy share their float32 weights with the original model. ``fp32`` (the default) uses
the model itself, unchanged.

Whether reduced precision pays depends on the hardware: :func:`matmul_speedup` measures it
once per process and :func:`precision_warning` says so in one line when it does not.
"""

from __future__ import annotations

import functools
import time

import torch

from .devices import resolve_device
from .modeling.sam2_model import Sam2Model

_DTYPES = {
    "fp32": None,
    "float32": None,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}

#: State-dict prefixes of the stages that compute in the reduced dtype.
REDUCED_STAGES = (
    "image_encoder.",
    "memory_attention.",
    "memory_encoder.",
    "sam_mask_decoder.conv_s0.",
    "sam_mask_decoder.conv_s1.",
)


def resolve_precision(
    precision: str | torch.dtype | None, device: torch.device
) -> torch.dtype | None:
    """The compute dtype of the heavy stages for ``precision`` ("fp32", "bf16" or "fp16");
    None means exact fp32.

    Raises:
        ValueError: for an unknown precision, and for fp16 on the CPU.
    """
    if precision is None or precision == torch.float32:
        return None
    if isinstance(precision, torch.dtype):
        dtype = precision
    else:
        try:
            dtype = _DTYPES[str(precision).lower()]
        except KeyError:
            raise ValueError(
                f"Unknown precision {precision!r}: use 'fp32' (exact), 'bf16' or 'fp16'."
            ) from None
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("precision='fp16' is for GPUs; on the CPU use 'bf16' or 'fp32'.")
    if dtype not in (None, torch.bfloat16, torch.float16):
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {dtype}")
    return dtype


def compute_model(model: Sam2Model, dtype: torch.dtype | None) -> Sam2Model:
    """The model that computes in ``dtype``: ``model`` itself for None (exact fp32), else a
    copy whose heavy stages (:data:`REDUCED_STAGES`) hold their weights in ``dtype``.

    The other weights of the copy are the original's own tensors (shared, not copied), so the
    copy costs only the reduced weights (about 55 MB for the tiny model in bf16). It is made
    from the weights as they are now: build a new one after loading other weights.
    """
    if dtype is None:
        return model
    state = model.state_dict()
    for key, value in state.items():
        if key.startswith(REDUCED_STAGES) and value.is_floating_point():
            state[key] = value.to(dtype)
    with torch.device("meta"):
        copy = type(model)(model.config)
    copy.load_state_dict(state, strict=True, assign=True)
    return copy.eval()


#: Below this matrix-product speed-up over fp32, reduced precision is not worth its drift.
MIN_USEFUL_SPEEDUP = 1.2
#: Side of the square matrices of the speed probe (1024: 2.1 GFLOP a product).
PROBE_SIZE = 1024
#: Seconds the probe may spend timing each dtype (it stops earlier after ``PROBE_REPEATS``).
PROBE_BUDGET_S = 0.25
PROBE_REPEATS = 5


def matmul_speedup(dtype: torch.dtype, device: str | torch.device = "cpu") -> float:
    """How many times faster a matrix product runs in ``dtype`` than in float32 on ``device``.

    Measured once per process for each device, dtype and CPU thread count (a fraction of a
    second): the best of a few products of two ``PROBE_SIZE`` square matrices in each dtype.
    Below 1, the reduced dtype is slower here (a CPU without native bf16 arithmetic
    converts every operand).
    """
    device = resolve_device(device)
    return _probe(device, dtype, torch.get_num_threads())


@functools.cache
def _probe(device: torch.device, dtype: torch.dtype, threads: int) -> float:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=generator).to(device)
    b = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=generator).to(device)
    fp32 = _best_product_time(a, b)
    reduced = _best_product_time(a.to(dtype), b.to(dtype))
    return fp32 / reduced


def _best_product_time(a: torch.Tensor, b: torch.Tensor) -> float:
    """Best wall time of ``a @ b`` (written into one reused output) after a warm-up."""
    out = torch.mm(a, b)
    _synchronize(a.device)
    best, spent = float("inf"), 0.0
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _synchronize(a.device)
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > PROBE_BUDGET_S:
            break
    return best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class PrecisionWarning(UserWarning):
    """Reduced precision was asked for where it will not be faster (see
    :func:`precision_warning`)."""


def precision_warning(precision: str, device: str | torch.device = "auto") -> str | None:
    """One line saying that ``precision`` will not be faster than exact fp32 on ``device``
    (measured by :func:`matmul_speedup`), or None when it will be (and for fp32).

    Raises:
        ValueError: for a precision or device the predictors refuse (fp16 on the CPU...).
    """
    device = resolve_device(device)
    dtype = resolve_precision(precision, device)
    if dtype is None:
        return None
    speedup = matmul_speedup(dtype, device)
    if speedup >= MIN_USEFUL_SPEEDUP:
        return None
    name = "bf16" if dtype == torch.bfloat16 else "fp16"
    where = "this CPU" if device.type == "cpu" else f"this {device.type.upper()} device"
    return (
        f"precision {name!r} will not be faster on {where}: its {name} matrix products run at "
        f"{speedup:.2f}x the speed of fp32 ones here, and masks move away from the exact "
        f"fp32 result; 'fp32' is the better choice on this machine."
    )
