"""Precise RoI Pooling against a dense numerical integral of the bilinear interpolation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracking.nn.precise_roi_pool import PreciseRoIPool, precise_roi_pool


def bilinear_zero_padded(feature: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Classic 4-neighbour bilinear interpolation of (C, H, W) at points x, y (same shape),
    reading zero outside the map. Returns (C, *x.shape)."""
    channels, height, width = feature.shape
    padded = np.zeros((channels, height + 4, width + 4))
    padded[:, 2:-2, 2:-2] = feature
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    # clip far-away points to the zero border (index -2 or W+1 are zeros in `padded`)
    xi = np.clip(x0.astype(int), -2, width) + 2
    yi = np.clip(y0.astype(int), -2, height) + 2
    return ((1 - fx) * (1 - fy) * padded[:, yi, xi] + fx * (1 - fy) * padded[:, yi, xi + 1]
            + (1 - fx) * fy * padded[:, yi + 1, xi] + fx * fy * padded[:, yi + 1, xi + 1])


def numerical_pool(features: np.ndarray, roi, pooled: tuple, scale: float, samples: int = 200):
    """Midpoint-rule average over each bin with samples x samples points."""
    b, x1, y1, x2, y2 = roi
    x1, y1, x2, y2 = (v * scale for v in (x1, y1, x2, y2))
    ph, pw = pooled
    bw, bh = (x2 - x1) / pw, (y2 - y1) / ph
    offsets = (np.arange(samples) + 0.5) / samples
    out = np.zeros((features.shape[1], ph, pw))
    for p in range(ph):
        for q in range(pw):
            ys = y1 + (p + offsets) * bh
            xs = x1 + (q + offsets) * bw
            gx, gy = np.meshgrid(xs, ys)
            out[:, p, q] = bilinear_zero_padded(features[int(b)], gx, gy).mean(axis=(1, 2))
    return out


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(3, 2, 7, 9, generator=generator, dtype=torch.float64)


ROIS = [
    [0, 8.0, 4.0, 24.0, 20.0],        # inside, integer
    [1, 3.3, 5.7, 17.9, 22.1],        # inside, fractional
    [2, -6.5, -3.0, 10.2, 9.4],       # partly outside (top-left)
    [1, 20.0, 14.0, 44.0, 33.0],      # partly outside (bottom-right, beyond W - 1 and W)
    [0, 50.0, 40.0, 70.0, 60.0],      # fully outside
    [2, 1.0, 1.0, 2.2, 3.1],          # smaller than one feature cell
]


@pytest.mark.parametrize("roi", ROIS)
def test_matches_numerical_integral(features, roi):
    scale = 0.5
    pooled = (3, 4)
    got = precise_roi_pool(features, torch.tensor([roi], dtype=torch.float64), pooled, scale)[0]
    want = numerical_pool(features.numpy(), roi, pooled, scale)
    assert got.shape == (2, 3, 4)
    scale_of_values = max(np.abs(want).max(), 1e-2)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-3 * scale_of_values)


def test_batch_of_rois_in_any_order_matches_one_by_one(features):
    rois = torch.tensor(ROIS, dtype=torch.float64)
    together = precise_roi_pool(features, rois, 2, 0.5)
    for index, roi in enumerate(ROIS):
        alone = precise_roi_pool(features, torch.tensor([roi], dtype=torch.float64), 2, 0.5)
        torch.testing.assert_close(together[index], alone[0])
    fully_outside = together[4]
    assert torch.count_nonzero(fully_outside) == 0


def test_constant_map_gives_the_constant_inside_and_ramps_down_outside():
    features = torch.full((1, 1, 6, 6), 2.5)
    inside = precise_roi_pool(features, torch.tensor([[0, 0.0, 0.0, 5.0, 5.0]]), 5, 1.0)
    torch.testing.assert_close(inside, torch.full_like(inside, 2.5))
    # The bin [5, 6] in x lies past the last sample at x = 5: f falls linearly 2.5 -> 0,
    # so its mean is 1.25.
    edge = precise_roi_pool(features, torch.tensor([[0, 5.0, 0.0, 6.0, 5.0]]), (1, 1), 1.0)
    torch.testing.assert_close(edge, torch.full_like(edge, 1.25))


def test_spatial_scale_maps_image_pixels_to_feature_units(features):
    image_roi = torch.tensor([[1, 16.0, 8.0, 48.0, 40.0]], dtype=torch.float64)
    feature_roi = torch.tensor([[1, 2.0, 1.0, 6.0, 5.0]], dtype=torch.float64)
    torch.testing.assert_close(precise_roi_pool(features, image_roi, 3, 1 / 8),
                               precise_roi_pool(features, feature_roi, 3, 1.0))


def test_empty_and_inverted_rois_give_zeros_without_nan(features):
    rois = torch.tensor([[0, 4.0, 4.0, 4.0, 10.0], [0, 8.0, 4.0, 2.0, 10.0],
                         [1, 1.0, 6.0, 8.0, 3.0]], dtype=torch.float64, requires_grad=True)
    feats = features.clone().requires_grad_(True)
    out = precise_roi_pool(feats, rois, 2, 1.0)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert torch.isfinite(rois.grad).all() and torch.isfinite(feats.grad).all()


def test_gradcheck_features_and_coordinates():
    generator = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 2, 4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    batch = torch.tensor([[0.0], [1.0], [1.0]], dtype=torch.float64)
    # Corners avoid integer feature coordinates, where the hat kernel has a kink.
    corners = torch.tensor([[0.3, 0.45, 2.7, 2.55], [-0.6, 1.15, 3.35, 4.45],
                            [2.2, -0.7, 5.3, 2.85]], dtype=torch.float64, requires_grad=True)

    def pool(f, c):
        return precise_roi_pool(f, torch.cat([batch, c], dim=1), (2, 3), 1.0)

    assert torch.autograd.gradcheck(pool, (feats, corners), eps=1e-6, atol=1e-6)


def test_coordinate_gradient_moves_box_towards_the_bright_spot():
    features = torch.zeros(1, 1, 10, 10)
    features[0, 0, 6, 7] = 1.0
    corners = torch.tensor([[2.0, 2.0, 6.5, 5.5]], requires_grad=True)
    pooled = precise_roi_pool(features, torch.cat([torch.zeros(1, 1), corners], 1), 1, 1.0)
    pooled.sum().backward()
    # Extending the right/bottom edges gains mass at (x=7, y=6): positive gradient on x2, y2.
    assert corners.grad[0, 2] > 0 and corners.grad[0, 3] > 0
    # Exact value: pooled = Kx Ky / area with Kx = 1/8 (x in [6, 6.5] under k(x - 7)),
    # Ky = 1/8 (y in [5, 5.5] under k(y - 6)), area = 4.5 * 3.5; d/dx2 = (k(6.5-7) Ky - pooled*3.5)/area.
    area = 4.5 * 3.5
    value = (1 / 8) * (1 / 8) / area
    torch.testing.assert_close(pooled.detach(), torch.full((1, 1, 1, 1), value))
    torch.testing.assert_close(corners.grad[0, 2], torch.tensor((0.5 * (1 / 8) - value * 3.5) / area))


def test_module_wrapper_and_bad_input(features):
    module = PreciseRoIPool((2, 3), 0.25)
    rois = torch.tensor([[2, 1.0, 2.0, 20.0, 18.0]], dtype=torch.float64)
    torch.testing.assert_close(module(features, rois), precise_roi_pool(features, rois, (2, 3), 0.25))
    assert module(features, rois.new_zeros((0, 5))).shape == (0, 2, 2, 3)
    with pytest.raises(ValueError, match="batch indices"):
        precise_roi_pool(features, torch.tensor([[3, 0.0, 0.0, 4.0, 4.0]]).double(), 2, 1.0)
    with pytest.raises(ValueError, match="integer batch"):
        precise_roi_pool(features, torch.tensor([[0.5, 0.0, 0.0, 4.0, 4.0]]).double(), 2, 1.0)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        precise_roi_pool(features, torch.zeros(1, 4).double(), 2, 1.0)
    with pytest.raises(ValueError, match="pooled_size"):
        PreciseRoIPool(0, 1.0)
    with pytest.raises(ValueError, match="spatial_scale"):
        PreciseRoIPool(2, 0.0)
