"""Reduced precision: the heavy stages compute in bf16, the decoder in fp32, outputs stay close
to fp32, fp32 is untouched; the speed probe and the warning built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from sam2_engine import ImagePredictor, VideoPredictor
from sam2_engine import precision as precision_module
from sam2_engine.precision import (
    REDUCED_STAGES,
    compute_model,
    matmul_speedup,
    precision_warning,
    resolve_precision,
)

#: Matrix products, convolutions and attention: the work reduced precision is for.
HEAVY_OPS = {
    F.linear,
    F.conv2d,
    F.conv_transpose2d,
    F.scaled_dot_product_attention,
    torch.mm,
    torch.bmm,
    torch.matmul,
    torch.Tensor.__matmul__,
}


class OperandDtypes(TorchFunctionMode):
    """Records the dtypes of the tensor operands of every heavy op run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, set[torch.dtype]]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HEAVY_OPS:
            operands = [*args, *kwargs.values()]
            dtypes = {a.dtype for a in operands if isinstance(a, torch.Tensor)}
            self.seen.append((getattr(func, "__name__", str(func)), dtypes))
        return func(*args, **kwargs)

    def dtypes(self) -> set[torch.dtype]:
        assert self.seen, "no heavy op ran"
        return set().union(*(d for _, d in self.seen))


def _frames() -> np.ndarray:
    """Six 96x128 RGB frames: a bright disc drifting right over dim noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    frames = (rng.random((6, 96, 128, 3)) * 60).astype(np.uint8)
    for t in range(6):
        frames[t][(yy - 40) ** 2 + (xx - 30 - 5 * t) ** 2 < 300] = (220, 200, 180)
    return frames


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0, b > 0
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


@pytest.fixture(scope="module")
def bf16_model(small_model):
    return compute_model(small_model, torch.bfloat16)


def test_fp32_computes_with_the_model_itself(small_model):
    assert compute_model(small_model, None) is small_model
    assert ImagePredictor(small_model)._net is small_model
    assert VideoPredictor(small_model)._net is small_model


def test_the_copy_reduces_the_heavy_stages_and_shares_the_rest(small_model, bf16_model):
    original = dict(small_model.named_parameters())
    for name, param in bf16_model.named_parameters():
        assert original[name].dtype == torch.float32  # the original is left as it was
        if name.startswith(REDUCED_STAGES):
            assert param.dtype == torch.bfloat16, name
        else:
            assert param.dtype == torch.float32, name
            assert param.data_ptr() == original[name].data_ptr(), f"{name} was copied"
    assert not bf16_model.training


def test_heavy_stages_run_in_bf16_and_the_decoder_in_fp32(bf16_model):
    size = bf16_model.image_size
    grid = bf16_model.config.image_embedding_size
    with torch.inference_mode():
        with OperandDtypes() as encoder:
            feats = bf16_model.encode_image(torch.randn(1, 3, size, size))
        memory = torch.randn(1, 2 * grid * grid + 4, bf16_model.config.mem_dim)
        with OperandDtypes() as attention:
            pix_feat = bf16_model.attend_to_memory(feats.embed, feats.pos, memory, memory, 4)
        with OperandDtypes() as decoder:
            heads = bf16_model.run_heads(pix_feat, feats.high_res, multimask_output=True)
        with OperandDtypes() as memory_encoder:
            mem, _ = bf16_model.encode_memory(
                feats.embed, heads.high_res_masks, heads.object_score_logits, binarize=False
            )
    assert encoder.dtypes() == {torch.bfloat16}
    assert attention.dtypes() == {torch.bfloat16}
    assert memory_encoder.dtypes() == {torch.bfloat16}
    assert decoder.dtypes() == {torch.float32}
    assert pix_feat.dtype == torch.bfloat16
    for value in (heads.low_res_masks, heads.ious, heads.obj_ptr, heads.object_score_logits):
        assert value.dtype == torch.float32


def test_fp16_copy_runs_and_stays_close_where_the_cpu_has_the_kernels(small_model):
    """fp16 is for GPUs; the same copy is checked here on the CPU, which has fp16 kernels."""
    fp16 = compute_model(small_model, torch.float16)
    image = torch.randn(1, 3, small_model.image_size, small_model.image_size)
    with torch.inference_mode():
        outputs = {}
        for name, net in (("fp32", small_model), ("fp16", fp16)):
            feats = net.encode_image(image)
            heads = net.run_heads(
                net.add_no_memory(feats.embed), feats.high_res, multimask_output=True
            )
            outputs[name] = heads.low_res_multimasks
    assert outputs["fp16"].dtype == torch.float32
    assert (outputs["fp16"] - outputs["fp32"]).abs().max() < 0.02


def test_bf16_image_predictions_close_to_fp32(small_model):
    image = _frames()[0]
    results = {}
    for precision in ("fp32", "bf16"):
        predictor = ImagePredictor(small_model, precision=precision)
        predictor.set_image(image)
        results[precision] = predictor.predict(point_coords=[[30, 40]], point_labels=[1])
    (masks32, scores32, logits32), (masks16, scores16, logits16) = results.values()
    assert logits16.dtype == np.float32
    assert np.abs(logits16 - logits32).max() < 0.02  # logits reach about 0.7 here
    assert np.abs(scores16 - scores32).max() < 0.01
    assert (masks16 == masks32).mean() > 0.99


def test_bf16_video_close_to_fp32(small_model):
    frames = _frames()
    results = {}
    for precision in ("fp32", "bf16"):
        predictor = VideoPredictor(small_model, precision=precision)
        state = predictor.init_state(frames)
        predictor.add_new_points_or_box(state, 0, 1, points=[[30, 40]], labels=[1])
        with torch.inference_mode():
            results[precision] = [m.clone() for _, _, m in predictor.propagate_in_video(state)]
        obj = state.objects[1]
        stored = obj.non_cond_outputs.get(3)
        assert stored.maskmem.dtype == torch.bfloat16  # memories are stored in bf16 either way
        assert stored.obj_ptr.dtype == stored.pred_masks.dtype == torch.float32
    assert len(results["bf16"]) == len(frames)
    for exact, reduced in zip(results["fp32"], results["bf16"], strict=True):
        assert reduced.dtype == torch.float32
        assert (reduced - exact).abs().max() < 0.02  # logits reach about 0.3 here
        assert _iou(reduced, exact) > 0.98


def test_precision_names():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision(torch.float32, cpu) is None
    assert resolve_precision("BF16", cpu) == resolve_precision("bfloat16", cpu) == torch.bfloat16
    assert resolve_precision("fp16", torch.device("cuda")) == torch.float16
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="Unknown precision"):
        resolve_precision("int8", cpu)


def test_speed_probe_is_sane_and_measured_once():
    first = matmul_speedup(torch.bfloat16, "cpu")
    assert np.isfinite(first) and 0.01 < first < 100
    calls = precision_module._probe.cache_info().hits
    assert matmul_speedup(torch.bfloat16, "cpu") == first
    assert precision_module._probe.cache_info().hits == calls + 1


@pytest.mark.parametrize(("speedup", "warned"), [(0.55, True), (1.1, True), (2.3, False)])
def test_warning_says_when_reduced_precision_does_not_pay(monkeypatch, speedup, warned):
    monkeypatch.setattr(precision_module, "matmul_speedup", lambda dtype, device: speedup)
    text = precision_warning("bf16", "cpu")
    if not warned:
        assert text is None
        return
    assert "\n" not in text
    assert "'bf16' will not be faster on this CPU" in text
    assert f"{speedup:.2f}x" in text and "'fp32'" in text


def test_no_warning_for_fp32_and_errors_for_refused_precisions():
    assert precision_warning("fp32", "cpu") is None
    with pytest.raises(ValueError, match="fp16"):
        precision_warning("fp16", "cpu")
    with pytest.raises(ValueError, match="Unknown precision"):
        precision_warning("int4", "cpu")
