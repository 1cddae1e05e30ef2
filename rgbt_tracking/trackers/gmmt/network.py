"""GMMT's inference network and its stage-two training wrapper.

:class:`GMMTNet`: the baseline's backbones and necks (frozen stage-one weights), the
generative block (``generative``) in place of the fusion block, and a fresh head. The
original fusion block is not part of it.

:class:`GMMTStageTwo`: what stage two trains: a :class:`GMMTNet` plus the stage-one fusion
block (``original_fusion``), which computes the target ``fused`` of the generative loss.
Backbones, necks and the original fusion block have no gradients and stay in eval mode
whatever ``train()`` is called with, so their batch-norm statistics never move (GMMT:
"the feature extractor and the original fusion block are frozen while training").
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional

import torch
from torch import nn

from rgbt_tracking.nn.fusion import build_generative_fusion
from rgbt_tracking.trackers.siam_rgbt.network import ConcatConvFusion, SiameseRGBTBase


class GMMTNet(SiameseRGBTBase):
    """Backbones, necks, generative fusion block and head.

    Args:
        fusion_model: "diffusion", "cgan" or "raw".
        generative: the ``generative`` section (see ``config/trackers/gmmt.yaml``).
        architecture: keyword arguments of :class:`SiameseRGBTBase`.
    """

    def __init__(self, fusion_model: str = "diffusion",
                 generative: Optional[Mapping[str, Any]] = None, **architecture: Any) -> None:
        super().__init__(**architecture)
        self.fusion_model = fusion_model
        self.generative = build_generative_fusion(fusion_model, self.channels,
                                                  dict(generative or {}))

    def fuse(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The generative block's fused feature (noise drawn with ``generator``)."""
        return self.generative(f_rgb, f_thermal, generator)

    def frozen_modules(self) -> List[nn.Module]:
        """The stage-one parts that stay frozen in stage two."""
        return [self.backbone_rgb, self.backbone_thermal, self.neck_rgb, self.neck_thermal]


class GMMTStageTwo(nn.Module):
    """Stage-two model: ``net`` (trained: generative block and head) and ``original_fusion``.

    Args:
        net: the GMMT network, backbones and necks already holding stage-one weights.
        original_fusion: the stage-one fusion block.
    """

    def __init__(self, net: GMMTNet, original_fusion: ConcatConvFusion) -> None:
        super().__init__()
        self.net = net
        self.original_fusion = original_fusion
        for module in self.frozen_modules():
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        self.train(True)

    def frozen_modules(self) -> List[nn.Module]:
        """Backbones, necks and the original fusion block."""
        return self.net.frozen_modules() + [self.original_fusion]

    def train(self, mode: bool = True) -> "GMMTStageTwo":
        """Set the mode of the trained parts; the frozen parts stay in eval mode."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Generator / U-net and head parameters (the discriminator has its own optimiser)."""
        yield from self.net.generative.generator_parameters()
        yield from self.net.head.parameters()

    def forward(self, template_rgb: torch.Tensor, template_thermal: torch.Tensor,
                search_rgb: torch.Tensor, search_thermal: torch.Tensor
                ) -> Dict[str, Any]:
        """Stage-two forward (GMMT Eq. 5 inputs).

        Args: template (B, 3|1, Z, Z), search (B, 3|1, X, X), 0-255.

        Returns:
            ``cls`` (B, 2, S, S), ``loc`` (B, 4, S, S) from the generated fused features;
            ``gen`` the mean of the template's and the search's Loss_gen; ``terms`` the
            other logged terms (averaged); ``branches``: for the template and the search,
            (f_rgb, f_thermal, target fused, generated fused) for the discriminator.
        """
        with torch.no_grad():
            z_rgb, z_thermal = self.net.extract_template(template_rgb, template_thermal)
            x_rgb, x_thermal = self.net.extract(search_rgb, search_thermal)
            z_target = self.original_fusion(z_rgb, z_thermal)
            x_target = self.original_fusion(x_rgb, x_thermal)
        generative = self.net.generative
        z_fused, z_losses = generative.generator_losses(z_rgb, z_thermal, z_target)
        x_fused, x_losses = generative.generator_losses(x_rgb, x_thermal, x_target)
        cls, loc = self.net.head(z_fused, x_fused)
        terms = {key: 0.5 * (z_losses[key] + x_losses[key])
                 for key in z_losses if key in x_losses}
        return {"cls": cls, "loc": loc, "gen": terms.pop("gen"), "terms": terms,
                "branches": [(z_rgb, z_thermal, z_target, z_fused),
                             (x_rgb, x_thermal, x_target, x_fused)]}
