"""Adaptive RoIAlign against a direct per-sample bilinear computation in numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgbt_tracking.nn.roi_align import RoIAlign, adaptive_grid, roi_align

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bilinear_read(feature: np.ndarray, y: float, x: float) -> np.ndarray:
    """Mask R-CNN's bilinear read of (C, H, W) at one point, branch by branch."""
    _, height, width = feature.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(feature.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * feature[:, y_low, x_low] + hy * lx * feature[:, y_low, x_high]
            + ly * hx * feature[:, y_high, x_low] + ly * lx * feature[:, y_high, x_high])


def direct_roi_align(features, roi, out, scale, sampling_ratio, aligned, reduction):
    """Loop over bins and sample points; returns (C, h, w)."""
    b, x1, y1, x2, y2 = roi
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v * scale - offset for v in (x1, y1, x2, y2))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    out_h, out_w = out
    bin_h, bin_w = roi_h / out_h, roi_w / out_w
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
    feature = features[int(b)]
    result = np.zeros((feature.shape[0], out_h, out_w))
    for p in range(out_h):
        for q in range(out_w):
            values = [bilinear_read(feature, y1 + p * bin_h + (iy + 0.5) * bin_h / grid_h,
                                    x1 + q * bin_w + (ix + 0.5) * bin_w / grid_w)
                      for iy in range(grid_h) for ix in range(grid_w)]
            if not values:
                continue
            stacked = np.stack(values)
            result[:, p, q] = stacked.mean(0) if reduction == "mean" else stacked.max(0)
    return result


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 6, 8, generator=generator, dtype=torch.float64)


ROIS = [
    [0, 8.0, 4.0, 40.0, 36.0],        # inside, 4x4 cells: adaptive grid 2 x 2
    [1, 3.3, 5.7, 27.9, 30.1],        # fractional corners
    [0, -20.5, -9.0, 12.2, 14.4],     # partly outside, top-left (samples below -1 read 0)
    [1, 44.0, 30.0, 75.0, 58.0],      # partly outside, bottom-right (beyond W - 1 and W)
    [0, 90.0, 70.0, 120.0, 99.0],     # fully outside
    [1, 10.0, 10.0, 12.0, 13.0],      # smaller than one cell
    [0, 0.0, 0.0, 63.0, 47.0],        # the whole map: grid 3 x 2
]


@pytest.mark.parametrize("reduction", ["mean", "max"])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_matches_direct_bilinear_computation(features, reduction, aligned, sampling_ratio):
    scale, out = 0.125, (2, 3)
    rois = torch.tensor(ROIS, dtype=torch.float64)
    got = roi_align(features, rois, out, scale, sampling_ratio, aligned, reduction)
    assert got.shape == (len(ROIS), 3, 2, 3)
    for index, roi in enumerate(ROIS):
        want = direct_roi_align(features.numpy(), roi, out, scale, sampling_ratio, aligned, reduction)
        np.testing.assert_allclose(got[index].numpy(), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"roi {roi}")


def test_values_by_hand_on_a_ramp():
    # f(y, x) = 10 y + x is reproduced exactly by bilinear interpolation inside the map.
    # RoI [8, 8, 24, 24] px at scale 1/4 -> cells [2, 6] x [2, 6], one bin, adaptive grid
    # ceil(4 / 1) = 4 points per side at 2.5, 3.5, 4.5, 5.5 -> mean 4 per axis -> 44.
    ys, xs = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij")
    ramp = torch.tensor(10 * ys + xs)[None, None]
    pooled = roi_align(ramp, torch.tensor([[0, 8.0, 8.0, 24.0, 24.0]], dtype=torch.float64), 1, 0.25)
    assert pooled.item() == pytest.approx(44.0)
    top = roi_align(ramp, torch.tensor([[0, 8.0, 8.0, 24.0, 24.0]], dtype=torch.float64), 1, 0.25,
                    reduction="max")
    assert top.item() == pytest.approx(60.5)   # the last sample: 10 * 5.5 + 5.5


def test_adaptive_grid_counts():
    sides = torch.tensor([0.5, 3.0, 3.1, 9.0])
    assert adaptive_grid(sides, 3, 0).tolist() == [1, 1, 2, 3]
    assert adaptive_grid(sides, 3, 2).tolist() == [2, 2, 2, 2]


def test_many_rois_on_several_images_match_one_by_one(features):
    generator = torch.Generator().manual_seed(5)
    corners = torch.rand(300, 2, generator=generator, dtype=torch.float64) * 60
    sides = torch.rand(300, 2, generator=generator, dtype=torch.float64) * 30 + 1
    images = torch.randint(0, 2, (300, 1), generator=generator).to(torch.float64)
    rois = torch.cat([images, corners, corners + sides], dim=1)
    together = roi_align(features, rois, 3, 0.125)
    for index in (0, 17, 150, 299):
        alone = roi_align(features, rois[index:index + 1], 3, 0.125)
        torch.testing.assert_close(together[index], alone[0])


@pytest.mark.parametrize("reduction", ["mean", "max"])
def test_gradient_in_features(reduction):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(1, 2, 4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.5, 2.0, 30.0, 25.0], [0, -4.0, 3.0, 13.0, 40.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, 2, 0.125, reduction=reduction),
                                    (features,))


def test_module_and_empty_rois(features):
    module = RoIAlign(3, 0.125, reduction="max")
    assert module(features, torch.zeros(0, 5, dtype=torch.float64)).shape == (0, 3, 3, 3)
    assert "reduction='max'" in repr(module)


@pytest.mark.parametrize("rois, message", [
    (torch.zeros(2, 4), "rois must be"),
    (torch.tensor([[2.0, 0, 0, 8, 8]]), "batch indices must lie"),
    (torch.tensor([[0.5, 0, 0, 8, 8]]), "integer batch indices"),
    (torch.tensor([[0.0, 0, float("nan"), 8, 8]]), "NaN"),
])
def test_bad_rois_raise(rois, message):
    with pytest.raises(ValueError, match=message):
        roi_align(torch.zeros(2, 1, 4, 4), rois, 3, 0.125)


def test_bad_settings_raise():
    features, rois = torch.zeros(1, 1, 4, 4), torch.tensor([[0.0, 0, 0, 8, 8]])
    with pytest.raises(ValueError, match="reduction"):
        roi_align(features, rois, 3, 0.125, reduction="sum")
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(features, rois, 3, 0.125, sampling_ratio=-1)
    with pytest.raises(ValueError, match="spatial_scale"):
        RoIAlign(3, 0.0)
    with pytest.raises(ValueError, match="features"):
        roi_align(torch.zeros(1, 4, 4), rois, 3, 0.125)
