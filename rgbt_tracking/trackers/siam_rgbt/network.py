"""The Siamese RGB-T network: per-modality backbones and necks, a fusion, SiamBAN's head.

Images enter as float tensors on the 0-255 scale, RGB (B, 3, H, W) and thermal (B, 1, H, W);
each backbone normalises its input with the ImageNet statistics (thermal replicated to three
channels, as mfDiMP feeds it). Backbone: a ResNet at stride 8 (SiamBAN: layer3 / layer4
dilated, strides removed; padding-free stem so that a 127 / 255 pixel patch gives a 15x15 /
31x31 map), read at ``backbone_layer`` ("layer3" for ResNet-18 on a CPU, "layer4" for the
paper's ResNet-50 setting would also fit). Neck (SiamBAN's adjust layer): 1x1 convolution
+ batch norm to ``neck_channels``; the template map is cropped to its centre
``template_feature_size`` cells (SiamBAN crops 15x15 to 7x7).

:class:`SiameseRGBTBase` holds what the baseline and GMMT share (backbones, necks, head,
feature extraction); :class:`SiamRGBTNet` adds the baseline's fusion block
(:class:`ConcatConvFusion`), GMMT's network (``rgbt_tracking.trackers.gmmt.network``) a
generative block instead.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.resnet import build_resnet, normalize_image, thermal_to_three_channels
from rgbt_tracking.trackers.siam_rgbt.head import BANHead

FEATURE_STRIDE = 8


class ConcatConvFusion(nn.Module):
    """GMMT's baseline fusion: concatenate the two modalities' features, then a 3x3
    convolution, batch norm and ReLU back to ``channels`` (the paper's "concatenated and
    then fused through a convolutional block"; the block's layout is our choice).

    Maps (B, C, H, W) x 2 to (B, C, H, W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(2 * channels, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

    def forward(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([f_rgb, f_thermal], dim=1))


def feature_map_size(patch_size: int) -> int:
    """Side of the stride-8 map of a ``patch_size`` patch: the padding-free 7x7 / 2 stem
    convolution, the padding-free 3x3 / 2 max pool, layer2's padded 3x3 / 2 convolution
    (layer3 and layer4 are dilated and keep the size): 127 -> 15, 255 -> 31."""
    size = (int(patch_size) - 7) // 2 + 1
    size = (size - 3) // 2 + 1
    size = (size - 1) // 2 + 1
    if size < 1:
        raise ValueError(f"patch of {patch_size} pixels is too small for the backbone")
    return size


def score_map_size(template_size: int, search_size: int, template_feature_size: int) -> int:
    """Side of the head's score map: search map minus cropped template map plus one."""
    template = min(feature_map_size(template_size), int(template_feature_size))
    size = feature_map_size(search_size) - template + 1
    if size < 1:
        raise ValueError(f"search_size {search_size} is too small for template_size "
                         f"{template_size}: no score map")
    return size


def _neck(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                         nn.BatchNorm2d(out_channels))


def center_crop(features: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` cells of (B, C, H, W) (unchanged when not larger)."""
    height, width = features.shape[-2:]
    if height <= size and width <= size:
        return features
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return features[..., top:top + size, left:left + size]


class SiameseRGBTBase(nn.Module, ABC):
    """Backbones, necks and head shared by ``siam_rgbt`` and ``gmmt``.

    Args:
        backbone: "resnet18" or "resnet50".
        backbone_layer: the ResNet layer read ("layer2", "layer3" or "layer4").
        neck_channels: channels of the per-modality features after the neck (C).
        head_channels: channels inside the head's towers.
        template_feature_size: side of the cropped template map, cells.
    """

    def __init__(self, backbone: str = "resnet18", backbone_layer: str = "layer3",
                 neck_channels: int = 128, head_channels: int = 128,
                 template_feature_size: int = 7) -> None:
        super().__init__()
        if backbone_layer not in ("layer2", "layer3", "layer4"):
            raise ValueError(f"backbone_layer must be layer2, layer3 or layer4, got "
                             f"{backbone_layer!r}")
        if template_feature_size < 3:
            raise ValueError(f"template_feature_size must be >= 3 (the head's 3x3 "
                             f"convolutions), got {template_feature_size}")
        self.backbone_layer = backbone_layer
        self.template_feature_size = int(template_feature_size)
        self.channels = int(neck_channels)
        self.feature_stride = FEATURE_STRIDE
        self.backbone_rgb = build_resnet(backbone, output_layers=(backbone_layer,),
                                         output_stride=FEATURE_STRIDE, valid_stem=True)
        self.backbone_thermal = build_resnet(backbone, output_layers=(backbone_layer,),
                                             output_stride=FEATURE_STRIDE, valid_stem=True)
        width = self.backbone_rgb.out_channels[backbone_layer]
        self.neck_rgb = _neck(width, neck_channels)
        self.neck_thermal = _neck(width, neck_channels)
        self.head = BANHead(neck_channels, head_channels, FEATURE_STRIDE)

    def extract(self, rgb: Optional[torch.Tensor], thermal: Optional[torch.Tensor]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-modality features after the necks.

        Args:
            rgb: (B, 3, H, W) 0-255, or None (camera missing).
            thermal: (B, 1, H, W) 0-255, or None.

        Returns:
            (f_rgb, f_thermal), each (B, C, h, w); a missing modality's features are zeros
            (the documented choice for a missing camera).
        """
        if rgb is None and thermal is None:
            raise ValueError("extract: both modalities are None")
        f_rgb = None if rgb is None else self.neck_rgb(
            self.backbone_rgb(normalize_image(rgb))[self.backbone_layer])
        f_thermal = None if thermal is None else self.neck_thermal(
            self.backbone_thermal(normalize_image(thermal_to_three_channels(thermal)))[
                self.backbone_layer])
        if f_rgb is None:
            assert f_thermal is not None
            f_rgb = torch.zeros_like(f_thermal)
        if f_thermal is None:
            f_thermal = torch.zeros_like(f_rgb)
        return f_rgb, f_thermal

    def extract_template(self, rgb: Optional[torch.Tensor], thermal: Optional[torch.Tensor]
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`extract` with both maps cropped to ``template_feature_size`` cells."""
        f_rgb, f_thermal = self.extract(rgb, thermal)
        size = self.template_feature_size
        return center_crop(f_rgb, size), center_crop(f_thermal, size)

    @abstractmethod
    def fuse(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """(B, C, h, w) x 2 -> fused (B, C, h, w); ``generator`` feeds a sampling fusion.
        The baseline concatenates and convolves; GMMT samples its generative block."""

    def forward(self, template_rgb: Optional[torch.Tensor],
                template_thermal: Optional[torch.Tensor], search_rgb: Optional[torch.Tensor],
                search_thermal: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Training / evaluation forward on template and search patches.

        Args:
            template_*: (B, 3|1, Z, Z) 0-255; search_*: (B, 3|1, X, X) 0-255.

        Returns:
            ``cls`` (B, 2, S, S) logits and ``loc`` (B, 4, S, S) l, t, r, b in search-patch
            pixels (see :class:`~rgbt_tracking.trackers.siam_rgbt.head.BANHead`).
        """
        template = self.fuse(*self.extract_template(template_rgb, template_thermal))
        search = self.fuse(*self.extract(search_rgb, search_thermal))
        cls, loc = self.head(template, search)
        return {"cls": cls, "loc": loc}


class SiamRGBTNet(SiameseRGBTBase):
    """The baseline: :class:`SiameseRGBTBase` with :class:`ConcatConvFusion` as ``fusion``."""

    def __init__(self, backbone: str = "resnet18", backbone_layer: str = "layer3",
                 neck_channels: int = 128, head_channels: int = 128,
                 template_feature_size: int = 7) -> None:
        super().__init__(backbone, backbone_layer, neck_channels, head_channels,
                         template_feature_size)
        self.fusion = ConcatConvFusion(neck_channels)

    def fuse(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Concatenate + convolution (no randomness: ``generator`` is not used)."""
        return self.fusion(f_rgb, f_thermal)
