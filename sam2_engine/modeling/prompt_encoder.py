"""Prompt encoder: clicks and boxes become sparse tokens, a mask logit map a dense map."""

from __future__ import annotations

import math

import torch
from torch import nn

from sam2_engine.modeling.common import LayerNorm2d


class RandomFourierEncoding(nn.Module):
    """Position encoding with fixed random Gaussian frequencies.

    A point in [0, 1]^2 is mapped to [-1, 1]^2, projected onto ``num_feats`` random directions,
    scaled by 2*pi, and encoded as ``[sin, cos]`` (``2 * num_feats`` channels).
    """

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        # overwritten by the checkpoint; the values only matter for untrained models
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_feats))

    def encode(self, xy: torch.Tensor) -> torch.Tensor:
        """
        Args:
            xy: (..., 2) float coordinates normalised to [0, 1], x first.

        Returns:
            (..., 2 * num_feats) encoding, computed in float32 and returned in the dtype of the
            frequency buffer (float32 unless the module was cast).
        """
        freqs = self.positional_encoding_gaussian_matrix
        xy = 2 * xy.float() - 1
        # written out instead of ``xy @ freqs`` so that autocast keeps it in float32
        proj = xy[..., 0:1] * freqs[0].float() + xy[..., 1:2] * freqs[1].float()  # (..., F)
        proj = proj * (2 * math.pi)
        return torch.cat((proj.sin(), proj.cos()), dim=-1).to(freqs.dtype)

    def grid(self, height: int, width: int) -> torch.Tensor:
        """Encoding of the cell centres of a (height, width) grid, as (C, height, width)."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
        xy = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (height, width, 2)
        return self.encode(xy).permute(2, 0, 1)  # (C, height, width)


class PromptEncoder(nn.Module):
    """Embeds point, box and mask prompts for the mask decoder."""

    def __init__(
        self,
        *,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int = 16,
    ) -> None:
        """
        Args:
            embed_dim: token width C (256).
            image_embedding_size: (h, w) of the image embedding (64, 64 at 1024 input).
            input_image_size: (H, W) of the model input in pixels (1024, 1024); point and box
                coordinates are given in this frame.
            mask_in_chans: hidden channels of the mask downscaler (16).
        """
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = tuple(image_embedding_size)
        self.input_image_size = tuple(input_image_size)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.pe_layer = RandomFourierEncoding(embed_dim // 2)
        # labels 0 (negative), 1 (positive), 2 (box top-left), 3 (box bottom-right)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Fourier encoding of the image-embedding cell centres, (1, C, h, w)."""
        return self.pe_layer.grid(*self.image_embedding_size)[None]

    def _encode_xy(self, xy: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) pixel coordinates (already shifted to pixel centres) -> (B, N, C)."""
        h, w = self.input_image_size
        xy = xy.float()
        return self.pe_layer.encode(torch.stack((xy[..., 0] / w, xy[..., 1] / h), dim=-1))

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """(B, N, 2) coords and (B, N) labels -> (B, N (+1 if pad), C)."""
        coords = coords + 0.5
        if pad:
            b = coords.shape[0]
            coords = torch.cat((coords, coords.new_zeros(b, 1, 2)), dim=1)  # (B, N+1, 2)
            labels = torch.cat((labels, labels.new_full((b, 1), -1)), dim=1)  # (B, N+1)
        pe = self._encode_xy(coords)
        labels = labels[..., None]  # (B, N, 1)
        # row 0 of the table is "not a point", rows 1..4 are labels 0..3
        table = torch.cat(
            [self.not_a_point_embed.weight] + [e.weight for e in self.point_embeddings]
        )  # (5, C)
        known = (labels >= -1) & (labels <= 3)
        learned = table[(labels[..., 0] + 1).clamp(0, 4).long()] * known  # (B, N, C)
        return torch.where(labels == -1, 0.0, pe) + learned

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """(B, 4) xyxy boxes -> (B, 2, C) corner tokens."""
        corners = boxes.reshape(-1, 2, 2) + 0.5  # (B, 2, 2)
        pe = self._encode_xy(corners)
        corner_embed = torch.cat((self.point_embeddings[2].weight, self.point_embeddings[3].weight))
        return pe + corner_embed  # (B, 2, C)

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            points: coords (B, N, 2) as xy in model-input pixels and labels (B, N) with
                1 positive, 0 negative, 2/3 box corners, -1 padding; or None. When ``boxes`` is
                None one padding point is appended.
            boxes: (B, 4) xyxy boxes in model-input pixels, or None.
            masks: (B, 1, 4h, 4w) mask logits, or None.

        Returns:
            sparse (B, N', C): point tokens then box corner tokens (N' may be 0);
            dense (B, C, h, w): the embedded mask, or the broadcast "no mask" vector.
        """
        if points is not None:
            bs = points[0].shape[0]
        elif boxes is not None:
            bs = boxes.shape[0]
        elif masks is not None:
            bs = masks.shape[0]
        else:
            bs = 1
        weight = self.no_mask_embed.weight
        sparse = [weight.new_zeros(bs, 0, self.embed_dim)]
        if points is not None:
            sparse.append(self._embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            sparse.append(self._embed_boxes(boxes))
        sparse_embeddings = torch.cat(sparse, dim=1) if len(sparse) > 1 else sparse[0]

        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            dense = weight.reshape(1, -1, 1, 1).expand(bs, -1, *self.image_embedding_size)
        return sparse_embeddings, dense
