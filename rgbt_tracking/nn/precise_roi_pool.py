"""Precise RoI Pooling in plain torch (exact, differentiable in features and box coordinates).

Jiang et al., "Acquisition of Localization Confidence for Accurate Object Detection" (ECCV
2018), Sec. 3.3; the pooling of IoU-Net used by ATOM and DiMP. The feature map is read as
samples at integer coordinates (pixel (i, j) sits at x = j, y = i in feature units) of the
continuous bilinear interpolation

    f(x, y) = sum_ij F_ij k(x - j) k(y - i),   k(d) = max(0, 1 - |d|)

(zero beyond one pixel outside the map). A bin [x1, x2] x [y1, y2] pools the average

    PrPool = 1 / ((x2 - x1)(y2 - y1)) * integral_{y1}^{y2} integral_{x1}^{x2} f(x, y) dx dy
           = 1 / area * sum_ij F_ij Kx_j Ky_i,    Kx_j = integral_{x1}^{x2} k(x - j) dx,

which separates per axis. ``Kx_j = H(x2 - j) - H(x1 - j)`` with ``H`` the antiderivative of the
hat function, so every bin's weights are closed-form and smooth in the coordinates: the output
is differentiable w.r.t. the RoI corners, which IoU-Net's box refinement follows by gradient
ascent. Empty or inverted bins pool to zero.
"""
from __future__ import annotations

from typing import Tuple, Union

import torch
from torch import nn

PooledSize = Union[int, Tuple[int, int]]


def _hat_antiderivative(u: torch.Tensor) -> torch.Tensor:
    """H(u) = integral_{-inf}^{u} max(0, 1 - |d|) dd: 0 below -1, 1 above 1, quadratic between."""
    u = u.clamp(-1.0, 1.0)
    return torch.where(u <= 0, 0.5 * (u + 1.0) ** 2, 1.0 - 0.5 * (1.0 - u) ** 2)


def _axis_weights(start: torch.Tensor, end: torch.Tensor, bins: int, size: int) -> torch.Tensor:
    """Per-bin averaging weights along one axis.

    Args:
        start, end: (K,) RoI extent in feature units.
        bins: number of output bins along the axis.
        size: number of feature samples along the axis.

    Returns:
        (K, bins, size): (1 / bin length) * integral over the bin of k(t - n), for sample n;
        all zero for an RoI with end <= start.
    """
    length = (end - start) / bins                                    # (K,)
    valid = length > 0
    safe_length = torch.where(valid, length, torch.ones_like(length))
    steps = torch.arange(bins + 1, dtype=start.dtype, device=start.device)
    edges = start[:, None] + safe_length[:, None] * steps             # (K, bins + 1)
    samples = torch.arange(size, dtype=start.dtype, device=start.device)
    primitive = _hat_antiderivative(edges[:, :, None] - samples)      # (K, bins + 1, size)
    integral = primitive[:, 1:] - primitive[:, :-1]                   # (K, bins, size)
    weights = integral / safe_length[:, None, None]
    return torch.where(valid[:, None, None], weights, torch.zeros_like(weights))


def _pooled_pair(pooled_size: PooledSize) -> Tuple[int, int]:
    if isinstance(pooled_size, int):
        pooled_size = (pooled_size, pooled_size)
    if len(pooled_size) != 2 or any(int(n) != n or n < 1 for n in pooled_size):
        raise ValueError(f"pooled_size must be a positive int or (ph, pw), got {pooled_size!r}")
    return int(pooled_size[0]), int(pooled_size[1])


def precise_roi_pool(features: torch.Tensor, rois: torch.Tensor, pooled_size: PooledSize,
                     spatial_scale: float) -> torch.Tensor:
    """Precise RoI Pooling of ``rois`` over ``features``.

    Coordinate convention (pytracking's PrRoIPool2D): a feature coordinate is the image
    coordinate times ``spatial_scale``, without a half-pixel shift; feature sample (i, j)
    is at (x=j, y=i). An RoI [x1, x2] x [y1, y2] is split into ph x pw equal bins.

    Args:
        features: (B, C, H, W) float.
        rois: (K, 5) rows [batch_index, x1, y1, x2, y2]; corners in input-image pixels.
            batch_index must be an integer value in [0, B).
        pooled_size: ph = pw = int, or (ph, pw).
        spatial_scale: feature units per image pixel (e.g. 1/16 for a stride-16 map).

    Returns:
        (K, C, ph, pw): the average of the bilinear interpolation of ``features`` over each
        bin (parts outside the map count as zero); zeros for an RoI with x2 <= x1 or y2 <= y1.
        Differentiable w.r.t. ``features`` and the corner columns of ``rois``.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"features must be floating point, got {features.dtype}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch_index, x1, y1, x2, y2], got {tuple(rois.shape)}")
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
    ph, pw = _pooled_pair(pooled_size)
    batch, channels, height, width = features.shape
    count = rois.shape[0]
    if count == 0:
        return features.new_zeros((0, channels, ph, pw))
    if not torch.isfinite(rois).all():
        raise ValueError("rois contain NaN or infinite values")

    batch_index = rois[:, 0].detach().round()
    if (rois[:, 0].detach() - batch_index).abs().max() > 1e-3:
        raise ValueError(f"rois[:, 0] must hold integer batch indices, got {rois[:, 0].tolist()}")
    batch_index = batch_index.long()
    if batch_index.min() < 0 or batch_index.max() >= batch:
        raise ValueError(f"rois[:, 0] batch indices must lie in [0, {batch}), "
                         f"got {sorted(set(batch_index.tolist()))}")

    corners = rois[:, 1:].to(features.dtype) * spatial_scale            # (K, 4) feature units
    x1, y1, x2, y2 = corners.unbind(dim=1)
    weights_y = _axis_weights(y1, y2, ph, height)                       # (K, ph, H)
    weights_x = _axis_weights(x1, x2, pw, width)                        # (K, pw, W)

    pooled = features.new_zeros((count, channels, ph, pw))
    for image in batch_index.unique().tolist():
        rows = (batch_index == image).nonzero(as_tuple=True)[0]
        partial = torch.einsum("chw,kqw->kchq", features[image], weights_x[rows])
        pooled = pooled.index_put((rows,), torch.einsum("kchq,kph->kcpq", partial, weights_y[rows]))
    return pooled


class PreciseRoIPool(nn.Module):
    """Module form of :func:`precise_roi_pool` with fixed ``pooled_size`` and ``spatial_scale``."""

    def __init__(self, pooled_size: PooledSize, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_size = _pooled_pair(pooled_size)
        if not spatial_scale > 0:
            raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) features, (K, 5) rois -> (K, C, ph, pw); see :func:`precise_roi_pool`."""
        return precise_roi_pool(features, rois, self.pooled_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"pooled_size={self.pooled_size}, spatial_scale={self.spatial_scale}"
