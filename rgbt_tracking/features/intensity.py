"""Cell-averaged intensity and opponent-colour channels, in torch."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cell_intensity(images: torch.Tensor, cell_size: int = 4) -> torch.Tensor:
    """Mean intensity per cell, centred on the patch mean.

    Args:
        images: (B, C, H, W) float in [0, 1] (C = 1 for thermal or grey).

    Returns:
        (B, C, H / cell_size, W / cell_size) float in about [-1, 1].
    """
    cells = F.avg_pool2d(images, cell_size)
    return cells - cells.mean(dim=(2, 3), keepdim=True)


def rgb_to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma. (B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device)
    return (rgb * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def opponent_colour(rgb: torch.Tensor, cell_size: int = 4) -> torch.Tensor:
    """Cell-averaged opponent colour channels (R - G, (R + G) / 2 - B), luminance-free.

    Args:
        rgb: (B, 3, H, W) RGB in [0, 1].

    Returns:
        (B, 2, H / cell_size, W / cell_size) float in about [-1, 1]; both channels are
        zero on grey pixels, so a dark or grey image contributes no colour energy.
    """
    red, green, blue = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    channels = torch.cat([red - green, 0.5 * (red + green) - blue], dim=1)
    return F.avg_pool2d(channels, cell_size)
