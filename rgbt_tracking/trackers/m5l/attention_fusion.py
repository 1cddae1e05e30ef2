"""The attention-based fusion module of M5L (Sec. III-A, Eq. 16, Fig. 3).

    x_cat = (sigma(D_R) (x) D_R) (+) (sigma(D_T) (x) D_T)                      (Eq. 16)

D_R, D_T: features of the RGB and thermal branch; (x): weighting; (+): concatenation along
the channels. "Specifically, this module includes a convolution layer, a ReLU activation
function and a sigmoid function": we read sigma(D) in Eq. 16 as the modality attention
computed by that sequence, ``A = sigmoid(ReLU(Conv(D)))``, one convolution per modality
(modality qualities differ, FANet [10] also predicts them per modality), and the weighting
as the element-wise product ``A * D`` (the attention has the shape of D, as sigma(D) has
in Eq. 16; SENet-like recalibration [25] of every channel and position).

Choices where the paper is silent: the convolution keeps the channel count and uses a
``kernel_size`` x ``kernel_size`` kernel with "same" zero padding (3 by default), so the
module fits any H x W, including RoIAlign's 3 x 3 cells. Note the order the paper gives
puts the sigmoid after a ReLU, so every attention lies in [0.5, 1).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


class AttentionFusion(nn.Module):
    """Eq. 16: per-modality attention weighting, then concatenation.

    Args:
        channels: C of each modality's features (512 for VGG-M conv3).
        kernel_size: odd side of the attention convolution.

    Shapes:
        rgb, thermal: (N, C, H, W) -> (N, 2C, H, W), RGB channels first.
    """

    def __init__(self, channels: int = 512, kernel_size: int = 3) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.channels = int(channels)
        pad = kernel_size // 2
        self.rgb_attention = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.thermal_attention = nn.Conv2d(channels, channels, kernel_size, padding=pad)

    @property
    def out_channels(self) -> int:
        """Channels of the fused feature, 2C."""
        return 2 * self.channels

    def attentions(self, rgb: torch.Tensor,
                   thermal: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """sigmoid(ReLU(Conv(D))) per modality: two (N, C, H, W) maps in [0.5, 1)."""
        self._check(rgb, thermal)
        return (torch.sigmoid(torch.relu(self.rgb_attention(rgb))),
                torch.sigmoid(torch.relu(self.thermal_attention(thermal))))

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        """x_cat of Eq. 16: (N, C, H, W) x 2 -> (N, 2C, H, W)."""
        rgb_weight, thermal_weight = self.attentions(rgb, thermal)
        return torch.cat([rgb_weight * rgb, thermal_weight * thermal], dim=1)

    def _check(self, rgb: torch.Tensor, thermal: torch.Tensor) -> None:
        if rgb.dim() != 4 or rgb.shape[1] != self.channels:
            raise ValueError(f"rgb features must be (N, {self.channels}, H, W), "
                             f"got {tuple(rgb.shape)}")
        if thermal.shape != rgb.shape:
            raise ValueError(f"thermal features {tuple(thermal.shape)} must have the shape of the "
                             f"rgb features {tuple(rgb.shape)}")
