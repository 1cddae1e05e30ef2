"""ResNet-18 / ResNet-50 feature extractors with torchvision's parameter names.

Architecture of He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), in
the "v1.5" variant that torchvision ships: a bottleneck block downsamples with the stride on
its 3x3 convolution (``conv2``), not on the first 1x1. Module, parameter and buffer names
match torchvision's ``torchvision.models.resnet`` (``conv1.weight``, ``bn1.running_mean``,
``layer3.5.conv3.weight``, ``layer1.0.downsample.0.weight``, ...), so an ImageNet state
dict saved by torchvision (``resnet18-f37072fd.pth``, ``resnet50-0676ba61.pth``) loads into
it once its ``fc.*`` classification-head entries are dropped (see
:func:`rgbt_tracking.nn.weights.load_imagenet_backbone`). There is no ``fc`` layer here.

Inputs are (B, C, H, W) float images normalised with the ImageNet statistics
(:func:`normalize_image`). A thermal image is fed like mfDiMP does (Zhang et al., "Multi-Modal
Fusion for End-to-End RGB-T Tracking", ICCVW 2019): its single channel is replicated to three
channels (:func:`thermal_to_three_channels`) and normalised like RGB. For pixel-level fusion
(mfDiMP Sec. 4.1) the first convolution grows from 7x7x3x64 to 7x7x4x64 and its thermal
input channel is initialised with the mean of the three RGB filters
(:func:`expand_first_conv_weight`).

Siamese trackers (SiamRPN++, Li et al. CVPR 2019; SiamBAN, Chen et al. CVPR 2020) keep the
deep layers at stride 8: ``output_stride=8`` removes the strides of layer3 and layer4 and
dilates their 3x3 convolutions by 2 and 4 instead (``output_stride=16``: layer4 only,
dilation 2). Like torchvision's ``replace_stride_with_dilation``, the first block of a
dilated layer keeps the previous dilation and the following blocks take the new one; the
parameters keep their names and shapes, so ImageNet weights still load. ``valid_stem=True``
drops the padding of the first convolution and of the max pool (SiamRPN++'s trunk does the
former), so that a 127-pixel template gives a 15x15 and a 255-pixel search region a 31x31
map at stride 8, odd sizes whose centre cell lies on the patch centre.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import torch
from torch import nn

#: ImageNet channel means, RGB order, for images scaled to [0, 1].
IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviations, RGB order, for images scaled to [0, 1].
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Output names in network order, with their stride in input pixels.
LAYER_STRIDES: Dict[str, int] = {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}
LAYER_NAMES: Tuple[str, ...] = tuple(LAYER_STRIDES)


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     dilation=dilation, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Maps (B, inplanes, H, W) to (B, planes, ceil(H/stride), ceil(W/stride)); ``dilation``
    dilates both 3x3 convolutions (padding = dilation keeps the size).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride: v1.5), 1x1 expand by 4, residual (ResNet-50+).

    Maps (B, inplanes, H, W) to (B, 4 * planes, ceil(H/stride), ceil(W/stride)); ``dilation``
    dilates the 3x3 convolution.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = Type[Union[BasicBlock, Bottleneck]]

_ARCHITECTURES: Dict[str, Tuple[Block, Tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """ResNet trunk (no pooling head, no ``fc``) returning intermediate feature maps.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks in layer1..layer4, e.g. (2, 2, 2, 2) for ResNet-18.
        in_channels: input channels: 3 for RGB (or replicated thermal), 4 for stacked RGB-T.
        output_layers: names among ``LAYER_NAMES`` to return from :meth:`forward`.
        output_stride: 32 (the classification trunk), 16 (layer4 dilated by 2) or 8
            (layer3 and layer4 dilated by 2 and 4: SiamRPN++ / SiamBAN).
        valid_stem: no padding in ``conv1`` and the max pool (see the module docstring).

    Attributes:
        out_channels: channels of every output name ("conv1" 64; ResNet-18 layer1..4
            64/128/256/512; ResNet-50 256/512/1024/2048).
        strides: stride in input pixels of every output name (2, 4, 8, 16, 32; capped at
            ``output_stride``).
        arch: "resnet18", "resnet50", or "resnet" for another depth.
    """

    def __init__(self, block: Block, layers: Sequence[int], in_channels: int = 3,
                 output_layers: Sequence[str] = ("layer2", "layer3"),
                 output_stride: int = 32, valid_stem: bool = False) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if isinstance(output_layers, str):
            output_layers = (output_layers,)
        unknown = [name for name in output_layers if name not in LAYER_STRIDES]
        if unknown or not output_layers:
            raise ValueError(f"output_layers must be a non-empty subset of {LAYER_NAMES}, "
                             f"got {tuple(output_layers)}")
        self.in_channels = int(in_channels)
        self.output_layers: Tuple[str, ...] = tuple(output_layers)
        self.arch = next((name for name, (b, n) in _ARCHITECTURES.items()
                          if b is block and n == tuple(int(v) for v in layers)), "resnet")

        self.output_stride = int(output_stride)
        self.valid_stem = bool(valid_stem)
        self.inplanes = 64
        self.dilation = 1
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2,
                               padding=0 if valid_stem else 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0 if valid_stem else 1)
        self.layer1 = self._make_layer(block, 64, int(layers[0]), stride=1)
        self.layer2 = self._make_layer(block, 128, int(layers[1]), stride=2)
        self.layer3 = self._make_layer(block, 256, int(layers[2]), stride=2,
                                       dilate=output_stride <= 8)
        self.layer4 = self._make_layer(block, 512, int(layers[3]), stride=2,
                                       dilate=output_stride <= 16)

        self.out_channels: Dict[str, int] = {"conv1": 64}
        for index, planes in enumerate((64, 128, 256, 512), start=1):
            self.out_channels[f"layer{index}"] = planes * block.expansion
        self.strides: Dict[str, int] = {name: min(stride, self.output_stride)
                                        for name, stride in LAYER_STRIDES.items()}
        self._initialise()

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int,
                    dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:          # the stride becomes dilation of this and later layers
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        modules: List[nn.Module] = [block(self.inplanes, planes, stride, downsample,
                                          previous_dilation)]
        self.inplanes = planes * block.expansion
        modules += [block(self.inplanes, planes, dilation=self.dilation)
                    for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def _initialise(self) -> None:
        """He-normal (fan-out) convolutions, unit-scale zero-shift batch norms (as torchvision)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run the trunk up to the deepest requested output.

        Args:
            x: (B, in_channels, H, W) float, ImageNet-normalised.

        Returns:
            {name: (B, out_channels[name], h, w)} for every name in ``output_layers``, where
            h = ceil(H / stride) per stride-2 stage (e.g. 288 -> 144, 72, 36, 18, 9).
            Dilated layers keep their input size; with ``valid_stem`` the first two
            stages give floor((H - 7) / 2) + 1 and floor((h - 3) / 2) + 1 (127 -> 61 -> 30).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        deepest = max(LAYER_NAMES.index(name) for name in self.output_layers)
        outputs: Dict[str, torch.Tensor] = {}
        x = self.relu(self.bn1(self.conv1(x)))
        if "conv1" in self.output_layers:
            outputs["conv1"] = x
        if deepest == 0:
            return outputs
        x = self.maxpool(x)
        for index in range(1, deepest + 1):
            name = LAYER_NAMES[index]
            x = getattr(self, name)(x)
            if name in self.output_layers:
                outputs[name] = x
        return outputs


def resnet18(in_channels: int = 3, output_layers: Sequence[str] = ("layer2", "layer3"),
             output_stride: int = 32, valid_stem: bool = False) -> ResNet:
    """ResNet-18 trunk (BasicBlock, 2-2-2-2), randomly initialised."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, output_layers, output_stride,
                  valid_stem)


def resnet50(in_channels: int = 3, output_layers: Sequence[str] = ("layer2", "layer3"),
             output_stride: int = 32, valid_stem: bool = False) -> ResNet:
    """ResNet-50 trunk (Bottleneck v1.5, 3-4-6-3), randomly initialised."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, output_layers, output_stride,
                  valid_stem)


def build_resnet(name: str, in_channels: int = 3,
                 output_layers: Sequence[str] = ("layer2", "layer3"),
                 output_stride: int = 32, valid_stem: bool = False) -> ResNet:
    """ResNet trunk by name: "resnet18" or "resnet50" (see :class:`ResNet` for the rest)."""
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(_ARCHITECTURES)}")
    block, layers = _ARCHITECTURES[name]
    return ResNet(block, layers, in_channels, output_layers, output_stride, valid_stem)


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of RGB images given in the 0..255 range.

    Args:
        x: (B, 3, H, W) float, RGB order, values 0..255 (uint8 range).

    Returns:
        (B, 3, H, W): (x / 255 - IMAGENET_MEAN) / IMAGENET_STD per channel.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def thermal_to_three_channels(t: torch.Tensor) -> torch.Tensor:
    """Replicate a one-channel thermal image to three channels (mfDiMP's thermal input).

    Args:
        t: (B, 1, H, W) thermal image, same value range as the RGB images (0..255).

    Returns:
        (B, 3, H, W) with every channel equal to ``t``; normalise it with :func:`normalize_image`.
    """
    if t.dim() != 4 or t.shape[1] != 1:
        raise ValueError(f"expected thermal images (B, 1, H, W), got {tuple(t.shape)}")
    return t.expand(-1, 3, -1, -1).contiguous()


def expand_first_conv_weight(rgb_weight: torch.Tensor) -> torch.Tensor:
    """Grow an RGB first-layer filter bank by one thermal input channel (mfDiMP Sec. 4.1).

    Args:
        rgb_weight: (64, 3, 7, 7) convolution weight of ``conv1``.

    Returns:
        (64, 4, 7, 7): the RGB filters unchanged in channels 0..2, and channel 3 (thermal)
        equal to their mean over the three RGB input channels.
    """
    if rgb_weight.dim() != 4 or rgb_weight.shape[1] != 3:
        raise ValueError(f"expected an RGB conv weight (out, 3, kh, kw), got {tuple(rgb_weight.shape)}")
    thermal = rgb_weight.mean(dim=1, keepdim=True)
    return torch.cat([rgb_weight, thermal], dim=1)


def adapt_state_dict_in_channels(state_dict: Mapping[str, torch.Tensor],
                                 in_channels: int) -> Dict[str, torch.Tensor]:
    """Fit an RGB (3-channel) ResNet state dict to a trunk with ``in_channels`` inputs.

    3 channels: returned unchanged (a shallow copy). 4 channels: ``conv1.weight`` is
    expanded with :func:`expand_first_conv_weight`. A state dict whose ``conv1.weight``
    already has ``in_channels`` inputs is returned unchanged.

    Raises:
        ValueError: no ``conv1.weight``, or no rule to go from its channels to ``in_channels``.
    """
    adapted = dict(state_dict)
    if "conv1.weight" not in adapted:
        raise ValueError("state dict has no 'conv1.weight' entry; is it a ResNet state dict?")
    weight = adapted["conv1.weight"]
    have = int(weight.shape[1])
    if have == in_channels:
        return adapted
    if have == 3 and in_channels == 4:
        adapted["conv1.weight"] = expand_first_conv_weight(weight)
        return adapted
    raise ValueError(f"cannot adapt 'conv1.weight' with {have} input channels to {in_channels} "
                     "(supported: 3 -> 3 and 3 -> 4)")
