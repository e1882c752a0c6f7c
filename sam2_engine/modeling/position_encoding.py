"""Fixed (non-learned) position encodings: 2-D sine maps and 1-D sine vectors.

The 2-D map is a pure function of (channels, height, width), so it is computed once per size
and kept in a small module-level cache instead of inside every frame's features.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


def _frequencies(num_feats: int, temperature: float) -> torch.Tensor:
    # pairs of channels share one frequency: temperature ** (2 * (i // 2) / num_feats)
    idx = torch.arange(num_feats, dtype=torch.float32)
    return temperature ** (2 * torch.div(idx, 2, rounding_mode="floor") / num_feats)


@lru_cache(maxsize=16)
def _sine_map_cpu(channels: int, height: int, width: int, temperature: float) -> torch.Tensor:
    half = channels // 2
    eps = 1e-6
    # normalised 1-based coordinates in (0, 2*pi]
    ys = torch.arange(1, height + 1, dtype=torch.float32)
    xs = torch.arange(1, width + 1, dtype=torch.float32)
    ys = ys / (ys[-1] + eps) * (2 * math.pi)
    xs = xs / (xs[-1] + eps) * (2 * math.pi)
    freqs = _frequencies(half, temperature)
    ang_y = ys[:, None] / freqs  # (H, half)
    ang_x = xs[:, None] / freqs  # (W, half)
    # even channels take sin, odd channels cos, interleaved
    enc_y = torch.stack((ang_y[:, 0::2].sin(), ang_y[:, 1::2].cos()), dim=2).flatten(1)
    enc_x = torch.stack((ang_x[:, 0::2].sin(), ang_x[:, 1::2].cos()), dim=2).flatten(1)
    enc_y = enc_y[:, None, :].expand(height, width, half)
    enc_x = enc_x[None, :, :].expand(height, width, half)
    # y channels first, then x channels
    return torch.cat((enc_y, enc_x), dim=2).permute(2, 0, 1).contiguous()  # (C, H, W)


def sine_position_map(
    channels: int,
    height: int,
    width: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    temperature: float = 10000.0,
) -> torch.Tensor:
    """Normalised 2-D sine position encoding of a (height, width) grid.

    Returns:
        (1, channels, height, width): the first half of the channels encodes y, the second x.
    """
    if channels % 2:
        raise ValueError(f"sine position map needs an even channel count, got {channels}")
    pos = _sine_map_cpu(channels, height, width, float(temperature))
    return pos.to(device=device, dtype=dtype)[None]


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1-D sine encoding of (possibly fractional) positions.

    Args:
        positions: (N,) positions.
        dim: output width; the first half holds sines, the second half cosines.

    Returns:
        (N, dim) encoding.
    """
    freqs = _frequencies(dim // 2, temperature).to(positions.device)
    angles = positions.float()[:, None] / freqs  # (N, dim/2)
    return torch.cat((angles.sin(), angles.cos()), dim=-1)
