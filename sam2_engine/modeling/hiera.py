"""Hiera trunk: a hierarchical vision transformer with windowed and global attention.

Tokens travel through the trunk channel-last, as (B, H, W, C). Four stages produce maps at
strides 4, 8, 16 and 32; the first block of each later stage halves the grid by max-pooling its
queries and doubles the width. See ``sam2-reference.md`` section 8.2 for the layout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam2_engine.configs import HieraConfig
from sam2_engine.modeling.common import MLP, add_residual


def max_pool_tokens(x: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Non-overlapping max-pool of a channel-last token grid (trailing rows/cols are dropped).

    Written as element-wise maxima of strided slices, which is much faster on CPU than
    ``max_pool2d`` or ``amax`` on a (possibly strided) channel-last tensor.

    Args:
        x: (B, H, W, C) tokens; may be a strided view.
        stride: (sh, sw) pooling window, equal to its stride.

    Returns:
        (B, H // sh, W // sw, C).
    """
    sh, sw = stride
    ho, wo = x.shape[1] // sh, x.shape[2] // sw
    cols = x[:, :, 0 : wo * sw : sw]
    for j in range(1, sw):
        cols = torch.maximum(cols, x[:, :, j : wo * sw : sw])  # (B, H, wo, C)
    rows = cols[:, 0 : ho * sh : sh]
    for i in range(1, sh):
        rows = torch.maximum(rows, cols[:, i : ho * sh : sh])  # (B, ho, wo, C)
    return rows


def to_windows(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Cut a token grid into non-overlapping square windows, zero-padding bottom and right.

    Args:
        x: (B, H, W, C) tokens.
        size: window side.

    Returns:
        windows (B * nh * nw, size, size, C), ordered batch, window row, window column; and the
        window counts (nh, nw).
    """
    b, h, w, c = x.shape
    nh, nw = math.ceil(h / size), math.ceil(w / size)
    pad_h, pad_w = nh * size - h, nw * size - w
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    x = x.view(b, nh, size, nw, size, c).transpose(2, 3)  # (B, nh, nw, size, size, C)
    return x.reshape(b * nh * nw, size, size, c), (nh, nw)


def add_windows(grid: torch.Tensor, windows: torch.Tensor, counts: tuple[int, int]) -> torch.Tensor:
    """``grid`` plus windows from :func:`to_windows` put back in place (padding cropped).

    When the windows tile the grid exactly, the sum is taken through a 6-D view, which saves
    reassembling the windows into a grid first.

    Args:
        grid: (B, H, W, C) contiguous tokens.
        windows: (B * nh * nw, wh, ww, C) with H <= nh * wh and W <= nw * ww.
        counts: window counts (nh, nw).

    Returns:
        (B, H, W, C) contiguous.
    """
    nh, nw = counts
    b, h, w, c = grid.shape
    _, wh, ww, _ = windows.shape
    windows = windows.view(b, nh, nw, wh, ww, c).transpose(2, 3)  # (B, nh, wh, nw, ww, C)
    if (h, w) == (nh * wh, nw * ww):
        return (grid.view(b, nh, wh, nw, ww, c) + windows).view(b, h, w, c)
    windows = windows.reshape(b, nh * wh, nw * ww, c)[:, :h, :w]  # (B, H, W, C)
    return grid + windows


class PatchEmbed(nn.Module):
    """7x7 convolution with stride 4 from pixels to stage-1 tokens."""

    def __init__(self, embed_dim: int, in_channels: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, 3, S, S) -> (B, C, S/4, S/4)."""
        return self.proj(image)


class PooledAttention(nn.Module):
    """Multi-head self-attention whose queries may be max-pooled (at stage transitions).

    Keys and values always cover the whole input grid; with ``q_stride`` set, only the pooled
    query positions produce outputs, so the output grid is smaller than the input.
    """

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, q_stride: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, h, w, dim) -> (N, h', w', dim_out), (h', w') = (h, w) // q_stride."""
        n, h, w, _ = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).unflatten(-1, (3, -1))  # (N, h, w, 3, dim_out)
        q, k, v = qkv.unbind(3)  # each (N, h, w, dim_out), strided views
        if self.q_stride is not None:
            q = max_pool_tokens(q, self.q_stride)
            h, w = q.shape[1:3]
        q = q.reshape(n, h * w, heads, -1).transpose(1, 2)  # (N, heads, h'*w', d)
        k = k.reshape(n, -1, heads, q.shape[-1]).transpose(1, 2)  # (N, heads, h*w, d)
        v = v.reshape(n, -1, heads, q.shape[-1]).transpose(1, 2)  # (N, heads, h*w, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, h'*w', d)
        out = out.transpose(1, 2).reshape(n, h, w, -1)  # (N, h', w', dim_out)
        return self.proj(out)


class HieraBlock(nn.Module):
    """Pre-norm transformer block: (windowed or global) attention, then an MLP.

    When ``dim_out != dim`` (first block of a stage) the residual goes through ``proj`` applied to
    the normalised input, and is pooled like the queries when ``q_stride`` is set.

    Args:
        dim: input width.
        dim_out: output width.
        num_heads: attention heads.
        window_size: attention window side on the block's input grid, 0 for global attention.
        q_stride: query pooling stride, or None.
        mlp_ratio: MLP hidden width over ``dim_out``.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        window_size: int = 0,
        q_stride: tuple[int, int] | None = None,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = PooledAttention(dim, dim_out, num_heads, q_stride)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=nn.GELU)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, W, dim) -> (B, H', W', dim_out), (H', W') = (H, W) // q_stride."""
        normed = self.norm1(x)
        shortcut = x
        if self.proj is not None:
            shortcut = self.proj(normed)
        if self.q_stride is not None:
            shortcut = max_pool_tokens(shortcut, self.q_stride)

        if self.window_size > 0:
            windows, counts = to_windows(normed, self.window_size)
            x = add_windows(shortcut, self.attn(windows), counts)
        else:
            x = add_residual(self.attn(normed), shortcut)
        return add_residual(self.mlp(self.norm2(x)), x)


class Hiera(nn.Module):
    """The Hiera image trunk.

    Submodules and parameters follow the official checkpoint layout: ``patch_embed.proj``,
    ``pos_embed`` (1, C, bh, bw), ``pos_embed_window`` (1, C, w0, w0) and ``blocks.{i}``.
    """

    def __init__(self, config: HieraConfig) -> None:
        super().__init__()
        stages = config.blocks_per_stage
        if len(config.window_size_per_stage) != len(stages):
            raise ValueError("window_size_per_stage needs one entry per stage")
        #: index of the last block of each stage
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        pooled_starts = {end + 1 for end in self.stage_ends[:-1][: config.q_pool]}
        global_blocks = set(config.global_attention_blocks)

        dim = config.embed_dim
        self.patch_embed = PatchEmbed(dim)
        win = config.pos_embed_window_size
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, *config.pos_embed_background_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, dim, win, win))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed_window, std=0.02)

        heads = config.num_heads
        stage = 0
        self.blocks = nn.ModuleList()
        for i in range(sum(stages)):
            # a stage's first block still attends with the previous stage's window
            window = 0 if i in global_blocks else config.window_size_per_stage[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out = int(dim * config.dim_mul)
                heads = int(heads * config.head_mul)
                stage += 1
            q_stride = tuple(config.q_stride) if i in pooled_starts else None
            self.blocks.append(HieraBlock(dim, dim_out, heads, window, q_stride, config.mlp_ratio))
            dim = dim_out

    @property
    def channels(self) -> list[int]:
        """Output width of each stage, finest first."""
        return [self.blocks[i].attn.proj.out_features for i in self.stage_ends]

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """Learned absolute embedding of an (h, w) token grid: the background grid resized
        bicubically, plus the window pattern tiled from the top-left corner.

        Returns:
            (1, C, h, w) float32.
        """
        # resized in float32 whatever the weights' dtype (no-ops for float32 weights)
        background = F.interpolate(self.pos_embed.float(), size=(h, w), mode="bicubic")
        window = self.pos_embed_window.float()
        wh, ww = window.shape[-2:]
        tiled = window.tile(1, 1, math.ceil(h / wh), math.ceil(w / ww))
        if tiled.shape[-2:] != (h, w):
            tiled = tiled[..., :h, :w]
        return background + tiled

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image (B, 3, S, S) -> the last block output of each stage, finest first, as
        (B, C_i, S/s_i, S/s_i) views of channel-last memory (s_i = 4, 8, 16, 32)."""
        x = self.patch_embed(image)  # (B, C, H, W)
        x = x + self.position_embedding(*x.shape[-2:]).to(self.pos_embed.dtype)
        x = x.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C)

        outputs = []
        ends = set(self.stage_ends)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in ends:
                outputs.append(x.permute(0, 3, 1, 2))  # (B, C, H, W) view
        return outputs
