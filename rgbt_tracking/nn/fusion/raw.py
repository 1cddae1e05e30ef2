"""GMMT's RAW control (Table 2): the same U-shaped network, no noise, plain L2 loss.

"To demonstrate that the improvement is indeed attributed to the generative-based fusion
mechanism rather than the larger fusion block embedded in GMMT ... the network is trained
using an L2 loss between the *fused* and the network output": ``Loss_RAW = L2(fused, U(f_rgb,
f_thermal))``. U is :class:`~rgbt_tracking.nn.fusion.unet.ConditionalUNet` with the same
widths and levels as the other kinds, on the two conditions only (no x_t, no time input).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

from rgbt_tracking.nn.fusion.base import GenerativeFusion
from rgbt_tracking.nn.fusion.unet import ConditionalUNet


class RawFusion(GenerativeFusion):
    """Deterministic fusion ``U(f_rgb, f_thermal)`` trained by regression on the fused feature.

    Args:
        channels: feature channels C.
        config: validated ``generative`` config (unet_channels, unet_levels used).
    """

    kind = "raw"

    def __init__(self, channels: int, config: Mapping[str, Any]) -> None:
        super().__init__(channels, config)
        self.unet = ConditionalUNet(0, 2 * channels, channels, self.config["unet_channels"],
                                    self.config["unet_levels"], None)

    def forward(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """(B, C, H, W) each -> fused (B, C, H, W); ``generator`` is unused (no randomness)."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal)
        return self.unet(None, torch.cat([f_rgb, f_thermal], dim=1))

    def generator_losses(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                         target_fused: torch.Tensor,
                         generator: Optional[torch.Generator] = None
                         ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``out = U(f_rgb, f_thermal)``, ``"gen" = Loss_RAW = MSE(out, target_fused)``."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal, target_fused=target_fused)
        fused = self.forward(f_rgb, f_thermal)
        return fused, {"gen": F.mse_loss(fused, target_fused)}
