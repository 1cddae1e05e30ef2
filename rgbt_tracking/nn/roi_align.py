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
  four-neighbour weights (equivalently the separable hat weights
  ``k(clamp(y) - i) * k(clamp(x) - j)``, ``k(d) = max(0, 1 - |d|)``). Every sample point
  of every RoI of an image is read by one ``grid_sample`` call (``align_corners=True`` on
  the clamped coordinates; no per-RoI loop).
* pooling: ``"mean"`` (Mask R-CNN: sum of the g_h x g_w samples / (g_h g_w)) or ``"max"``
  (RT-MDNet's released code pools with ``RoIAlignAdaMax``, the maximum of the samples).
  Both read (C, K, h, G_h, w, G_w) samples, G the largest grid of the RoIs: a RoI with a
  smaller grid repeats its last point (harmless for "max") or masks the extra slots
  ("mean").

The output is differentiable w.r.t. the features (sample positions depend on the RoIs only
through the discrete grid and the clamps, as in every RoIAlign; no gradient flows to rois).
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.precise_roi_pool import PooledSize, _pooled_pair

REDUCTIONS = ("mean", "max")


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
    pos_y, inside_y, valid_y = _sample_positions(y1, roi_h, out_h, grid_h, height)  # (K, h, Gh)
    pos_x, inside_x, valid_x = _sample_positions(x1, roi_w, out_w, grid_w, width)   # (K, w, Gw)
    # layout of the samples: (C, K, h, Gh, w, Gw)
    exists = valid_y[:, None, :, None, None] & valid_x[:, None, None, None, :]      # (K,1,Gh,1,Gw)
    # a sample outside [-1, size] reads 0 (see the module docstring)
    inside = inside_y[:, :, :, None, None] & inside_x[:, None, None, :, :]        # (K,h,Gh,w,Gw)
    reads = inside & exists
    if reduction == "mean":
        count = (grid_h * grid_w).clamp(min=1).to(features.dtype)                   # (K,)

        def reduce(samples: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            kept = _masked(samples, reads[rows])
            return kept.sum(dim=(3, 5)) / count[rows][None, :, None, None]
    else:
        empty = (grid_h * grid_w) == 0                                               # (K,)

        def reduce(samples: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            pooled = _masked(samples, inside[rows]).amax(dim=(3, 5))
            return pooled.masked_fill(empty[rows][None, :, None, None], 0.0)

    def pool(image: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        samples = _bilinear_samples(image, pos_y[rows], pos_x[rows])   # (C, k, h, Gh, w, Gw)
        return reduce(samples, rows).permute(1, 0, 2, 3)

    return _pool_by_image(features, batch_index, pool, (out_h, out_w))


def _masked(samples: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``samples`` with the entries outside ``keep`` (broadcast) set to 0; no copy when
    every entry is kept (the usual case: RoIs inside the map, one grid size)."""
    if bool(keep.all()):
        return samples
    return samples * keep.to(samples.dtype)


def _sample_positions(start: torch.Tensor, length: torch.Tensor, bins: int, grid: torch.Tensor,
                      size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample coordinates along one axis, clamped into [0, size - 1].

    Returns:
        positions (K, bins, G) with G = max(grid), inside (K, bins, G): the unclamped point
        lies in [-1, size], and valid (K, G): which of the G point slots exist per RoI.
    """
    most = max(int(grid.max().item()), 1)
    slots = torch.arange(most, dtype=start.dtype, device=start.device)            # (G,)
    valid = slots[None, :] < grid[:, None].to(start.dtype)                         # (K, G)
    safe_grid = grid.clamp(min=1).to(start.dtype)
    bin_side = length / bins                                                       # (K,)
    bin_index = torch.arange(bins, dtype=start.dtype, device=start.device)         # (bins,)
    # a slot past the RoI's own grid repeats its last point: harmless for "max", masked
    # out (``valid``) for "mean", and no -inf fill is needed
    used = torch.minimum(slots[None, :], (safe_grid - 1.0)[:, None])               # (K, G)
    positions = (start[:, None, None] + bin_index[None, :, None] * bin_side[:, None, None]
                 + (used[:, None, :] + 0.5) * (bin_side / safe_grid)[:, None, None])
    inside = (positions >= -1.0) & (positions <= float(size))
    return positions.clamp(0.0, float(size - 1)), inside, valid


def _bilinear_samples(image: torch.Tensor, pos_y: torch.Tensor, pos_x: torch.Tensor
                      ) -> torch.Tensor:
    """Bilinear reads of a (C, H, W) map at clamped in-range coordinates.

    Args:
        pos_y: (k, h, Gh); pos_x: (k, w, Gw), within [0, H - 1] / [0, W - 1].

    Returns:
        (C, k, h, Gh, w, Gw): the four-neighbour interpolation (``grid_sample`` with
        ``align_corners=True``, where -1 and 1 are the centres of the first and last cell).
    """
    channels, height, width = image.shape
    k, out_h, grid_h = pos_y.shape
    out_w, grid_w = pos_x.shape[1:]

    def normalised(pos: torch.Tensor, size: int) -> torch.Tensor:
        return pos * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(pos)

    ny = normalised(pos_y, height).reshape(k, out_h * grid_h, 1).expand(-1, -1, out_w * grid_w)
    nx = normalised(pos_x, width).reshape(k, 1, out_w * grid_w).expand(-1, out_h * grid_h, -1)
    grid = torch.stack([nx, ny], dim=-1).reshape(1, k * out_h * grid_h, out_w * grid_w, 2)
    samples = torch.nn.functional.grid_sample(image[None], grid.to(image.dtype), mode="bilinear",
                                              padding_mode="border", align_corners=True)
    return samples.reshape(channels, k, out_h, grid_h, out_w, grid_w)


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
