"""The CF block against a dense solve of its ridge regression, and its crop / correlation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_tracking.trackers.mmnet.cf_block import (CorrelationFilterBlock, ScoreAdjust,
                                                   cross_correlate, solve_correlation_filter)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def circulant(signal: np.ndarray) -> np.ndarray:
    """Rows u, columns t: signal[(t + u) mod grid] (2-D shifts flattened)."""
    h, w = signal.shape
    n = h * w
    out = np.zeros((n, n))
    for uy in range(h):
        for ux in range(w):
            for ty in range(h):
                for tx in range(w):
                    out[uy * w + ux, ty * w + tx] = signal[(ty + uy) % h, (tx + ux) % w]
    return out


def test_closed_form_equals_a_dense_ridge_regression_solve():
    rng = np.random.default_rng(0)
    channels, h, w, lam = 3, 3, 4, 0.3
    x = rng.standard_normal((channels, h, w))
    y = rng.standard_normal((h, w))
    n = h * w
    # 1/(2n) || sum_c X_c w_c - y ||^2 + lam/2 ||w||^2  ->  (A'A/n + lam I) w = A'y/n
    design = np.concatenate([circulant(x[c]) for c in range(channels)], axis=1)
    dense = np.linalg.solve(design.T @ design / n + lam * np.eye(channels * n),
                            design.T @ y.reshape(-1) / n).reshape(channels, h, w)
    fast = solve_correlation_filter(torch.tensor(x[None]), torch.tensor(y), lam)[0].numpy()
    np.testing.assert_allclose(fast, dense, rtol=1e-9, atol=1e-10)
    # the filter's response on its own sample approximates the label (small lambda)
    sharp = solve_correlation_filter(torch.tensor(x[None]), torch.tensor(y), 1e-6)[0].numpy()
    response = design @ sharp.reshape(-1)
    np.testing.assert_allclose(response, y.reshape(-1), atol=1e-3)


def test_the_solution_is_differentiable():
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: solve_correlation_filter(t, y, 0.5), (x,))


def test_block_windows_solves_and_crops_the_centre():
    block = CorrelationFilterBlock((8, 8), 4, regularization=0.1, label_sigma=1.0)
    x = torch.randn(2, 3, 8, 8)
    expected = solve_correlation_filter(x * block.window, block.label, 0.1)[..., 2:6, 2:6]
    torch.testing.assert_close(block(x), expected)
    assert float(block.label[0, 0]) == pytest.approx(1.0)        # label peak at zero shift
    with pytest.raises(ValueError, match="crop_cells"):
        CorrelationFilterBlock((8, 8), 3, 0.1, 1.0)
    with pytest.raises(ValueError, match="cells"):
        block(torch.randn(1, 3, 6, 6))


def test_cross_correlation_per_pair_and_shared():
    template = torch.randn(2, 3, 2, 2)
    search = torch.randn(2, 3, 5, 5)
    out = cross_correlate(template, search)
    for b in range(2):
        direct = np.zeros((4, 4))
        for i in range(4):
            for j in range(4):
                direct[i, j] = float((template[b] * search[b, :, i:i + 2, j:j + 2]).sum())
        np.testing.assert_allclose(out[b, 0].numpy(), direct, rtol=1e-5, atol=1e-5)
    shared = cross_correlate(template[:1], search)
    torch.testing.assert_close(shared, F.conv2d(search, template[:1]))
    adjust = ScoreAdjust()
    assert float(adjust(torch.tensor(2.0)).detach()) == pytest.approx(1.5)   # CFNet: x - 0.5
