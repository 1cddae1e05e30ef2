"""SiamBAN's box-adaptive head with one region proposal branch (Chen et al., CVPR 2020).

Each tower (classification, regression) adjusts the template and the search features with
a 3x3 convolution, correlates them depth-wise (every channel of the template is the kernel
of the same channel of the search features) and maps the correlation to its outputs with
two 1x1 convolutions: 2 channels (background, foreground logits) for classification, 4
(l, t, r, b distances) for regression.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def xcorr_depthwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depth-wise cross-correlation (SiamRPN++ Sec. 3.4, used by SiamBAN).

    Args:
        search: (B, C, Hx, Wx).
        kernel: (B, C, Hz, Wz), one kernel per sample and channel.

    Returns:
        (B, C, Hx - Hz + 1, Wx - Wz + 1): ``out[b, c, i, j] = sum_{u, v} search[b, c, i + u,
        j + v] * kernel[b, c, u, v]`` (no padding, no flip).
    """
    if search.dim() != 4 or kernel.dim() != 4 or search.shape[:2] != kernel.shape[:2]:
        raise ValueError(f"xcorr_depthwise: search (B, C, H, W) and kernel (B, C, h, w) must "
                         f"agree in B and C, got {tuple(search.shape)} and {tuple(kernel.shape)}")
    batch, channels = search.shape[:2]
    out = F.conv2d(search.reshape(1, batch * channels, *search.shape[2:]),
                   kernel.reshape(batch * channels, 1, *kernel.shape[2:]),
                   groups=batch * channels)
    return out.reshape(batch, channels, *out.shape[2:])


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DepthwiseXCorrTower(nn.Module):
    """One tower: 3x3 conv on template and search (no padding), depth-wise correlation,
    1x1 conv + BN + ReLU, 1x1 conv to ``out_channels`` (SiamBAN's ``DepthwiseXCorr``).

    Args:
        in_channels: channels of the fused features.
        hidden: channels inside the tower.
        out_channels: 2 (classification) or 4 (regression).
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, 3)
        self.conv_search = _conv_bn_relu(in_channels, hidden, 3)
        self.head = nn.Sequential(_conv_bn_relu(hidden, hidden, 1),
                                  nn.Conv2d(hidden, out_channels, kernel_size=1))

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """(B, C, Hz, Wz), (B, C, Hx, Wx) -> (B, out, Hx - Hz + 1, Wx - Wz + 1)."""
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(template)))


class BANHead(nn.Module):
    """Classification and regression towers on the same fused features.

    Args:
        in_channels: channels of the fused features.
        hidden: channels inside each tower.
        feature_stride: pixels of the search patch per score-map cell; the regression
            output is in patch pixels: ``d = feature_stride * exp(loc_scale * raw)`` (SiamBAN
            exponentiates its regression output with a learned scale; the stride factor is
            our choice, so that an untrained head predicts boxes of a few cells).
    """

    def __init__(self, in_channels: int, hidden: int, feature_stride: float) -> None:
        super().__init__()
        self.cls = DepthwiseXCorrTower(in_channels, hidden, 2)
        self.loc = DepthwiseXCorrTower(in_channels, hidden, 4)
        self.loc_scale = nn.Parameter(torch.ones(1))
        self.feature_stride = float(feature_stride)

    def forward(self, template: torch.Tensor, search: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fused template (B, C, Hz, Wz) and search (B, C, Hx, Wx) features ->
        (cls logits (B, 2, H, W): channel 0 background, 1 foreground;
        loc (B, 4, H, W): l, t, r, b > 0 in search-patch pixels), H = Hx - Hz + 1 (the
        3x3 convolutions take one cell off each border of both maps, which cancels)."""
        cls = self.cls(template, search)
        raw = self.loc(template, search)
        loc = self.feature_stride * torch.exp((self.loc_scale * raw).clamp(max=10.0))
        return cls, loc
