"""pix2pix networks (Isola, Zhu, Zhou, Efros: "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017) for RGB -> thermal translation.

mfDiMP (Zhang et al., ICCV-W 2019, Sec. 4.2) trains its RGB-T trackers on GOT-10k videos
whose thermal images are synthesised by a pix2pix model trained on aligned RGB/thermal
pairs. This module holds the two networks and the inference helper.

Notation of the paper (Sec. 6.1.1 of the arXiv version): ``Ck`` is Convolution-Norm-ReLU
with k filters, ``CDk`` the same with dropout 0.5; every convolution is 4x4 with stride 2
(except the last two of the discriminator, stride 1).

* :class:`UNetGenerator`: encoder ``C64-C128-C256-C512-C512-C512-C512-C512`` (LeakyReLU 0.2,
  no norm on the first and on the innermost layer), decoder mirroring it with skip
  connections (ReLU, dropout 0.5 in the first three decoder blocks), a final transposed
  convolution to the output channels and ``tanh``.
* :class:`PatchDiscriminator`: the conditional 70x70 PatchGAN ``C64-C128-C256-C512`` then a
  1-channel convolution: a map of real/fake logits, one per 70x70 input patch.

Weights are initialised from N(0, 0.02) (norm scales from N(1, 0.02)), as in the paper.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

NORMS = ("batch", "instance")


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # pix2pix's instance norm: no affine parameters, no running statistics.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def _check_positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def init_pix2pix_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix initialisation: conv weights ~ N(0, std), norm scales ~ N(1, std), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


class UNetGenerator(nn.Module):
    """U-Net generator of pix2pix: ``num_downs`` stride-2 down steps, mirrored up steps.

    Encoder layer ``i`` has ``base_channels * min(2**i, 8)`` filters (C64-C128-C256-C512-
    C512... for the default 64). Decoder block ``j`` (counted from the innermost) upsamples
    the concatenation of the previous decoder output and the encoder feature of the same
    size; the first ``num_dropout_blocks`` decoder blocks use dropout 0.5 (three in the
    paper: ``CD512-CD1024-CD1024``). The innermost encoder layer and the outermost one have
    no norm; the output is ``tanh``, in ``[-1, 1]``.

    Args:
        in_channels: input channels (3 for RGB).
        out_channels: output channels (1 for thermal).
        num_downs: number of down steps; an input side must be divisible by
            ``2**num_downs`` (8: 256x256 -> 1x1 bottleneck, the paper's setting).
        base_channels: filters of the first layer (64 in the paper).
        norm: ``"batch"`` (the paper) or ``"instance"``.
        num_dropout_blocks: how many decoder blocks, from the innermost, use dropout.

    Shapes:
        input (B, in_channels, H, W) in [-1, 1] -> output (B, out_channels, H, W) in [-1, 1].

    Raises:
        ValueError: a non-positive size, ``num_downs < 2`` or an unknown norm.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, num_downs: int = 8,
                 base_channels: int = 64, norm: str = "batch",
                 num_dropout_blocks: int = 3) -> None:
        super().__init__()
        self.in_channels = _check_positive("in_channels", in_channels)
        self.out_channels = _check_positive("out_channels", out_channels)
        self.num_downs = _check_positive("num_downs", num_downs, 2)
        self.base_channels = _check_positive("base_channels", base_channels)
        self.norm = norm
        self.num_dropout_blocks = _check_positive("num_dropout_blocks", num_dropout_blocks, 0)
        _norm_layer(norm, 1)  # validates the name
        # With a norm layer after a convolution its bias is redundant (BatchNorm has its own
        # shift); instance norm without affine parameters keeps the convolution's bias.
        bias = norm == "instance"
        widths = [base_channels * min(2 ** i, 8) for i in range(num_downs)]
        self.encoder = nn.ModuleList()
        for i, width in enumerate(widths):
            layers: List[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2))
            source = in_channels if i == 0 else widths[i - 1]
            innermost = i == num_downs - 1
            layers.append(nn.Conv2d(source, width, 4, stride=2, padding=1,
                                    bias=bias or i == 0 or innermost))
            if 0 < i < num_downs - 1:
                layers.append(_norm_layer(norm, width))
            self.encoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList()
        for j, level in enumerate(range(num_downs - 1, 0, -1)):
            source = widths[level] if j == 0 else 2 * widths[level]
            layers = [nn.ReLU(),
                      nn.ConvTranspose2d(source, widths[level - 1], 4, stride=2, padding=1,
                                         bias=bias),
                      _norm_layer(norm, widths[level - 1])]
            if j < num_dropout_blocks:
                layers.append(nn.Dropout(0.5))
            self.decoder.append(nn.Sequential(*layers))
        self.output = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * widths[0], out_channels, 4, stride=2, padding=1),
            nn.Tanh())
        init_pix2pix_weights(self)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (``2**num_downs``)."""
        return 2 ** self.num_downs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1].

        Raises:
            ValueError: wrong channel count or a side not divisible by ``2**num_downs``.
        """
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"UNetGenerator expects (B, {self.in_channels}, H, W), "
                             f"got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"UNetGenerator with num_downs={self.num_downs} needs H and W "
                             f"divisible by {self.size_multiple}, got {height}x{width}")
        skips = []
        features = images
        for layer in self.encoder:
            features = layer(features)
            skips.append(features)
        features = skips.pop()
        for block in self.decoder:
            features = torch.cat([block(features), skips.pop()], dim=1)
        return self.output(features)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN discriminator (pix2pix's 70x70 ``C64-C128-C256-C512``).

    ``num_layers`` stride-2 convolutions (64, 128, 256 filters for 3), one stride-1
    convolution (512) and a stride-1 convolution to one channel, all 4x4 with padding 1,
    LeakyReLU 0.2, no norm on the first layer. With ``num_layers=3`` each output logit sees
    a 70x70 input patch; an input of 256x256 gives a 30x30 map.

    Args:
        in_channels: channels of the conditioned input, ``concat(rgb, thermal)`` = 4.
        base_channels: filters of the first layer.
        num_layers: number of stride-2 layers (3: the 70x70 PatchGAN).
        norm: ``"batch"`` or ``"instance"``.

    Shapes:
        input (B, in_channels, H, W) -> logits (B, 1, H', W') (no sigmoid).
    """

    def __init__(self, in_channels: int = 4, base_channels: int = 64, num_layers: int = 3,
                 norm: str = "batch") -> None:
        super().__init__()
        self.in_channels = _check_positive("in_channels", in_channels)
        self.base_channels = _check_positive("base_channels", base_channels)
        self.num_layers = _check_positive("num_layers", num_layers)
        self.norm = norm
        _norm_layer(norm, 1)
        bias = norm == "instance"
        layers: List[nn.Module] = [
            nn.Conv2d(in_channels, base_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = base_channels
        for n in range(1, num_layers + 1):
            previous, width = width, base_channels * min(2 ** n, 8)
            stride = 2 if n < num_layers else 1
            layers += [nn.Conv2d(previous, width, 4, stride=stride, padding=1, bias=bias),
                       _norm_layer(norm, width), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)
        init_pix2pix_weights(self)

    def kernel_strides(self) -> List[Tuple[int, int]]:
        """(kernel, stride) of every convolution, input to output."""
        return [(conv.kernel_size[0], conv.stride[0]) for conv in self.layers
                if isinstance(conv, nn.Conv2d)]

    def receptive_field(self) -> int:
        """Side in pixels of the input patch one output logit depends on (70 for 3 layers).

        Computed backwards through the convolutions: ``r_in = (r_out - 1) * stride + kernel``.
        """
        field = 1
        for kernel, stride in reversed(self.kernel_strides()):
            field = (field - 1) * stride + kernel
        return field

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        """(H', W') of the logit map for an H x W input (``floor((n + 2 - 4) / s) + 1``)."""
        for kernel, stride in self.kernel_strides():
            height = (height + 2 - kernel) // stride + 1
            width = (width + 2 - kernel) // stride + 1
        return height, width

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) = concat(rgb, thermal) in [-1, 1] -> (B, 1, H', W') logits."""
        if pair.ndim != 4 or pair.shape[1] != self.in_channels:
            raise ValueError(f"PatchDiscriminator expects (B, {self.in_channels}, H, W), "
                             f"got {tuple(pair.shape)}")
        return self.layers(pair)


def working_size(height: int, width: int, multiple: int,
                 short_side: Optional[int] = None) -> Tuple[int, int]:
    """(H', W') multiples of ``multiple`` closest to ``(height, width)`` (at least one
    multiple each); with ``short_side`` the image is first scaled so that its shorter side
    is ``short_side`` (aspect ratio kept)."""
    scale = 1.0 if short_side is None else short_side / min(height, width)

    def nearest(n: int) -> int:
        return max(multiple, int(round(n * scale / multiple)) * multiple)

    return nearest(height), nearest(width)


def translate_rgb_to_thermal(generator: UNetGenerator, rgb: np.ndarray, device: str = "cpu",
                             short_side: Optional[int] = None) -> np.ndarray:
    """Synthesise the thermal image of one RGB image with a trained generator.

    The image is resized to the nearest multiple of ``2**num_downs`` in each direction
    (after scaling its shorter side to ``short_side`` when given, to match the scale the
    generator was trained at), mapped to [-1, 1], translated in eval mode (running
    BatchNorm statistics, no dropout; the module's train/eval mode is restored afterwards)
    and resized back.

    Args:
        generator: a trained :class:`UNetGenerator` with 3 input and 1 output channel; it is
            moved to ``device``.
        rgb: H x W x 3 uint8, RGB order.
        device: torch device to run on.
        short_side: optional working scale (shorter side in pixels) before rounding.

    Returns:
        H x W uint8 thermal image (generator output ``t`` in [-1, 1] -> ``(t + 1) * 127.5``).

    Raises:
        ValueError: ``rgb`` is not H x W x 3 uint8, or the generator's channels do not fit.
    """
    import cv2

    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise ValueError(f"rgb must be an H x W x 3 uint8 array, got shape {shape} dtype {dtype}")
    if generator.in_channels != 3 or generator.out_channels != 1:
        raise ValueError(f"generator must map 3 channels to 1, it maps "
                         f"{generator.in_channels} to {generator.out_channels}")
    height, width = rgb.shape[:2]
    new_h, new_w = working_size(height, width, generator.size_multiple, short_side)
    shrink = new_h * new_w < height * width
    resized = cv2.resize(rgb, (new_w, new_h),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    tensor = torch.from_numpy(np.ascontiguousarray(resized)).to(device)
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0
    generator.to(device)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            output = generator(tensor)[0, 0]
    finally:
        generator.train(was_training)
    thermal = ((output + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    if (new_h, new_w) != (height, width):
        thermal = cv2.resize(thermal, (width, height),
                             interpolation=cv2.INTER_LINEAR if shrink else cv2.INTER_AREA)
    return thermal
