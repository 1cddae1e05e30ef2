"""Adaptive RoIAlign in plain torch (RT-MDNet's candidate feature extraction).

He et al., "Mask R-CNN" (ICCV 2017), Sec. 3: RoIAlign splits an RoI into h x w bins, reads
the feature map by bilinear interpolation at a regular grid of sample points in each bin
and pools the samples of a bin. RT-MDNet (Jung et al., ECCV 2018, Sec. 3.2 "Improved
RoIAlign") makes the grid *adaptive*: the number of sample points per bin grows with the
RoI size, so that large RoIs are not read through a few isolated points. M5L and CMI take
their candidate features this way.

Sampling rule: the one of Detectron's and torchvision's RoIAlign with its adaptive grid
(``sampling_ratio=0``); RT-MDNet's own CUDA kernels are not reproduced bit for bit:

* RoI corners in feature units: ``x1 * spatial_scale - offset`` ..., ``offset`` = 0.5 when
  ``aligned`` (pixel centres at half-integers) else 0; without ``aligned`` an RoI side is
  at least one feature cell.
* bin side ``b = roi_side / out``; ``g = sampling_ratio`` points per bin side, or
  ``ceil(roi_side / out)`` when ``sampling_ratio == 0`` (adaptive); point ``i`` of bin ``p``
  sits at ``start + p * b + (i + 0.5) * b / g``.
* bilinear read at (y, x): a point with ``y < -1`` or ``y > H`` (same for x) reads 0; other
  points are clamped into ``[0, H - 1]`` (resp. ``[0, W - 1]``) and read with the usual
  four-neighbour weights. This equals the separable hat weights
  ``k(clamp(y) - i) * k(clamp(x) - j)``, ``k(d) = max(0, 1 - |d|)``, which is how it is
  computed here: per axis, then contracted with the features (no per-RoI loop).
* pooling: ``"mean"`` (Mask R-CNN: sum of the g_h x g_w samples / (g_h g_w)) or ``"max"``
  (RT-MDNet's released code pools with ``RoIAlignAdaMax``, the maximum of the samples).
  "mean" is separable and cheap (two contractions per image); "max" materialises every
  sample, (K, C, h, w, g_h, g_w) values, and is several times slower on the CPU.

The output is differentiable w.r.t. the features (sample positions depend on the RoIs only
through the discrete grid and the clamps, as in every RoIAlign; no gradient flows to rois).
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.precise_roi_pool import PooledSize, _pooled_pair

REDUCTIONS = ("mean", "max")


def _hat(distance: torch.Tensor) -> torch.Tensor:
    """k(d) = max(0, 1 - |d|): the weight of a sample at distance d of a feature cell."""
    return (1.0 - distance.abs()).clamp(min=0.0)


def _sample_weights(start: torch.Tensor, length: torch.Tensor, bins: int, grid: torch.Tensor,
                    size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Bilinear weights of every sample point along one axis.

    Args:
        start, length: (K,) RoI start and side in feature units.
        bins: output bins along the axis.
        grid: (K,) sample points per bin (integers >= 0).
        size: feature cells along the axis.

    Returns:
        weights (K, bins, G, size) with G = max(grid) (zero for points past ``grid``) and
        valid (K, G): which of the G point slots exist for each RoI.
    """
    most = max(int(grid.max().item()), 1)
    slots = torch.arange(most, dtype=start.dtype, device=start.device)            # (G,)
    valid = slots[None, :] < grid[:, None].to(start.dtype)                         # (K, G)
    safe_grid = grid.clamp(min=1).to(start.dtype)
    bin_side = length / bins                                                       # (K,)
    bin_index = torch.arange(bins, dtype=start.dtype, device=start.device)         # (bins,)
    positions = (start[:, None, None] + bin_index[None, :, None] * bin_side[:, None, None]
                 + (slots[None, None, :] + 0.5) * (bin_side / safe_grid)[:, None, None])
    inside = (positions >= -1.0) & (positions <= float(size))                      # (K, bins, G)
    clamped = positions.clamp(0.0, float(size - 1))
    cells = torch.arange(size, dtype=start.dtype, device=start.device)
    weights = _hat(clamped[..., None] - cells)                          # (K, bins, G, size)
    keep = inside & valid[:, None, :]
    return weights * keep[..., None].to(weights.dtype), valid


def _checked_batch_index(rois: torch.Tensor, batch: int) -> torch.Tensor:
    """rois[:, 0] as long indices; ValueError unless integer-valued and within [0, batch)."""
    column = rois[:, 0].detach()
    index = column.round()
    if not torch.equal(index, column):
        raise ValueError(f"rois[:, 0] must be integer batch indices, got {column.tolist()}")
    index = index.long()
    outside = (index < 0) | (index >= batch)
    if outside.any():
        raise ValueError(f"rois[:, 0] batch indices must lie in [0, {batch}), got "
                         f"{sorted(set(index[outside].tolist()))}")
    return index


def adaptive_grid(roi_side: torch.Tensor, bins: int, sampling_ratio: int) -> torch.Tensor:
    """Sample points per bin side: ``sampling_ratio`` if > 0, else ceil(roi_side / bins).

    Args:
        roi_side: (K,) RoI side in feature units.
        bins: output bins along that side.
        sampling_ratio: fixed count (> 0) or 0 for the adaptive rule.

    Returns:
        (K,) long tensor.
    """
    if sampling_ratio > 0:
        return torch.full(roi_side.shape, int(sampling_ratio), dtype=torch.long,
                          device=roi_side.device)
    return torch.ceil(roi_side / bins).long()


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: PooledSize,
              spatial_scale: float, sampling_ratio: int = 0, aligned: bool = False,
              reduction: str = "mean") -> torch.Tensor:
    """RoIAlign of ``rois`` over ``features`` with an adaptive sampling grid.

    Args:
        features: (B, C, H, W) float feature maps.
        rois: (K, 5) rows [batch_index, x1, y1, x2, y2], corners in input-image pixels.
        output_size: h = w = int, or (h, w) bins.
        spatial_scale: feature cells per image pixel (1/8 for VGG-M conv3 of RT-MDNet).
        sampling_ratio: sample points per bin side; 0 = adaptive ceil(roi_side / bins).
        aligned: shift by half a pixel (pixel centres at half-integer coordinates).
        reduction: "mean" (Mask R-CNN) or "max" (RT-MDNet's RoIAlignAdaMax).

    Returns:
        (K, C, h, w): pooled bilinear samples; 0 for a bin without sample points.

    Raises:
        ValueError: bad shapes, non-finite rois, batch indices that are not integers in
            [0, B), negative sampling_ratio, non-positive spatial_scale, unknown reduction.
    """
    if features.dim() != 4 or not features.is_floating_point():
        raise ValueError(f"features must be a float (B, C, H, W) tensor, got "
                         f"{features.dtype} of shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch_index, x1, y1, x2, y2], "
                         f"got shape {tuple(rois.shape)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if int(sampling_ratio) != sampling_ratio or sampling_ratio < 0:
        raise ValueError(f"sampling_ratio must be an int >= 0 (0: adaptive), "
                         f"got {sampling_ratio!r}")
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
    out_h, out_w = _pooled_pair(output_size)
    batch, channels, height, width = features.shape
    if rois.shape[0] == 0:
        return features.new_zeros((0, channels, out_h, out_w))
    if not torch.isfinite(rois).all():
        raise ValueError("rois contain NaN or infinite values")
    batch_index = _checked_batch_index(rois, batch)

    offset = 0.5 if aligned else 0.0
    corners = rois[:, 1:].detach().to(features.dtype) * spatial_scale - offset
    x1, y1, x2, y2 = corners.unbind(dim=1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:   # Mask R-CNN's legacy rule: an RoI covers at least one cell
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    grid_h = adaptive_grid(roi_h, out_h, int(sampling_ratio))
    grid_w = adaptive_grid(roi_w, out_w, int(sampling_ratio))
    weights_y, valid_y = _sample_weights(y1, roi_h, out_h, grid_h, height)   # (K, h, Gh, H)
    weights_x, valid_x = _sample_weights(x1, roi_w, out_w, grid_w, width)    # (K, w, Gw, W)

    if reduction == "mean":
        count = (grid_h * grid_w).clamp(min=1).to(features.dtype)            # (K,)
        axis_y = weights_y.sum(dim=2) / count[:, None, None]                  # (K, h, H)
        axis_x = weights_x.sum(dim=2)                                          # (K, w, W)

        def pool(image: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            along_y = torch.einsum("ph,chw->pcw", axis_y[rows].flatten(0, 1), image)
            along_y = along_y.unflatten(0, (len(rows), out_h))               # (k, h, C, W)
            return torch.einsum("kpcw,kqw->kcpq", along_y, axis_x[rows])
    else:
        exists = valid_y[:, :, None] & valid_x[:, None, :]                    # (K, Gh, Gw)
        empty = ~exists.flatten(1).any(dim=1)                                 # (K,)
        lowest = torch.finfo(features.dtype).min

        def pool(image: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            samples = torch.einsum("kpyh,chw,kqxw->kcpqyx", weights_y[rows], image, weights_x[rows])
            hidden = ~exists[rows][:, None, None, None]                       # (k, 1, 1, 1, Gh, Gw)
            pooled = samples.masked_fill(hidden, lowest).amax(dim=(4, 5))
            return pooled.masked_fill(empty[rows][:, None, None, None], 0.0)

    return _pool_by_image(features, batch_index, pool, (out_h, out_w))


def _pool_by_image(features: torch.Tensor, batch_index: torch.Tensor,
                   pool: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   output_size: Tuple[int, int]) -> torch.Tensor:
    """Run ``pool(features[b], rows)`` for the RoIs ``rows`` of every image b once (a loop
    over images, never over RoIs) and place the (len(rows), C, h, w) results in order."""
    channels = features.shape[1]
    pooled = features.new_zeros((batch_index.shape[0], channels) + output_size)
    for image in torch.unique(batch_index).tolist():
        rows = torch.nonzero(batch_index == image).flatten()
        pooled = pooled.index_put((rows,), pool(features[image], rows))
    return pooled


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align` with fixed geometry and pooling."""

    def __init__(self, output_size: PooledSize, spatial_scale: float, sampling_ratio: int = 0,
                 aligned: bool = False, reduction: str = "mean") -> None:
        super().__init__()
        self.output_size = _pooled_pair(output_size)
        if not spatial_scale > 0:
            raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
        if int(sampling_ratio) != sampling_ratio or sampling_ratio < 0:
            raise ValueError(f"sampling_ratio must be an int >= 0, got {sampling_ratio!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)
        self.reduction = reduction

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) features, (K, 5) rois -> (K, C, h, w); see :func:`roi_align`."""
        return roi_align(features, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned, self.reduction)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}, "
                f"reduction={self.reduction!r}")
