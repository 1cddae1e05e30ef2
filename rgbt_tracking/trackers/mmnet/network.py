"""The multi-task matching network of MMNet (Fig. 1).

Both crops (exemplar and search, ``crop_size`` px each, as CFNet uses a 255 px exemplar for
its correlation filter) go through the shared :class:`AlexNetBackbone`. Then

* discriminative matching (Eq. 1): ``f_dis = adjust(g(sigma(phi_conv5(Z)), phi_conv5(Y)))``
  with sigma the CF block over the exemplar's conv5 map and g the cross-correlation;
* fine-grained matching (Eq. 4): ``f_fin = adjust(g(sigma(omega(phi_conv3(Z))),
  omega(phi_conv3(Y))))`` with omega = FANet;
* classification (Eq. 3, training only): global average pooling of the exemplar's conv5
  map over the central ``template_cells`` (the target; our choice, the paper does not say
  which cells are pooled) and a 1x1 convolution to the class count.

The CF crops keep ``template_cells`` conv5 cells (SiamFC's 6x6 template) and 4 more conv3
cells, so both similarity maps have ``conv5_size(crop_size) - template_cells + 1`` cells on
a side (17 for 255 px crops), the same stride (8 px) and the same centre; the tracker sums
them (Eq. 11).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence, Tuple

import torch
from torch import nn

from rgbt_tracking.trackers.mmnet.backbone import (CONV3_MARGIN, DEFAULT_CHANNELS,
                                                   TOTAL_STRIDE, AlexNetBackbone, conv5_size)
from rgbt_tracking.trackers.mmnet.cf_block import (CorrelationFilterBlock, ScoreAdjust,
                                                   cross_correlate)
from rgbt_tracking.trackers.mmnet.fanet import FANet

Templates = Tuple[torch.Tensor, torch.Tensor]


def normalise_crops(crops: torch.Tensor) -> torch.Tensor:
    """Thermal crops on the 0-255 scale -> network input (value / 255 - 0.5)."""
    return crops / 255.0 - 0.5


class MMNet(nn.Module):
    """The network of Fig. 1.

    Args:
        channels: conv1..conv5 channels of the backbone.
        crop_size: exemplar and search crop side, pixels (87 + 8k).
        template_cells: conv5 cells kept by the CF crop (odd or even like the grid).
        num_classes: classes of the auxiliary branch (0: no classification branch).
        cf_regularization: lambda of the CF ridge regression.
        cf_label_sigma: Gaussian label standard deviation, cells.
        fanet: keyword arguments of :class:`FANet` (holistic_reduction, holistic_kernel,
            query_reduction).
        adjust_gain, adjust_bias: initial calibration of both similarity maps.
    """

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, crop_size: int = 255,
                 template_cells: int = 6, num_classes: int = 30,
                 cf_regularization: float = 10.0, cf_label_sigma: float = 1.0,
                 fanet: Mapping[str, Any] | None = None, adjust_gain: float = 1.0,
                 adjust_bias: float = -0.5) -> None:
        super().__init__()
        self.crop_size = int(crop_size)
        self.feature_size = conv5_size(self.crop_size)
        self.template_cells = int(template_cells)
        self.response_size = self.feature_size - self.template_cells + 1
        if self.response_size < 1:
            raise ValueError(f"template_cells {template_cells} exceeds the {self.feature_size} "
                             f"conv5 cells of a {crop_size} px crop")
        self.stride = TOTAL_STRIDE
        self.backbone = AlexNetBackbone(channels)
        c3, c5 = self.backbone.channels[2], self.backbone.channels[4]
        fine_size = self.feature_size + 2 * CONV3_MARGIN
        self.cf_dis = CorrelationFilterBlock((self.feature_size, self.feature_size),
                                             self.template_cells, cf_regularization,
                                             cf_label_sigma)
        self.cf_fin = CorrelationFilterBlock((fine_size, fine_size),
                                             self.template_cells + 2 * CONV3_MARGIN,
                                             cf_regularization, cf_label_sigma)
        self.fanet = FANet(c3, **dict(fanet or {}))
        self.adjust_dis = ScoreAdjust(adjust_gain, adjust_bias)
        self.adjust_fin = ScoreAdjust(adjust_gain, adjust_bias)
        self.num_classes = int(num_classes)
        self.classifier = nn.Conv2d(c5, self.num_classes, 1) if self.num_classes > 0 else None

    # -- parts the tracker uses ---------------------------------------------------------
    def templates(self, exemplar: torch.Tensor) -> Templates:
        """CF templates of both branches from (B, 1, S, S) exemplar crops (0-255).

        Returns:
            (w_dis (B, C5, t, t), w_fin (B, C3, t + 4, t + 4)), t = ``template_cells``.
        """
        conv3, conv5 = self.backbone(normalise_crops(exemplar))
        return self.cf_dis(conv5), self.cf_fin(self.fanet(conv3))

    def search_features(self, search: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(conv5, omega(conv3)) of (B, 1, S, S) search crops (0-255)."""
        conv3, conv5 = self.backbone(normalise_crops(search))
        return conv5, self.fanet(conv3)

    def similarities(self, templates: Templates, search: Tuple[torch.Tensor, torch.Tensor]
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(f_dis, f_fin) of Eq. 1 and Eq. 4, each (B, 1, R, R); a template batch of 1 is
        shared by every search map."""
        f_dis = self.adjust_dis(cross_correlate(templates[0], search[0]))
        f_fin = self.adjust_fin(cross_correlate(templates[1], search[1]))
        return f_dis, f_fin

    # -- training -----------------------------------------------------------------------
    def classify(self, conv5: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K): GAP over the central template cells, 1x1 conv (Eq. 3)."""
        if self.classifier is None:
            raise ValueError("this network has no classification branch (num_classes 0)")
        top = (conv5.shape[-1] - self.template_cells) // 2
        centre = conv5[..., top:top + self.template_cells, top:top + self.template_cells]
        pooled = centre.mean(dim=(2, 3), keepdim=True)
        return self.classifier(pooled).flatten(1)

    def forward(self, exemplar: torch.Tensor, search: torch.Tensor) -> Dict[str, torch.Tensor]:
        """All three branches on a batch of pairs.

        Args:
            exemplar, search: (B, 1, S, S) thermal (or grayscale) crops, 0-255.

        Returns:
            ``dis`` and ``fin`` (B, 1, R, R) similarity maps (logits), ``logits`` (B, K)
            class scores of the exemplar (absent without a classification branch).
        """
        conv3_z, conv5_z = self.backbone(normalise_crops(exemplar))
        templates = (self.cf_dis(conv5_z), self.cf_fin(self.fanet(conv3_z)))
        f_dis, f_fin = self.similarities(templates, self.search_features(search))
        out = {"dis": f_dis, "fin": f_fin}
        if self.classifier is not None:
            out["logits"] = self.classify(conv5_z)
        return out
