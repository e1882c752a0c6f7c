"""Memory attention: conditions the current frame's features on the stored memories.

A stack of pre-norm transformer layers over the current frame's stride-16 tokens. Each layer
runs rotary self-attention, rotary cross-attention to the memory tokens (spatial memories of
earlier frames followed by object-pointer tokens), and a ReLU feed-forward block. Everything
is batch-first; all attention is single-head with head width ``d_model``.

Cross-attention on the CPU attends over the narrow memory tokens (64 wide) and applies the
value projection afterwards. The projection is affine and every row of attention weights sums
to one, so this gives the same result as projecting first, with a quarter of the work in the
weighted sum (over a third less arithmetic in cross-attention, the costliest part of a frame).
GPUs keep the fused kernel, which wants equal query and value widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import add_residual
from .rope import apply_rotary_, rotary_table

#: Bytes of attention weights held at once by :func:`attend_in_query_chunks`.
ATTENTION_CHUNK_BYTES = 32 * 1024 * 1024


def attend_in_query_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Single-head softmax attention, computed a block of queries at a time.

    Same arithmetic as the unfused ``scaled_dot_product_attention``, but the weights of only
    one block of queries (at most ``ATTENTION_CHUNK_BYTES``) exist at a time, in one reused
    buffer. Unlike the fused CPU kernel it accepts values narrower than the keys.

    Arguments:
      q (torch.Tensor): (B, T, C) queries.
      k (torch.Tensor): (B, M, C) keys.
      v (torch.Tensor): (B, M, Cv) values.

    Returns:
      (B, T, Cv).
    """
    num_queries, num_keys = q.shape[1], k.shape[1]
    rows = max(1, min(num_queries, ATTENTION_CHUNK_BYTES // (q.element_size() * num_keys)))
    q = q * q.shape[-1] ** -0.5
    out = q.new_empty(q.shape[0], num_queries, v.shape[-1])  # (B, T, Cv)
    weights = q.new_empty(rows, num_keys)  # (rows, M), reused by every block
    for b in range(q.shape[0]):
        keys_t = k[b].t()  # (C, M)
        for start in range(0, num_queries, rows):
            stop = min(start + rows, num_queries)
            block = weights[: stop - start]
            torch.mm(q[b, start:stop], keys_t, out=block)
            torch.softmax(block, dim=-1, out=block)
            torch.mm(block, v[b], out=out[b, start:stop])
    return out


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
        narrow_values = values.shape[-1] < q.shape[-1]
        on_cpu = q.device.type == "cpu" and q.dtype == k.dtype == values.dtype
        # the blockwise path writes into buffers (out=), which autograd cannot follow
        if narrow_values and on_cpu and not torch.is_grad_enabled():
            out = self.v_proj(attend_in_query_chunks(q, k, values))  # (B, T, C)
        else:
            v = self.v_proj(values)
            # one head; the fused kernels want (B, heads, tokens, width)
            out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return self.out_proj(out)


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
        x = add_residual(self.self_attn(y, y, y, table, y.shape[1]), x)
        y = self.norm2(x)
        attended = self.cross_attn_image(y, memory_keys, memory, table, num_spatial_memory)
        x = add_residual(attended, x)
        y = self.norm3(x)
        return add_residual(self.linear2(F.relu(self.linear1(y), inplace=True)), x)


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
            tokens each, then ``num_obj_ptr_tokens`` object-pointer tokens.
          memory_pos (torch.Tensor): (B, M, kv_in_dim) position encoding of the memory tokens.
          All four are converted to the dtype of the layers' weights (e.g. memories stored in
          bfloat16 to float32, or everything to bfloat16 in a reduced-precision copy).
          num_obj_ptr_tokens (int): number of trailing pointer tokens (not rotated).
          grid_size (tuple[int, int]): (h, w) of the feature grid.

        Returns:
          (B, h*w, d_model) memory-conditioned features, in the weights' dtype.
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
        dtype = self.norm.weight.dtype
        memory = memory.to(dtype)
        memory_keys = memory + memory_pos.to(dtype)  # (B, M, kv_in_dim), shared by layers

        x = curr.to(dtype) + 0.1 * curr_pos.to(dtype)
        for layer in self.layers:
            x = layer(x, memory_keys, memory, table, num_spatial)
        return self.norm(x)
