"""Small building blocks shared by several SAM 2 components."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) map.

    Statistics and normalisation are computed in float32 also for bf16/fp16 maps, which come
    back in their own dtype.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.to(torch.promote_types(dtype, torch.float32))  # no-op for float32
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        weight, bias = self.weight.to(x.dtype), self.bias.to(x.dtype)
        return (weight[:, None, None] * x + bias[:, None, None]).to(dtype)


def activate_in_place(activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``activation(x)``, written over ``x`` when autograd is off (``x`` must be the caller's own
    fresh tensor). Saves allocating and page-faulting a second tensor of ``x``'s size: the image
    encoder's MLP hidden layers alone are about 450 MB per frame at a 1024 input.

    GELU and ReLU are done in place; other activations, and any call under autograd (GELU's
    backward needs its input), allocate as usual.
    """
    if torch.is_grad_enabled():
        return activation(x)
    if isinstance(activation, nn.GELU):
        return torch.ops.aten.gelu_(x, approximate=activation.approximate)
    if isinstance(activation, nn.ReLU):
        return x.relu_()
    return activation(x)


def add_residual(sublayer_out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``residual + sublayer_out``, summed into ``sublayer_out`` (a fresh tensor the caller owns)
    when that gives the same tensor: same shape and dtype. Under autocast the two differ in
    dtype (bf16 sublayer output, fp32 stream) and the sum is taken out of place, promoted."""
    if sublayer_out.dtype == residual.dtype and sublayer_out.shape == residual.shape:
        return sublayer_out.add_(residual)
    return residual + sublayer_out


class MLP(nn.Module):
    """A stack of Linear layers with an activation between them (none after the last).

    The layers live in ``self.layers`` (``layers.0``, ``layers.1``, ...), as in the official
    checkpoints.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out, strict=True))
        self.act = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = activate_in_place(self.act, x)
        return torch.sigmoid(x) if self.sigmoid_output else x
