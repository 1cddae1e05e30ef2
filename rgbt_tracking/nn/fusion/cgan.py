"""GMMT(CGAN): a conditional GAN generates the fused feature from noise and the modality
features (Mirza & Osindero 2014, as used by GMMT).

* Generator G: the same U-shaped network as GMMT(DM)'s U ("the architecture of G mirrors
  that of U"), on ``concat(z, f_rgb, f_thermal)`` without a time input.
* Discriminator D: a small fully-convolutional, conditional feature discriminator on
  ``concat(fused, f_rgb, f_thermal)`` giving a map of real/fake scores, one per feature
  location, in the spirit of pix2pix's PatchGAN. The paper leaves D to its supplementary
  material; pix2pix's 4x4 stride-2 PatchGAN (rgbt_tracking/nn/pix2pix.py) cannot run on
  7x7 features, so D here uses stride-1 3x3 convolutions (7x7 receptive field).
* Losses: least squares, since "the loss in this part is calculated by mean square error":
  ``Loss_D = MSE(D(fused), 1) + MSE(D(fused*), 0)`` (fused* detached) and
  ``Loss_G = MSE(D(fused*), 1)``; while Loss_G is built, D's parameters are frozen (the
  paper freezes D while training G), so it leaves no gradient on D.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracking.nn.fusion.base import GenerativeFusion, standard_normal
from rgbt_tracking.nn.fusion.unet import ConditionalUNet

#: LeakyReLU slope of the discriminator (pix2pix / DCGAN).
LEAKY_SLOPE = 0.2


class FeatureDiscriminator(nn.Module):
    """Conditional discriminator on feature maps.

    ``1x1 conv (3C -> w)``, then two ``3x3 conv (w -> w), GroupNorm`` layers, then a 3x3
    convolution to one channel; LeakyReLU 0.2 between layers, no sigmoid (least squares).

    Args:
        channels: feature channels C (the input is 3C: candidate, f_rgb, f_thermal).
        width: hidden width w (``unet_channels``).

    Shapes:
        fused, f_rgb, f_thermal (B, C, H, W) -> scores (B, 1, H, W).
    """

    def __init__(self, channels: int, width: int = 64) -> None:
        super().__init__()
        self.channels = channels
        groups = 8 if width % 8 == 0 else 1
        self.layers = nn.Sequential(
            nn.Conv2d(3 * channels, width, 1), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(groups, width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(groups, width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, fused: torch.Tensor, f_rgb: torch.Tensor,
                f_thermal: torch.Tensor) -> torch.Tensor:
        """Scores (B, 1, H, W): near 1 for a real fused feature, near 0 for a generated one."""
        return self.layers(torch.cat([fused, f_rgb, f_thermal], dim=1))


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter of ``module``: a graph
    built inside still passes gradients through the module to its inputs, but leaves
    none on its parameters. The previous flags are restored on exit."""
    parameters = list(module.parameters())
    flags = [p.requires_grad for p in parameters]
    try:
        for parameter in parameters:
            parameter.requires_grad_(False)
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


class CGANFusion(GenerativeFusion):
    """GMMT(CGAN): ``fused* = G(z, f_rgb, f_thermal)``, z ~ N(0, I) with ``noise_dim``
    channels; D judges (fused | f_rgb, f_thermal).

    Args:
        channels: feature channels C.
        config: validated ``generative`` config (unet_channels, unet_levels, noise_dim).
    """

    kind = "cgan"

    def __init__(self, channels: int, config: Mapping[str, Any]) -> None:
        super().__init__(channels, config)
        self.noise_dim = int(self.config["noise_dim"])
        self.generator_network = ConditionalUNet(self.noise_dim, 2 * channels, channels,
                                         self.config["unet_channels"],
                                         self.config["unet_levels"], None)
        self.discriminator = FeatureDiscriminator(channels, self.config["unet_channels"])

    def generate(self, noise: torch.Tensor, f_rgb: torch.Tensor,
                 f_thermal: torch.Tensor) -> torch.Tensor:
        """``G(z, f_rgb, f_thermal)``: noise (B, noise_dim, H, W) -> fused* (B, C, H, W)."""
        if noise.ndim != 4 or noise.shape[1] != self.noise_dim:
            raise ValueError(f"noise must be (B, {self.noise_dim}, H, W), got "
                             f"{tuple(noise.shape)}")
        return self.generator_network(noise, torch.cat([f_rgb, f_thermal], dim=1))

    def draw_noise(self, f_rgb: torch.Tensor,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """z ~ N(0, I) of shape (B, noise_dim, H, W), from ``generator`` when given."""
        batch, _, height, width = f_rgb.shape
        return standard_normal((batch, self.noise_dim, height, width), f_rgb, generator)

    def forward(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """G on fresh noise and the conditions: (B, C, H, W) each -> fused* (B, C, H, W)."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal)
        return self.generate(self.draw_noise(f_rgb, generator), f_rgb, f_thermal)

    def generator_losses(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                         target_fused: torch.Tensor,
                         generator: Optional[torch.Generator] = None
                         ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """fused* = G(z, ...); ``"gen" = Loss_G = MSE(D(fused* | f_rgb, f_thermal), 1)``
        with D frozen (no gradient on D's parameters); ``"l2_to_fused"`` logs
        MSE(fused*, fused) (no gradient)."""
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal, target_fused=target_fused)
        fake = self.forward(f_rgb, f_thermal, generator)
        with frozen(self.discriminator):
            scores = self.discriminator(fake, f_rgb, f_thermal)
        losses = {"gen": F.mse_loss(scores, torch.ones_like(scores)),
                  "l2_to_fused": F.mse_loss(fake.detach(), target_fused.detach())}
        return fake, losses

    def discriminator_loss(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
                           target_fused: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """``Loss_D = Loss_D1 + Loss_D0 = MSE(D(fused), 1) + MSE(D(fused*), 0)``.

        Every input is detached: Loss_D trains D only (not G, nor whatever produced the
        conditions).
        """
        self.check_features(f_rgb=f_rgb, f_thermal=f_thermal, target_fused=target_fused,
                            fake=fake)
        f_rgb, f_thermal = f_rgb.detach(), f_thermal.detach()
        real_scores = self.discriminator(target_fused.detach(), f_rgb, f_thermal)
        fake_scores = self.discriminator(fake.detach(), f_rgb, f_thermal)
        return (F.mse_loss(real_scores, torch.ones_like(real_scores))
                + F.mse_loss(fake_scores, torch.zeros_like(fake_scores)))

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """G's parameters."""
        return self.generator_network.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """D's parameters."""
        return self.discriminator.parameters()
