"""2-D axial rotary position encoding (RoPE) for tokens laid out on a (height, width) grid.

A head of width D is read as D/2 complex numbers (consecutive channel pairs). The first D/4
pairs turn with the token's column index x, the last D/4 with its row index y; both axes share
the frequencies ``theta ** (-4k / D)`` for k = 0 .. D/4 - 1. Tokens are numbered row-major, so
token i sits at x = i mod width, y = i div width.

The rotation table depends only on (D, height, width, theta, device). It is built on first use
and then kept in a small cache, never inside a module, so constructors do no device work.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def _angles(head_dim: int, height: int, width: int, theta: float) -> torch.Tensor:
    """Rotation angles on the CPU: (height * width, head_dim / 2), float32."""
    if head_dim % 4:
        raise ValueError(f"axial RoPE needs a head width divisible by 4, got {head_dim}")
    quarter = head_dim // 4
    exponents = torch.arange(0, head_dim, 4)[:quarter].float() / head_dim
    freqs = 1.0 / (theta**exponents)  # (D/4,)
    index = torch.arange(height * width, dtype=torch.float32)
    cols = index % width
    rows = torch.div(index, width, rounding_mode="floor")
    # x frequencies first, then y frequencies
    return torch.cat((torch.outer(cols, freqs), torch.outer(rows, freqs)), dim=1)  # (HW, D/2)


@lru_cache(maxsize=16)
def _table(
    head_dim: int, height: int, width: int, theta: float, device: torch.device
) -> torch.Tensor:
    angles = _angles(head_dim, height, width, theta)
    return torch.polar(torch.ones_like(angles), angles).to(device)


def rotary_table(
    head_dim: int,
    grid_size: tuple[int, int],
    theta: float = 10000.0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Unit complex rotations for every token of a grid (cached; treat as read-only).

    Args:
        head_dim (int): width D of one attention head (a multiple of 4).
        grid_size (tuple[int, int]): (height, width) of the token grid.
        theta (float): frequency base.
        device: where the table should live.

    Returns:
        (height * width, D / 2) complex64 tensor.
    """
    height, width = grid_size
    return _table(head_dim, int(height), int(width), float(theta), torch.device(device))


def apply_rotary_(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate token features in place.

    ``x`` may hold several copies of the grid back to back (one per memory frame): the table is
    then applied to each copy. ``x`` may be a slice along the token axis of a larger contiguous
    tensor, so keys can be rotated where they are, without copying the untouched tokens.

    Args:
        x (torch.Tensor): (B, N, D) with unit stride on D, where N = k * T for an integer k.
        table (torch.Tensor): (T, D / 2) complex rotations from :func:`rotary_table`.

    Returns:
        ``x`` itself, rotated.
    """
    batch, num_tokens, dim = x.shape
    grid_tokens = table.shape[0]
    if num_tokens % grid_tokens or dim != 2 * table.shape[1]:
        raise ValueError(
            f"cannot rotate {num_tokens} tokens of width {dim} with a table for "
            f"{grid_tokens} tokens of width {2 * table.shape[1]}"
        )
    # complex views exist only for float32/float64; other dtypes rotate in float32 and copy back
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    pairs = work.view(batch, num_tokens // grid_tokens, grid_tokens, dim // 2, 2)
    torch.view_as_complex(pairs).mul_(table)  # (B, k, T, D/2) complex
    if work is not x:
        x.copy_(work)
    return x
