"""Memory encoder, memory attention and axial RoPE against the official implementation.

One official sam2.1-tiny model (random official init, fixed seed) is built per module. Norm
weights and biases and the ConvNeXt layer scales of the memory path are then perturbed (the
official init leaves them at 1, 0 and 1e-6, which would hide mistakes in those branches) and
the same weights are loaded strictly into ours.
"""

from __future__ import annotations

import pytest
import torch

from sam2_engine.modeling import memory_attention
from sam2_engine.modeling.memory_attention import MemoryAttention, attend_in_query_chunks
from sam2_engine.modeling.memory_encoder import MemoryEncoder
from sam2_engine.modeling.rope import apply_rotary_, rotary_table
from tests.support.official_shapes import official_manifest

TOLERANCE = 1e-4


def _sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def models():
    from tests.support.oracle import build_official

    torch.manual_seed(0)
    official = build_official("sam2.1_hiera_tiny")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, module in official.named_modules():
            if not name.startswith(("memory_encoder.", "memory_attention.")):
                continue
            if "LayerNorm" in type(module).__name__:
                module.weight.add_(0.5 * torch.randn(module.weight.shape, generator=gen))
                module.bias.add_(0.5 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(getattr(module, "gamma", None), torch.nn.Parameter):
                module.gamma.copy_(0.5 * torch.randn(module.gamma.shape, generator=gen))
    state = official.state_dict()
    encoder = MemoryEncoder().eval()
    encoder.load_state_dict(_sub_state(state, "memory_encoder."), strict=True)
    attention = MemoryAttention().eval()
    attention.load_state_dict(_sub_state(state, "memory_attention."), strict=True)
    return official, encoder, attention


def test_state_dict_matches_manifest():
    manifest = official_manifest("sam2.1_hiera_tiny")
    for prefix, module in (
        ("memory_encoder.", MemoryEncoder()),
        ("memory_attention.", MemoryAttention()),
    ):
        expected = {k: tuple(v["shape"]) for k, v in _sub_state(manifest, prefix).items()}
        ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert ours == expected, prefix


def test_rotary_table_matches_official_axial_cis():
    from sam2.modeling.position_encoding import compute_axial_cis

    height, width = 3, 5  # non-square: x runs along the width
    ours = rotary_table(16, (height, width))
    theirs = compute_axial_cis(16, end_x=width, end_y=height)
    assert torch.equal(ours, theirs)
    assert rotary_table(16, (height, width)) is ours  # cached


def test_apply_rotary_in_place_on_a_slice_and_in_bf16():
    table = rotary_table(8, (2, 3))
    x = torch.randn(2, 2 * 6 + 4, 8)
    expected = x.clone()
    pairs = torch.view_as_complex(expected[:, :12].reshape(2, 2, 6, 4, 2)) * table
    expected[:, :12] = torch.view_as_real(pairs).reshape(2, 12, 8)

    out = apply_rotary_(x[:, :12], table)
    assert out.data_ptr() == x.data_ptr()
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)  # tail tokens untouched

    y = torch.randn(1, 6, 8)
    rotated_bf16 = apply_rotary_(y.bfloat16(), table)
    assert rotated_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(rotated_bf16.float(), apply_rotary_(y, table), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(("batch", "side"), [(1, 32), (2, 32), (1, 64)])
def test_memory_encoder_parity(models, batch, side):
    official, encoder, _ = models
    gen = torch.Generator().manual_seed(side + batch)
    pix_feat = torch.randn(batch, 256, side, side, generator=gen)
    logits = 4 * torch.randn(batch, 1, 16 * side, 16 * side, generator=gen)
    mask = torch.sigmoid(logits) * 20 - 10  # what the caller feeds in
    with torch.no_grad():
        expected = official.memory_encoder(pix_feat, mask, skip_mask_sigmoid=True)
        memory, pos = encoder(pix_feat, mask)
    diff = (memory - expected["vision_features"]).abs().max().item()
    pos_diff = (pos - expected["vision_pos_enc"][0]).abs().max().item()
    print(
        f"\nmemory encoder B={batch} {side}x{side}: max|diff| memory {diff:.2e} pos {pos_diff:.2e}"
    )
    assert memory.shape == pos.shape == (batch, 64, side, side)
    assert diff <= TOLERANCE and pos_diff <= TOLERANCE


def _run_attention_pair(models, batch, grid, num_frames, num_ptr_tokens, seed):
    official, _, attention = models
    height, width = grid
    num_tokens = height * width
    num_memory = num_frames * num_tokens + num_ptr_tokens
    gen = torch.Generator().manual_seed(seed)
    curr, curr_pos = torch.randn(2, batch, num_tokens, 256, generator=gen)
    memory, memory_pos = torch.randn(2, batch, num_memory, 64, generator=gen)
    with torch.no_grad():
        expected = official.memory_attention(  # sequence-first
            curr=curr.transpose(0, 1),
            memory=memory.transpose(0, 1),
            curr_pos=curr_pos.transpose(0, 1),
            memory_pos=memory_pos.transpose(0, 1),
            num_obj_ptr_tokens=num_ptr_tokens,
        ).transpose(0, 1)
        out = attention(curr, curr_pos, memory, memory_pos, num_ptr_tokens, grid)
    assert out.shape == (batch, num_tokens, 256)
    return (out - expected).abs().max().item()


# every value of each factor, and every pair of values of two factors, appears at least once
@pytest.mark.parametrize(
    ("num_frames", "num_ptr_tokens", "batch", "side"),
    [
        (1, 0, 1, 32),
        (1, 16, 2, 32),
        (3, 0, 2, 32),
        (3, 16, 1, 32),
        (7, 0, 1, 32),
        (7, 16, 2, 32),
        (0, 16, 1, 32),  # pointers only: no key is rotated
        (2, 16, 1, 64),
    ],
)
def test_memory_attention_parity(models, num_frames, num_ptr_tokens, batch, side):
    diff = _run_attention_pair(models, batch, (side, side), num_frames, num_ptr_tokens, seed=side)
    print(
        f"\nmemory attention {side}x{side} frames={num_frames} ptr_tokens={num_ptr_tokens} "
        f"B={batch}: max|diff| {diff:.2e}"
    )
    assert diff <= TOLERANCE


def test_query_blocks_over_narrow_values_equal_fused_attention_over_projected_values(
    monkeypatch,
):
    """Blocks of 7 queries (the last one ragged), two batch items, values 4 wide and keys 16
    wide: projecting after the weighted sum equals the fused kernel on projected values."""
    monkeypatch.setattr(memory_attention, "ATTENTION_CHUNK_BYTES", 7 * 4 * 50)
    gen = torch.Generator().manual_seed(5)
    q, k = torch.randn(2, 30, 16, generator=gen), torch.randn(2, 50, 16, generator=gen)
    values = torch.randn(2, 50, 4, generator=gen)
    project = torch.nn.Linear(4, 16)
    with torch.no_grad():
        fused = torch.nn.functional.scaled_dot_product_attention(
            q[:, None], k[:, None], project(values)[:, None]
        )[:, 0]
        blocks = project(attend_in_query_chunks(q, k, values))
    assert blocks.shape == (2, 30, 16)
    torch.testing.assert_close(blocks, fused, rtol=1e-5, atol=1e-5)


def test_memory_attention_parity_in_small_query_blocks(models, monkeypatch):
    monkeypatch.setattr(memory_attention, "ATTENTION_CHUNK_BYTES", 100 * 4 * (3 * 1024 + 16))
    diff = _run_attention_pair(models, 2, (32, 32), 3, 16, seed=11)
    assert diff <= TOLERANCE


def test_memory_attention_parity_non_square_grid(models):
    """The official code assumes a square grid; given our table for 24x40 it must agree."""
    from sam2.modeling.position_encoding import compute_axial_cis
    from sam2.modeling.sam.transformer import RoPEAttention

    official = models[0]
    rope_modules = [m for m in official.memory_attention.modules() if isinstance(m, RoPEAttention)]
    saved = [m.freqs_cis for m in rope_modules]
    try:
        for module in rope_modules:
            module.freqs_cis = compute_axial_cis(256, end_x=40, end_y=24)
        diff = _run_attention_pair(models, 1, (24, 40), 2, 16, seed=7)
    finally:
        for module, table in zip(rope_modules, saved, strict=True):
            module.freqs_cis = table
    print(f"\nmemory attention 24x40 frames=2 ptr_tokens=16 B=1: max|diff| {diff:.2e}")
    assert diff <= TOLERANCE


def test_memory_attention_accepts_bf16_memory(models):
    _, _, attention = models
    gen = torch.Generator().manual_seed(3)
    curr, curr_pos = torch.randn(2, 1, 64, 256, generator=gen)
    memory, memory_pos = torch.randn(2, 1, 2 * 64 + 4, 64, generator=gen)
    with torch.no_grad():
        full = attention(curr, curr_pos, memory, memory_pos, 4, (8, 8))
        stored = attention(curr, curr_pos, memory.bfloat16(), memory_pos, 4, (8, 8))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = attention(curr, curr_pos, memory, memory_pos, 4, (8, 8))
    assert stored.dtype == torch.float32
    assert (stored - full).abs().max() < 0.05
    assert (autocast.float() - full).abs().max() < 0.1


def test_memory_attention_rejects_a_partial_memory_frame(models):
    _, _, attention = models
    curr = torch.zeros(1, 64, 256)
    memory = torch.zeros(1, 64 + 10, 64)
    with pytest.raises(ValueError, match="memory frames"):
        attention(curr, curr, memory, memory, 4, (8, 8))
