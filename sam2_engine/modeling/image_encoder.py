"""Image encoder: Hiera trunk, then an FPN neck that brings every stage to ``hidden_dim`` channels.

Only the three finest levels (strides 4, 8, 16) leave the encoder; the stride-32 level feeds the
top-down path and is then dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sam2_engine.configs import Sam2Config
from sam2_engine.modeling.hiera import Hiera
from sam2_engine.modeling.position_encoding import sine_position_map


class Lateral(nn.Module):
    """A 1x1 convolution from one trunk stage to the neck width (checkpoint key ``conv``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, h, w) -> (B, C_out, h, w).

        Computed as a matmul over channel-last memory (the trunk's layout), which avoids the
        slow CPU path of a 1x1 convolution on a channel-last view; the result is a
        (B, C_out, h, w) view of (B, h, w, C_out) memory.
        """
        weight = self.conv.weight.flatten(1)  # (C_out, C_in)
        out = F.linear(x.permute(0, 2, 3, 1), weight, self.conv.bias)  # (B, h, w, C_out)
        return out.permute(0, 3, 1, 2)


class FpnNeck(nn.Module):
    """Feature pyramid without output convolutions.

    ``convs`` is ordered coarsest first (``convs.0`` acts on the last trunk stage), as in the
    official checkpoints. Levels are numbered finest first; a level in ``top_down_levels`` adds
    the 2x nearest-upsampled output of the next coarser level to its lateral projection, any
    other level is its lateral projection alone.

    Args:
        in_channels: trunk stage widths, finest first.
        out_channels: neck width.
        top_down_levels: levels (0 = finest) that receive the top-down path.
    """

    def __init__(
        self, in_channels: Sequence[int], out_channels: int, top_down_levels: Sequence[int]
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(Lateral(c, out_channels) for c in reversed(in_channels))
        self.top_down_levels = frozenset(top_down_levels)

    def forward(self, stages: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """stages: (B, C_i, h_i, w_i) per level, finest first -> (B, D, h_i, w_i), finest first."""
        last = len(self.convs) - 1
        outputs: list[torch.Tensor] = [None] * len(stages)  # type: ignore[list-item]
        coarser = None
        for level in range(last, -1, -1):
            lateral = self.convs[last - level](stages[level])
            if level in self.top_down_levels and coarser is not None:
                # summed in float32 like the official neck (this level is float32 also when
                # the encoder computes in a reduced precision)
                up = F.interpolate(coarser.float(), size=lateral.shape[-2:], mode="nearest")
                lateral = lateral + up
            outputs[level] = coarser = lateral
        return outputs


class ImageEncoder(nn.Module):
    """Hiera trunk + FPN neck; returns the stride 4, 8 and 16 maps with their sine positions.

    The state dict matches the official ``image_encoder.*`` entries with the prefix removed.
    """

    def __init__(self, config: Sam2Config) -> None:
        super().__init__()
        self.trunk = Hiera(config.hiera)
        self.neck = FpnNeck(self.trunk.channels, config.hidden_dim, config.fpn_top_down_levels)
        self.hidden_dim = config.hidden_dim
        #: coarsest levels dropped after the neck (the official ``scalp``)
        self.num_dropped_levels = 1

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Encode a batch of normalised images.

        Args:
            image: (B, 3, S, S) ImageNet-normalised pixels; converted to the dtype of the
                encoder's weights (bf16 or fp16 in a reduced-precision copy of the model).

        Returns:
            features: three maps at strides 4, 8, 16, each (B, hidden_dim, S/s, S/s).
            positions: their sine position maps, same shapes (expanded views of a cached
                (1, hidden_dim, S/s, S/s) map).
        """
        image = image.to(self.trunk.pos_embed.dtype)
        levels = self.neck(self.trunk(image))
        features = levels[: len(levels) - self.num_dropped_levels]
        positions = []
        for feat in features:
            b, _, h, w = feat.shape
            pos = sine_position_map(self.hidden_dim, h, w, device=feat.device, dtype=feat.dtype)
            positions.append(pos.expand(b, -1, -1, -1))
        return features, positions
