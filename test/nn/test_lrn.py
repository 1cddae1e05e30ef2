"""rgbt_tracking.nn.lrn against torch.nn.LocalResponseNorm (the definition it reproduces)."""
from __future__ import annotations

import pytest
import torch

from rgbt_tracking.nn.lrn import LocalResponseNorm, local_response_norm


@pytest.mark.parametrize("size, alpha, beta, k", [
    (5, 5e-4, 0.75, 2.0),    # MDNet / VGG-M (Caffe norm1, norm2)
    (5, 1e-4, 0.75, 1.0),    # AlexNet
    (4, 1e-3, 0.5, 1.0),     # even window: one channel more before than after
    (1, 1e-2, 1.0, 0.5),
])
@pytest.mark.parametrize("shape", [(2, 7, 9, 11), (1, 96, 31, 29), (3, 3, 5)])
def test_matches_torch_local_response_norm(size, alpha, beta, k, shape):
    generator = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(shape, generator=generator)) * 60.0   # conv-sized activations
    expected = torch.nn.LocalResponseNorm(size, alpha, beta, k)(x)
    got = LocalResponseNorm(size, alpha, beta, k)(x)
    assert got.shape == x.shape and got.dtype == x.dtype
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_gradient_matches_torch():
    x = (torch.randn(2, 6, 4, 5, dtype=torch.float64) * 20).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: local_response_norm(t, 5, 5e-4, 0.75, 2.0), (x,))
    weights = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    (ours,) = torch.autograd.grad((local_response_norm(x, 5, 5e-4, 0.75, 2.0) * weights).sum(), x)
    (theirs,) = torch.autograd.grad(
        (torch.nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0)(x) * weights).sum(), x)
    torch.testing.assert_close(ours, theirs)


def test_empty_batch():
    assert local_response_norm(torch.ones(0, 4, 3, 3), 5).shape == (0, 4, 3, 3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="shape"):
        local_response_norm(torch.ones(3, 4), 5)
    with pytest.raises(ValueError, match="size"):
        local_response_norm(torch.ones(1, 3, 4), 0)
