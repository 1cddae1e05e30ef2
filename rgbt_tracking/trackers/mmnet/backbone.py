"""The shared feature extractor of MMNet: AlexNet without padding (SiamFC / CFNet).

MMNet (Sec. "Implementation details"): "We remove all the paddings of AlexNet and use it
as the base feature extractor". Layer geometry as in SiamFC (Bertinetto et al. 2016,
Table 1) and CFNet's ``make_branch_alexnet``:

=====  ===========  ======  ======  ==============================
layer  kernel       stride  groups  channels (paper / CFNet-conv5)
=====  ===========  ======  ======  ==============================
conv1  11 x 11      2       1       96, then max-pool 3 x 3 / 2
conv2  5 x 5        1       2       256, then max-pool 3 x 3 / 2
conv3  3 x 3        1       1       384
conv4  3 x 3        1       2       384
conv5  3 x 3        1       2       32 (CFNet-conv5's last layer)
=====  ===========  ======  ======  ==============================

Every convolution is followed by batch normalisation and ReLU (CFNet trains its branches
with ``batchNormalization = true``). Total stride 8 (SiamFC's; CFNet-conv5 uses stride 4),
receptive field 87 px at conv5 and 55 px at conv3. A crop of ``S`` px gives conv5 maps of
``(S - 87) / 8 + 1`` cells and conv3 maps 4 cells larger; the input is one thermal channel.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

#: SiamFC's total stride, pixels per feature cell (conv3 and conv5).
TOTAL_STRIDE = 8
#: Receptive field of one conv5 cell, pixels.
CONV5_RECEPTIVE_FIELD = 87
#: conv3 maps are this many cells larger than conv5 maps on each side (conv4, conv5: 3x3).
CONV3_MARGIN = 2
#: Channels of the paper's AlexNet with CFNet-conv5's last layer.
DEFAULT_CHANNELS = (96, 256, 384, 384, 32)
_GROUPS = (1, 2, 1, 2, 2)


def conv5_size(crop_size: int) -> int:
    """conv5 cells of a ``crop_size`` px crop.

    Raises:
        ValueError: a crop the no-padding network does not cover exactly (``crop_size -
            87`` must be a non-negative multiple of 8, e.g. 255, 191, 175).
    """
    size = int(crop_size)
    if size < CONV5_RECEPTIVE_FIELD or (size - CONV5_RECEPTIVE_FIELD) % TOTAL_STRIDE:
        raise ValueError(f"crop_size must be 87 + 8k pixels (e.g. 255, 191, 175) so that the "
                         f"unpadded AlexNet covers it exactly, got {crop_size}")
    return (size - CONV5_RECEPTIVE_FIELD) // TOTAL_STRIDE + 1


class AlexNetBackbone(nn.Module):
    """AlexNet without padding; returns the conv3 and conv5 features.

    Args:
        channels: output channels of conv1..conv5 (five integers; conv2, conv4 and conv5
            are grouped in two, so those and their inputs must be even).
        in_channels: input channels (1: thermal).
    """

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, in_channels: int = 1) -> None:
        super().__init__()
        widths = [int(c) for c in channels]
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(f"backbone channels must be 5 positive integers, got {channels!r}")
        for index, groups in enumerate(_GROUPS):
            previous = in_channels if index == 0 else widths[index - 1]
            if widths[index] % groups or previous % groups:
                raise ValueError(f"conv{index + 1} is grouped in {groups}: its input "
                                 f"({previous}) and output ({widths[index]}) channels must "
                                 "be even")
        self.channels = tuple(widths)

        def block(index: int, c_in: int, kernel: int, stride: int) -> nn.Sequential:
            c_out = widths[index]
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel, stride=stride, groups=_GROUPS[index]),
                nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        self.conv1 = nn.Sequential(block(0, in_channels, 11, 2), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(block(1, widths[0], 5, 1), nn.MaxPool2d(3, 2))
        self.conv3 = block(2, widths[1], 3, 1)
        self.conv4 = block(3, widths[2], 3, 1)
        self.conv5 = block(4, widths[3], 3, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(module.bias, 0.1)   # CFNet's initBias

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features of a batch of crops.

        Args:
            image: (B, 1, S, S) normalised thermal crops (see ``network.normalise_crops``).

        Returns:
            (conv3, conv5): (B, C3, F + 4, F + 4) and (B, C5, F, F) with F = conv5_size(S).
        """
        conv3 = self.conv3(self.conv2(self.conv1(image)))
        return conv3, self.conv5(self.conv4(conv3))
