"""In-place residual sums and activations (``sam2_engine.modeling.common``): same values as the
out-of-place arithmetic, and never in place where that would change a result or break autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sam2_engine.modeling.common import MLP, activate_in_place, add_residual


def test_add_residual_sums_into_the_sublayer_output():
    sublayer_out, residual = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    expected = residual + sublayer_out
    result = add_residual(sublayer_out, residual)
    assert result is sublayer_out
    assert torch.equal(result, expected)


def test_add_residual_under_autocast_dtypes_promotes_and_leaves_both_inputs():
    sublayer_out = torch.randn(4, 8).to(torch.bfloat16)
    residual = torch.randn(4, 8)
    kept = sublayer_out.clone()
    result = add_residual(sublayer_out, residual)
    assert result.dtype == torch.float32
    assert torch.equal(result, residual + kept)
    assert torch.equal(sublayer_out, kept)


@pytest.mark.parametrize(
    ("activation", "reference"),
    [(nn.GELU(), F.gelu), (nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"))]
    + [(nn.ReLU(), F.relu)],
)
def test_activation_is_written_over_its_input_without_autograd(activation, reference):
    x = torch.randn(3, 16)
    expected = reference(x)
    with torch.inference_mode():
        result = activate_in_place(activation, x)
    assert result.data_ptr() == x.data_ptr()
    assert torch.equal(result, expected)


def test_activation_under_autograd_keeps_its_input_and_differentiates():
    x = torch.randn(3, 16, requires_grad=True)
    hidden = x * 2
    kept = hidden.detach().clone()
    out = activate_in_place(nn.GELU(), hidden)
    out.sum().backward()
    assert torch.equal(hidden.detach(), kept)
    assert torch.allclose(x.grad, 2 * torch.func.grad(lambda t: F.gelu(t).sum())(kept))


def test_mlp_gives_the_same_values_with_and_without_autograd():
    torch.manual_seed(0)
    mlp = MLP(8, 32, 8, num_layers=3, activation=nn.GELU)
    x = torch.randn(5, 8)
    with torch.inference_mode():
        fast = mlp(x)
    trained = mlp(x)
    trained.sum().backward()
    assert torch.equal(fast, trained.detach())
    assert mlp.layers[0].weight.grad is not None
