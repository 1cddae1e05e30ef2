"""Cell-wise histograms of gradient orientation (HOG-like), in torch.

Each pixel votes its gradient magnitude into the two nearest of ``num_bins`` unsigned
orientation bins over [0, pi) (linear interpolation between bin centres); votes are summed
over ``cell_size`` x ``cell_size`` cells and each cell's histogram is divided by the energy
of its 3x3-cell neighbourhood, then truncated at ``clip`` and re-scaled, which is the
block normalisation of Dalal & Triggs folded into one step per cell. For a multi-channel
image the channel with the largest gradient magnitude is used at each pixel (as HOG does
for colour), which is also how the pixel-level fusion of RGB and thermal works here: the
stacked 4-channel image is one image to this function.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def image_gradients(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central-difference gradients with replicated borders.

    Args:
        images: (B, C, H, W) float, any range.

    Returns:
        (gx, gy), each (B, C, H, W): intensity change per pixel along x and y.
    """
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2])
    gy = 0.5 * (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1])
    return gx, gy


def gradient_histogram(images: torch.Tensor, cell_size: int = 4, num_bins: int = 9,
                       clip: float = 0.2, eps: float = 1e-4) -> torch.Tensor:
    """Per-cell orientation histograms.

    Args:
        images: (B, C, H, W) float in [0, 1]; H and W multiples of ``cell_size``.
        cell_size: cell side in pixels.
        num_bins: unsigned orientation bins over [0, pi).
        clip: truncation of normalised votes (HOG's 0.2).

    Returns:
        (B, num_bins, H / cell_size, W / cell_size) float, normalised histograms.
    """
    batch, channels, height, width = images.shape
    if height % cell_size or width % cell_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of cell_size {cell_size}")
    gx, gy = image_gradients(images)
    magnitude_sq = gx * gx + gy * gy
    if channels > 1:
        best = magnitude_sq.argmax(dim=1, keepdim=True)
        gx = gx.gather(1, best)
        gy = gy.gather(1, best)
        magnitude_sq = magnitude_sq.gather(1, best)
    magnitude = magnitude_sq.sqrt()[:, 0]
    # Unsigned orientation in [0, pi), then fractional bin position between bin centres.
    angle = torch.atan2(gy[:, 0], gx[:, 0]) % math.pi
    position = angle * (num_bins / math.pi) - 0.5
    lower = torch.floor(position)
    upper_weight = position - lower
    lower_bin = lower.long() % num_bins
    upper_bin = (lower_bin + 1) % num_bins
    votes = torch.zeros(batch, num_bins, height, width, dtype=images.dtype, device=images.device)
    upper_votes = magnitude * upper_weight
    votes.scatter_add_(1, torch.stack([lower_bin, upper_bin], dim=1),
                       torch.stack([magnitude - upper_votes, upper_votes], dim=1))
    cells = F.avg_pool2d(votes, cell_size) * (cell_size * cell_size)
    # Block normalisation: energy of the 3x3-cell neighbourhood of each cell.
    energy = F.avg_pool2d(cells.pow(2).sum(1, keepdim=True), 3, stride=1, padding=1,
                          count_include_pad=False) * 9.0
    normalised = cells / (energy.sqrt() + eps)
    return normalised.clamp(max=clip) * (1.0 / clip)
