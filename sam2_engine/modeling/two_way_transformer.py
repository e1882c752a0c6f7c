"""The two-way transformer of the mask decoder.

A handful of prompt tokens and the flattened image map update each other: the tokens attend
to themselves and to the image, and the image attends back to the tokens. Positional terms are
added to queries and keys only, never to values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam2_engine.modeling.common import MLP


def to_token_layout(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> contiguous (B, H*W, C) tokens.

    Each batch item is copied as one 2-D transpose, which PyTorch runs several times faster on
    CPU than the equivalent permute of a 3-D or 4-D tensor.
    """
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1)  # (B, C, HW)
    out = x.new_empty(b, x.shape[2], c)
    for i in range(b):
        out[i].copy_(x[i].t())
    return out  # (B, HW, C)


class ProjectedAttention(nn.Module):
    """Multi-head attention whose projections may work at a narrower internal width.

    q, k and v are projected to ``internal_dim`` channels (split over ``num_heads`` heads),
    attended with ``F.scaled_dot_product_attention`` and projected back to ``dim``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        internal_dim: int | None = None,
        kv_dim: int | None = None,
    ) -> None:
        """
        Args:
            dim: width of the queries and of the output.
            num_heads: attention heads; must divide ``internal_dim``.
            internal_dim: width inside the attention (``dim`` when None; 128 for the decoder's
                cross-attentions).
            kv_dim: width of the key/value inputs (``dim`` when None).
        """
        super().__init__()
        internal_dim = dim if internal_dim is None else internal_dim
        kv_dim = dim if kv_dim is None else kv_dim
        if internal_dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide internal width {internal_dim}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, internal_dim)
        self.k_proj = nn.Linear(kv_dim, internal_dim)
        self.v_proj = nn.Linear(kv_dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # (B, h, N, c/h)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """
        Args:
            q: (B, Nq, dim) queries.
            k: (B, Nk, kv_dim) keys.
            v: (B, Nk, kv_dim) values.

        Returns:
            (B, Nq, dim).
        """
        out = F.scaled_dot_product_attention(
            self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        )  # (B, h, Nq, c/h)
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))  # (B, Nq, internal)


class TwoWayBlock(nn.Module):
    """One two-way block: token self-attention, tokens->image, token MLP, image->tokens.

    Every step is followed by a residual add and a LayerNorm (post-norm). In the first block
    the self-attention sees no positional term and its output replaces the tokens.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        cross_attn_dim: int | None = None,
        first: bool = False,
    ) -> None:
        """
        Args:
            dim: token and image width.
            num_heads: heads of all three attentions.
            mlp_dim: hidden width of the token MLP (ReLU).
            cross_attn_dim: internal width of both cross-attentions (``dim // 2`` when None).
            first: this is the first block (self-attention without positions or residual).
        """
        super().__init__()
        cross_attn_dim = dim // 2 if cross_attn_dim is None else cross_attn_dim
        self.first = first
        self.self_attn = ProjectedAttention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = ProjectedAttention(dim, num_heads, cross_attn_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dim, num_layers=2, activation=nn.ReLU)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = ProjectedAttention(dim, num_heads, cross_attn_dim)

    def forward(
        self,
        tokens: torch.Tensor,
        image: torch.Tensor,
        token_pe: torch.Tensor,
        image_pe: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            tokens: (B, N, C) prompt/output tokens.
            image: (B, HW, C) flattened image map.
            token_pe: (B, N, C) positional term of the tokens (their initial embeddings).
            image_pe: (B or 1, HW, C) positional term of the image.

        Returns:
            Updated tokens (B, N, C) and image (B, HW, C).
        """
        if self.first:
            tokens = self.self_attn(tokens, tokens, tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norm1(tokens)

        # the image side is unchanged until the last step, so its keys serve both directions
        image_k = image + image_pe
        q = tokens + token_pe
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(q, image_k, image))
        tokens = self.norm3(tokens + self.mlp(tokens))

        q = tokens + token_pe
        image = self.norm4(image + self.cross_attn_image_to_token(image_k, q, tokens))
        return tokens, image


class TwoWayTransformer(nn.Module):
    """A stack of two-way blocks closed by a final tokens->image attention."""

    def __init__(
        self,
        depth: int = 2,
        dim: int = 256,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        cross_attn_dim: int | None = None,
    ) -> None:
        """
        Args:
            depth: number of two-way blocks.
            dim: token and image width.
            num_heads: attention heads.
            mlp_dim: hidden width of each block's token MLP.
            cross_attn_dim: internal width of the cross-attentions (``dim // 2`` when None).
        """
        super().__init__()
        cross_attn_dim = dim // 2 if cross_attn_dim is None else cross_attn_dim
        self.layers = nn.ModuleList(
            TwoWayBlock(dim, num_heads, mlp_dim, cross_attn_dim, first=(i == 0))
            for i in range(depth)
        )
        self.final_attn_token_to_image = ProjectedAttention(dim, num_heads, cross_attn_dim)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(
        self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            image: (B, C, h, w) image map (image embedding plus dense prompt).
            image_pe: (B or 1, C, h, w) positional map of the image.
            tokens: (B, N, C) initial tokens; they also serve as the tokens' positional term.

        Returns:
            tokens (B, N, C) and image (B, hw, C) after the transformer.
        """
        image = to_token_layout(image)  # (B, hw, C)
        image_pe = to_token_layout(image_pe)  # (B or 1, hw, C)
        token_pe = tokens
        for layer in self.layers:
            tokens, image = layer(tokens, image, token_pe, image_pe)
        attn = self.final_attn_token_to_image(tokens + token_pe, image + image_pe, image)
        tokens = self.norm_final_attn(tokens + attn)
        return tokens, image
