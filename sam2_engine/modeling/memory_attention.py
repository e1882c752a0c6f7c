"""Memory attention: conditions the current frame's features on the stored memories.

A stack of pre-norm transformer layers over the current frame's stride-16 tokens. Each layer
runs rotary self-attention, rotary cross-attention to the memory tokens (spatial memories of
earlier frames followed by object-pointer tokens), and a ReLU feed-forward block. Everything
is batch-first; all attention is single-head with head width ``d_model``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import apply_rotary_, rotary_table


class RotaryAttention(nn.Module):
    """Single-head attention with 2-D axial RoPE on the queries and on the leading keys.

    Arguments:
      embed_dim (int): width of the queries, of the attention head and of the output.
      kv_in_dim (int | None): width of the key/value inputs (``embed_dim`` if None).
    """

    def __init__(self, embed_dim: int, kv_in_dim: int | None = None) -> None:
        super().__init__()
        kv_in_dim = embed_dim if kv_in_dim is None else kv_in_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(kv_in_dim, embed_dim)
        self.v_proj = nn.Linear(kv_in_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        table: torch.Tensor,
        num_rotated_keys: int,
    ) -> torch.Tensor:
        """Attend from grid tokens to keys whose first ``num_rotated_keys`` lie on the same grid.

        Arguments:
          queries (torch.Tensor): (B, T, embed_dim), T = h * w grid tokens in row-major order.
          keys (torch.Tensor): (B, M, kv_in_dim).
          values (torch.Tensor): (B, M, kv_in_dim).
          table (torch.Tensor): (T, embed_dim / 2) complex rotations of the grid.
          num_rotated_keys (int): the first keys, k * T of them (k copies of the grid), get
            rotated like the queries; the remaining M - k * T keys are left as they are.

        Returns:
          (B, T, embed_dim).
        """
        q = apply_rotary_(self.q_proj(queries), table)
        k = self.k_proj(keys)
        apply_rotary_(k[:, :num_rotated_keys], table)
        v = self.v_proj(values)
        # one head; the CPU and GPU fused kernels want (B, heads, tokens, width)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])  # (B, 1, T, C)
        return self.out_proj(out[:, 0])


class MemoryAttentionLayer(nn.Module):
    """Pre-norm layer: rotary self-attention, rotary cross-attention to memory, ReLU MLP.

    Arguments:
      d_model (int): token width.
      ffn_dim (int): hidden width of the feed-forward block.
      kv_in_dim (int): width of the memory tokens.
    """

    def __init__(self, d_model: int, ffn_dim: int, kv_in_dim: int) -> None:
        super().__init__()
        self.self_attn = RotaryAttention(d_model)
        self.cross_attn_image = RotaryAttention(d_model, kv_in_dim=kv_in_dim)
        self.linear1 = nn.Linear(d_model, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(
        self,
        x: torch.Tensor,
        memory_keys: torch.Tensor,
        memory: torch.Tensor,
        table: torch.Tensor,
        num_spatial_memory: int,
    ) -> torch.Tensor:
        """
        Arguments:
          x (torch.Tensor): (B, T, d_model) current-frame tokens.
          memory_keys (torch.Tensor): (B, M, kv_in_dim) memory plus its position encoding.
          memory (torch.Tensor): (B, M, kv_in_dim) memory tokens (the values).
          table (torch.Tensor): (T, d_model / 2) complex rotations of the grid.
          num_spatial_memory (int): leading memory tokens that lie on the grid (k * T).

        Returns:
          (B, T, d_model).
        """
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, table, y.shape[1])
        y = self.norm2(x)
        x = x + self.cross_attn_image(y, memory_keys, memory, table, num_spatial_memory)
        y = self.norm3(x)
        return x + self.linear2(F.relu(self.linear1(y)))


class MemoryAttention(nn.Module):
    """Conditions current-frame tokens on spatial memories and object pointers.

    Inference only: the official model's dropout (p = 0.1) is inactive in eval mode and is not
    built here.

    Arguments:
      d_model (int): token width (the neck width, 256).
      num_layers (int): number of layers.
      ffn_dim (int): hidden width of each feed-forward block.
      kv_in_dim (int): width of the memory tokens (the memory encoder's output, 64).
      rope_theta (float): frequency base of the rotary encoding.
    """

    def __init__(
        self,
        *,
        d_model: int = 256,
        num_layers: int = 4,
        ffn_dim: int = 2048,
        kv_in_dim: int = 64,
        rope_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.rope_theta = rope_theta
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(d_model, ffn_dim, kv_in_dim) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        curr: torch.Tensor,
        curr_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int,
        grid_size: tuple[int, int],
    ) -> torch.Tensor:
        """
        Arguments:
          curr (torch.Tensor): (B, h*w, d_model) current-frame features, row-major grid order.
          curr_pos (torch.Tensor): (B, h*w, d_model) their sine position encoding.
          memory (torch.Tensor): (B, M, kv_in_dim) memory tokens: k spatial memories of h*w
            tokens each, then ``num_obj_ptr_tokens`` object-pointer tokens. A dtype other than
            ``curr``'s (e.g. memories stored in bfloat16) is converted to ``curr``'s.
          memory_pos (torch.Tensor): (B, M, kv_in_dim) position encoding of the memory tokens.
          num_obj_ptr_tokens (int): number of trailing pointer tokens (not rotated).
          grid_size (tuple[int, int]): (h, w) of the feature grid.

        Returns:
          (B, h*w, d_model) memory-conditioned features.
        """
        height, width = grid_size
        num_tokens = height * width
        num_spatial = memory.shape[1] - num_obj_ptr_tokens
        if curr.shape[1] != num_tokens:
            raise ValueError(f"curr has {curr.shape[1]} tokens, grid {grid_size} has {num_tokens}")
        if num_spatial < 0 or num_spatial % num_tokens:
            raise ValueError(
                f"{memory.shape[1]} memory tokens minus {num_obj_ptr_tokens} pointer tokens is "
                f"not a whole number of {grid_size} memory frames"
            )
        table = rotary_table(self.d_model, grid_size, self.rope_theta, curr.device)
        memory = memory.to(curr.dtype)
        memory_keys = memory + memory_pos.to(curr.dtype)  # (B, M, kv_in_dim), shared by layers

        x = curr + 0.1 * curr_pos
        for layer in self.layers:
            x = layer(x, memory_keys, memory, table, num_spatial)
        return self.norm(x)
