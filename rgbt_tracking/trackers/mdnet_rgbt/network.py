"""The RGB-T MDNet network of M5L and CMI (RT-MDNet layout, two VGG-M streams).

::

    rgb crop (B, 3, H, W) -> VGG-M conv1-3 -> F_R (B, 512, h, w) --+
                                                                    +-> fusion -> (B, C_f, h, w)
    thermal crop (B, 1, H, W) -> VGG-M conv1-3 -> F_T ------------+
    RoIAlign (3 x 3, max) of K boxes -> (K, C_f * 9) -> fc4 -> fc5 -> fc6[domain] -> (K, 2)

Fusion (``fusion``):

``"m5l"``: M5L's attention-based fusion (Eq. 16, :class:`AttentionFusion`), 2 x 512 ch;
``"cmi"``: CMI's cross-modal interaction (Eq. 1-3, :class:`CrossModalInteraction`, mode
    ``interaction``), both enhanced maps concatenated: 2 x 512 x (1 + levels) channels;
``"concat"``: plain concatenation of F_R and F_T (a baseline), 1024 channels.

Both modules act on the whole conv3 map of the crop, once per frame, before RoIAlign (M5L:
"Attention-based fusion module is used to integrate RGBT feature maps after extracting
features"; CMI: interaction "between the convolutional feature maps").

Classifier (MDNet): fc4 = Linear(C_f * 9, 512) + ReLU; fc5 = Dropout(0.5) + Linear(512, 512)
+ ReLU; fc6 = one Dropout(0.5) + Linear(512, 2) branch per domain (training sequence);
column 1 of fc6 is the target (positive) score. M5L's feature embedding module ("FC layers
and batch normalization"): per modality Linear(512 * 9, ``embedding_dim``) + BatchNorm1d on
the modality's own RoI features (before fusion), used by the MMSL loss only (one module per
modality: the paper's f_r and f_t).

Inputs are MDNet-scaled: pixel values 0-255 minus 128 (thermal on the 0-255 scale of
:func:`~rgbt_tracking.core.images.thermal_to_255`).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.roi_align import RoIAlign
from rgbt_tracking.nn.vgg_m import OUT_CHANNELS, TOTAL_STRIDE, VGGMBackbone
from rgbt_tracking.trackers.cmi.interaction import CrossModalInteraction
from rgbt_tracking.trackers.m5l.attention_fusion import AttentionFusion

FUSIONS = ("m5l", "cmi", "concat")
#: RoIAlign chunk: bounds the memory of max pooling (K x C x 3 x 3 x samples).
ROI_CHUNK = 256


class MDNetRGBT(nn.Module):
    """Two-stream RT-MDNet with a configurable fusion (see the module docstring).

    Args:
        fusion: "m5l", "cmi" or "concat".
        interaction: CMI's mode, "pixel", "relation" or "both" (fusion "cmi" only).
        num_domains: fc6 branches (training sequences; 1 for a tracker).
        roi_size: RoIAlign bins per side (RT-MDNet: 3).
        roi_reduction: "max" (RT-MDNet's RoIAlignAdaMax) or "mean".
        roi_sampling_ratio: sample points per bin side; 0 = adaptive (RT-MDNet), a small
            fixed count bounds the cost of wide RoIs.
        fc_channels: width of fc4 / fc5 (512).
        dropout: dropout probability before fc5 and fc6 (MDNet: 0.5).
        embedding_dim: output of M5L's embedding module (0: none; paper silent, 512 here).
        attention_kernel: kernel of M5L's attention convolution.
        key_channels: d of CMI's queries / keys (None: 512, the paper's reading).
    """

    def __init__(self, fusion: str = "m5l", interaction: str = "both", num_domains: int = 1,
                 roi_size: int = 3, roi_reduction: str = "max", roi_sampling_ratio: int = 0,
                 fc_channels: int = 512,
                 dropout: float = 0.5, embedding_dim: int = 512, attention_kernel: int = 3,
                 key_channels: Optional[int] = None) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if int(num_domains) < 1:
            raise ValueError(f"num_domains must be >= 1, got {num_domains}")
        self.fusion_name = fusion
        self.rgb_backbone = VGGMBackbone(3)
        self.thermal_backbone = VGGMBackbone(1)
        if fusion == "m5l":
            self.fusion: Optional[nn.Module] = AttentionFusion(OUT_CHANNELS, int(attention_kernel))
            fused = 2 * OUT_CHANNELS
        elif fusion == "cmi":
            self.fusion = CrossModalInteraction(OUT_CHANNELS, interaction, key_channels)
            fused = 2 * self.fusion.out_channels
        else:
            self.fusion = None
            fused = 2 * OUT_CHANNELS
        self.fused_channels = fused
        self.roi_size = int(roi_size)
        self.roi_align = RoIAlign(self.roi_size, 1.0 / TOTAL_STRIDE, int(roi_sampling_ratio), False,
                                  roi_reduction)
        cells = self.roi_size * self.roi_size
        self.feature_dim = fused * cells
        self.fc4 = nn.Sequential(nn.Linear(self.feature_dim, fc_channels), nn.ReLU())
        self.fc5 = nn.Sequential(nn.Dropout(dropout), nn.Linear(fc_channels, fc_channels),
                                 nn.ReLU())
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Dropout(dropout), nn.Linear(fc_channels, 2))
            for _ in range(int(num_domains)))
        self.embedding_dim = int(embedding_dim) if fusion == "m5l" else 0
        if self.embedding_dim > 0:
            self.rgb_embedding = nn.Sequential(nn.Linear(OUT_CHANNELS * cells, self.embedding_dim),
                                               nn.BatchNorm1d(self.embedding_dim))
            self.thermal_embedding = nn.Sequential(
                nn.Linear(OUT_CHANNELS * cells, self.embedding_dim),
                nn.BatchNorm1d(self.embedding_dim))

    @property
    def num_domains(self) -> int:
        return len(self.branches)

    # -- convolutional part --------------------------------------------------------------
    def conv_features(self, rgb: Optional[torch.Tensor], thermal: Optional[torch.Tensor]
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """conv3 maps of both modalities; a missing modality (None) gives zeros.

        Args:
            rgb: (B, 3, H, W) or None; thermal: (B, 1, H, W) or None (not both None).

        Returns:
            (F_R, F_T), each (B, 512, conv3_size(H), conv3_size(W)).
        """
        if rgb is None and thermal is None:
            raise ValueError("conv_features: both modalities are missing")
        rgb_map = None if rgb is None else self.rgb_backbone(rgb)
        thermal_map = None if thermal is None else self.thermal_backbone(thermal)
        if rgb_map is None:
            rgb_map = torch.zeros_like(thermal_map)
        if thermal_map is None:
            thermal_map = torch.zeros_like(rgb_map)
        return rgb_map, thermal_map

    def fuse(self, rgb_map: torch.Tensor, thermal_map: torch.Tensor) -> torch.Tensor:
        """(B, 512, h, w) x 2 -> (B, fused_channels, h, w) by the configured fusion."""
        if self.fusion_name == "m5l":
            return self.fusion(rgb_map, thermal_map)
        if self.fusion_name == "cmi":
            return torch.cat(self.fusion(rgb_map, thermal_map), dim=1)
        return torch.cat([rgb_map, thermal_map], dim=1)

    def pool(self, feature_map: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """RoIAlign of (K, 5) RoIs (see :mod:`scene`) -> (K, C * roi_size^2), in chunks."""
        if rois.shape[0] == 0:
            return feature_map.new_zeros((0, feature_map.shape[1] * self.roi_size ** 2))
        parts = [self.roi_align(feature_map, rois[start:start + ROI_CHUNK]).flatten(1)
                 for start in range(0, rois.shape[0], ROI_CHUNK)]
        return torch.cat(parts, dim=0)

    # -- classifier ------------------------------------------------------------------------
    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """fc5 output (K, fc_channels) of (K, feature_dim) RoI features."""
        return self.fc5(self.fc4(features))

    def branch_logits(self, hidden: torch.Tensor, domains: Optional[torch.Tensor] = None
                      ) -> torch.Tensor:
        """fc6 logits (K, 2) of each sample's domain (``domains`` (K,) long; None: branch 0)."""
        if domains is None:
            return self.branches[0](hidden)
        every = self.all_branch_logits(hidden)                                   # (K, D, 2)
        return every[torch.arange(hidden.shape[0], device=hidden.device), domains]

    def all_branch_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fc6 logits of every branch: (K, num_domains, 2)."""
        return torch.stack([branch(hidden) for branch in self.branches], dim=1)

    def embed(self, rgb_features: torch.Tensor, thermal_features: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """M5L's embeddings f_r, f_t of per-modality RoI features (K, 512 * roi_size^2)."""
        if self.embedding_dim <= 0:
            raise ValueError("this network has no embedding module (fusion 'm5l' only)")
        return self.rgb_embedding(rgb_features), self.thermal_embedding(thermal_features)

    def forward(self, rgb: Optional[torch.Tensor], thermal: Optional[torch.Tensor],
                rois: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Scores of RoIs on crops: ``features`` (K, feature_dim), ``hidden`` (K, 512),
        ``logits`` (K, 2) of branch 0."""
        rgb_map, thermal_map = self.conv_features(rgb, thermal)
        features = self.pool(self.fuse(rgb_map, thermal_map), rois)
        hidden = self.hidden(features)
        return {"features": features, "hidden": hidden, "logits": self.branch_logits(hidden)}

