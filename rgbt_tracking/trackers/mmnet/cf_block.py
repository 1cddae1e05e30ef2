"""CFNet's correlation-filter block: sigma(.) of MMNet Eq. 1 and Eq. 4.

Valmadre et al., "End-to-end representation learning for Correlation Filter based
tracking", CVPR 2017 (Sec. 3): the template feature map x (C channels, n = H W cells),
multiplied by a cosine window, is turned into the filter that solves the ridge regression

    w = argmin_w  1/(2n) || sum_c X_c w_c - y ||^2  +  lambda/2 sum_c || w_c ||^2

where X_c is the circulant matrix of the circular shifts of channel c,
``(X_c w_c)[u] = sum_t w_c[t] x_c[t + u]`` (indices modulo the grid), and y is a Gaussian
peaked at zero shift. Its closed form (CFNet Eq. 5-7, the dual solution of a linear-kernel
ridge regression):

    alpha^ = y^ / (sum_c conj(x_c^) x_c^ + n lambda),   w_c^ = conj(alpha^) x_c^,

with ^ the 2-D DFT; every step is differentiable (``torch.fft``). The block then crops the
filter's central cells (CFNet's ``crop_z``) and cross-correlates the crop with the search
features (``XCorr``); a learnable gain and bias calibrate the scores for the logistic loss
(CFNet's ``fin_adjust``, initialised to gain 1, bias -0.5).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracking.trackers.dcf.correlation_filter import cosine_window, gaussian_label


def solve_correlation_filter(features: torch.Tensor, label: torch.Tensor,
                             regularization: float) -> torch.Tensor:
    """Closed-form multi-channel ridge regression over all circular shifts (CFNet Eq. 5-7).

    Args:
        features: (B, C, H, W) template features (already windowed).
        label: (H, W) desired response per shift, peak at shift (0, 0).
        regularization: lambda (> 0) of the objective in the module docstring.

    Returns:
        (B, C, H, W) filter w; ``sum_c circular-correlation(w_c, x_c)`` approximates y.
    """
    if features.dim() != 4 or tuple(label.shape) != tuple(features.shape[-2:]):
        raise ValueError(f"features must be (B, C, H, W) and label (H, W) of the same grid, "
                         f"got {tuple(features.shape)} and {tuple(label.shape)}")
    if not regularization > 0:
        raise ValueError(f"regularization must be > 0, got {regularization}")
    n = features.shape[-1] * features.shape[-2]
    x_f = torch.fft.fft2(features)
    energy = (x_f.real ** 2 + x_f.imag ** 2).sum(dim=1)                  # (B, H, W)
    alpha_f = torch.fft.fft2(label.to(features.dtype)) / (energy + n * regularization)
    return torch.fft.ifft2(alpha_f.conj().unsqueeze(1) * x_f).real


def cross_correlate(template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation of each template with its search map (SiamFC's XCorr).

    Args:
        template: (B, C, h, w), or (1, C, h, w) shared by every search map.
        search: (B, C, H, W).

    Returns:
        (B, 1, H - h + 1, W - w + 1).
    """
    batch = search.shape[0]
    if template.shape[0] == 1:
        return F.conv2d(search, template)
    if template.shape[0] != batch:
        raise ValueError(f"{template.shape[0]} templates for {batch} search maps")
    out = F.conv2d(search.reshape(1, -1, *search.shape[-2:]), template, groups=batch)
    return out.reshape(batch, 1, *out.shape[-2:])


class CorrelationFilterBlock(nn.Module):
    """Window, closed-form filter, central crop (CFNet's ``cf_window``, ``cf``, ``crop_z``).

    Args:
        grid_size: (H, W) cells of the template features.
        crop_cells: side of the central crop of the filter kept for the correlation.
        regularization: lambda (CFNet: 10 for its conv5 network).
        label_sigma: standard deviation of the Gaussian label in cells (CFNet: 8 px over
            the stride).
    """

    def __init__(self, grid_size: Tuple[int, int], crop_cells: int, regularization: float,
                 label_sigma: float) -> None:
        super().__init__()
        height, width = (int(v) for v in grid_size)
        crop = int(crop_cells)
        if crop < 1 or crop > min(height, width) or (height - crop) % 2 or (width - crop) % 2:
            raise ValueError(f"crop_cells {crop_cells} must fit centred in the {height}x{width} "
                             "template grid (same parity, not larger)")
        if not label_sigma > 0:
            raise ValueError(f"label_sigma must be > 0 cells, got {label_sigma}")
        self.grid_size = (height, width)
        self.crop_cells = crop
        self.regularization = float(regularization)
        self.register_buffer("window", cosine_window((height, width)), persistent=False)
        self.register_buffer("label", gaussian_label((height, width), float(label_sigma)),
                             persistent=False)

    def forward(self, template_features: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) template features -> (B, C, crop, crop) correlation template."""
        if tuple(template_features.shape[-2:]) != self.grid_size:
            raise ValueError(f"template features are {tuple(template_features.shape[-2:])} "
                             f"cells, the block was built for {self.grid_size}")
        filt = solve_correlation_filter(template_features * self.window, self.label,
                                        self.regularization)
        top = (self.grid_size[0] - self.crop_cells) // 2
        left = (self.grid_size[1] - self.crop_cells) // 2
        return filt[..., top:top + self.crop_cells, left:left + self.crop_cells]


class ScoreAdjust(nn.Module):
    """Learnable gain and bias on a similarity map (CFNet's ``fin_adjust``: 1, -0.5)."""

    def __init__(self, gain: float = 1.0, bias: float = -0.5) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(float(gain)))
        self.bias = nn.Parameter(torch.tensor(float(bias)))

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return self.gain * scores + self.bias
