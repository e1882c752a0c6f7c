"""Memory encoder: fuses a frame's features with its predicted mask into a small memory map.

The mask (already mapped to the encoder's input range by the caller) is brought down to the
feature grid by strided convolutions, added to a 1x1 projection of the frame's raw stride-16
features, mixed by two ConvNeXt blocks and projected to the memory width. The memory comes
with a fixed sine position map of the same shape.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import LayerNorm2d
from .position_encoding import sine_position_map


class MaskDownsampler(nn.Module):
    """Strided 3x3 convolutions (each followed by LayerNorm2d and GELU), then a 1x1 projection.

    Every stage halves the resolution and multiplies the channels by 4 (1 -> 4 -> 16 -> 64 ->
    256 for four stages), so the mask loses no capacity on the way down.

    Arguments:
      embed_dim (int): output channels.
      num_stages (int): number of stride-2 stages (total stride ``2 ** num_stages``).
    """

    def __init__(self, embed_dim: int = 256, num_stages: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(num_stages):
            layers += [
                nn.Conv2d(channels, channels * 4, kernel_size=3, stride=2, padding=1),
                LayerNorm2d(channels * 4),
                nn.GELU(),
            ]
            channels *= 4
        layers.append(nn.Conv2d(channels, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, embed_dim, H / 2**num_stages, W / 2**num_stages)."""
        return self.encoder(mask)


class ConvNeXtBlock(nn.Module):
    """Residual ConvNeXt block: depthwise 7x7, LayerNorm2d, pointwise MLP, layer scale.

    Arguments:
      dim (int): channels.
      mlp_ratio (int): hidden width of the pointwise MLP over ``dim``.
    """

    def __init__(self, dim: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(mlp_ratio * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)  # (B, C, H, W)


class Fuser(nn.Module):
    """A stack of ConvNeXt blocks (kept in ``layers`` to match the checkpoint keys)."""

    def __init__(self, dim: int, num_layers: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ConvNeXtBlock(dim) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Encodes (frame features, mask) into a memory map and its position map.

    Arguments:
      hidden_dim (int): channels of the frame features and of the fusion path (256).
      out_dim (int): channels of the memory (64).
    """

    def __init__(self, *, hidden_dim: int = 256, out_dim: int = 64) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownsampler(hidden_dim)
        self.pix_feat_proj = nn.Conv2d(hidden_dim, hidden_dim, kernel_size=1)
        self.fuser = Fuser(hidden_dim)
        self.out_proj = (
            nn.Conv2d(hidden_dim, out_dim, kernel_size=1)
            if out_dim != hidden_dim
            else nn.Identity()
        )
        self.out_dim = out_dim

    def forward(
        self, pix_feat: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Arguments:
          pix_feat (torch.Tensor): (B, hidden_dim, h, w) raw stride-16 features of the frame
            (before memory conditioning).
          mask (torch.Tensor): (B, 1, 16h, 16w) mask already mapped to the encoder input (the
            caller applies the sigmoid or binarisation and the affine scale/shift; no sigmoid
            is applied here).

        Returns:
          memory (torch.Tensor): (B, out_dim, h, w), in the dtype of the encoder's weights
            (both inputs are converted to it).
          memory position map (torch.Tensor): (B, out_dim, h, w) sine encoding, in the
            memory's dtype.
        """
        dtype = self.pix_feat_proj.weight.dtype
        pix_feat, mask = pix_feat.to(dtype), mask.to(dtype)
        mask_feat = self.mask_downsampler(mask)
        if mask_feat.shape[-2:] != pix_feat.shape[-2:]:
            raise ValueError(
                f"mask {tuple(mask.shape[-2:])} does not downsample to the feature grid "
                f"{tuple(pix_feat.shape[-2:])}"
            )
        x = self.pix_feat_proj(pix_feat) + mask_feat
        x = self.out_proj(self.fuser(x))
        batch, channels, height, width = x.shape
        pos = sine_position_map(channels, height, width, device=x.device, dtype=x.dtype)
        return x, pos.repeat(batch, 1, 1, 1)
