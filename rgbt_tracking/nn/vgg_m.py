"""VGG-M conv1-conv3 as RT-MDNet uses it: the feature extractor of M5L and CMI.

Chatfield et al., "Return of the Devil in the Details" (BMVC 2014) VGG-M, cut after conv3 by
MDNet (Nam & Han, CVPR 2016) and made dense by RT-MDNet (Jung et al., ECCV 2018, Sec. 3.2:
the max pooling after conv2 is removed and conv3 is dilated with rate 3, so that RoIAlign
reads a finer map). M5L, Sec. III-A: "the first three layers of VGG-M ... Similar to
RT-MDNet, we discard the max pooling layer".

=====  ========  ======  ========  ========  =====================================
layer  kernel    stride  dilation  channels  then
=====  ========  ======  ========  ========  =====================================
conv1  7 x 7     2       1         96        ReLU, LRN, max-pool 3 x 3 / 2
conv2  5 x 5     2       1         256       ReLU, LRN (no pooling: RT-MDNet)
conv3  3 x 3     1       3         512       ReLU (no pooling)
=====  ========  ======  ========  ========  =====================================

No padding anywhere. Total stride 8 pixels per conv3 cell (RoIAlign's spatial_scale 1/8);
receptive field of one conv3 cell 75 pixels (RT-MDNet's ``receptive_field = 75``). An
input of S pixels gives conv3 maps of :func:`conv3_size` (S) cells, e.g. 107 -> 5.

LRN is MDNet's (Caffe's norm1/norm2: local_size 5, alpha 0.0005, beta 0.75, k 2):
``b_c = a_c / (2 + 1e-4 * sum_{|c' - c| <= 2} a_c'^2) ** 0.75``, i.e. torch's
LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2), which divides alpha by the size (computed
by :mod:`rgbt_tracking.nn.lrn`, the same values about 3x faster on the CPU).
MDNet feeds images in [0, 255] minus 128 (no per-channel scaling).

Weights (nothing is downloaded): :func:`load_vgg_m_weights` reads a torch file (``.pth``)
of RT-MDNet or py-MDNet, whose parameter names this module reproduces. Key mapping:

===================================================  ===================================
file key                                             module key
===================================================  ===================================
``conv{n}.0.weight`` / ``conv{n}.0.bias``            same (n = 1, 2, 3)
``layers.conv{n}.0.*`` (whole RT-MDNet model)        ``conv{n}.0.*`` (prefix "layers.")
``shared_layers`` entry of RT-MDNet's checkpoint     its ``conv{n}.0.*`` entries
``{prefix}conv{n}.0.*`` (e.g. "layers_v.")           ``conv{n}.0.*`` with ``prefix=``
``fc4.*``, ``fc5.*`` (MDNet's fully connected)       ignored
===================================================  ===================================

MDNet's MATLAB ``imagenet-vgg-m.mat`` is not read (no scipy here): convert it once to a
torch state dict with these key names. For a 1-channel (thermal) network the RGB conv1
filters are *summed* over their three input channels, so that a grey image fed as one
channel gives exactly the features of the same image replicated into three channels (the
way two-stream RGB-T MDNets feed their thermal VGG-M); see :func:`adapt_first_layer`.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.lrn import LocalResponseNorm
from rgbt_tracking.nn.weights import LoadReport, PathLike, load_matching, load_state_dict_file

#: Pixels per conv3 cell.
TOTAL_STRIDE = 8
#: Pixels seen by one conv3 cell.
RECEPTIVE_FIELD = 75
#: Channels of conv3.
OUT_CHANNELS = 512
#: RT-MDNet's checkpoint keeps the convolutions under this entry.
RT_MDNET_ENTRY = "shared_layers"
#: Prefixes tried (in order) when loading without an explicit prefix.
KNOWN_PREFIXES: Tuple[str, ...] = ("", "layers.")
_IGNORED = ("fc4.", "fc5.", "fc6", "branches.")
_SOURCE = ("VGG-M conv1-3 weights as a torch state dict: RT-MDNet's or py-MDNet's .pth "
           "(keys conv1.0.weight ..., or layers.conv1.0.weight ...); nothing is downloaded")


def conv3_size(input_size: int) -> int:
    """conv3 cells along a side of ``input_size`` pixels (no padding, floor division).

    Raises:
        ValueError: fewer than 75 pixels (not one whole conv3 cell).
    """
    size = int(input_size)
    conv1 = (size - 7) // 2 + 1
    pool1 = (conv1 - 3) // 2 + 1
    conv2 = (pool1 - 5) // 2 + 1
    conv3 = conv2 - 6
    if conv3 < 1:
        raise ValueError(f"input of {input_size} px is too small for VGG-M conv1-3 "
                         f"(at least {RECEPTIVE_FIELD} px)")
    return conv3


class VGGMBackbone(nn.Module):
    """conv1-conv3 of VGG-M with RT-MDNet's dense conv3 (see the module docstring).

    Args:
        in_channels: 3 (RGB) or 1 (thermal).
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 3 (RGB) or 1 (thermal), got {in_channels!r}")
        self.in_channels = int(in_channels)
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 96, 7, stride=2), nn.ReLU(),
                                   _mdnet_lrn(), nn.MaxPool2d(3, stride=2))
        self.conv2 = nn.Sequential(nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), _mdnet_lrn())
        self.conv3 = nn.Sequential(nn.Conv2d(256, OUT_CHANNELS, 3, stride=1, dilation=3), nn.ReLU())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) images (MDNet scaling: pixel - 128) ->
        (B, 512, conv3_size(H), conv3_size(W)) conv3 features."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W) images, "
                             f"got {tuple(image.shape)}")
        return self.conv3(self.conv2(self.conv1(image)))


def _mdnet_lrn() -> LocalResponseNorm:
    return LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


def build_vgg_m(in_channels: int = 3, weights_path: Optional[PathLike] = None,
                prefix: Optional[str] = None) -> VGGMBackbone:
    """A VGG-M conv1-3 backbone, loaded from ``weights_path`` when given (strict)."""
    backbone = VGGMBackbone(in_channels)
    if weights_path is not None:
        load_vgg_m_weights(backbone, weights_path, prefix=prefix)
    return backbone


def read_vgg_m_state_dict(path: PathLike) -> Dict[str, torch.Tensor]:
    """Tensors of a VGG-M weight file: a bare state dict, one under "state_dict"/"net"/
    "model" (see ``weights.load_state_dict_file``), or RT-MDNet's ``shared_layers`` entry.

    Raises:
        FileNotFoundError: no file at ``path`` (the message names it).
        ValueError: a MATLAB .mat file, or a file that holds none of these layouts.
    """
    path = Path(path)
    if path.suffix.lower() == ".mat" and path.is_file():
        raise ValueError(f"{path} is MATLAB (MDNet's imagenet-vgg-m.mat); convert it to a torch "
                         "state dict with keys conv1.0.weight, conv1.0.bias, ... conv3.0.bias")
    try:
        return load_state_dict_file(path, source=_SOURCE)
    except ValueError:
        shared = _rt_mdnet_shared_layers(path)
        if shared is None:
            raise
        return shared


def _rt_mdnet_shared_layers(path: Path) -> Optional[Dict[str, torch.Tensor]]:
    """The ``shared_layers`` dict of an RT-MDNet checkpoint, or None for another layout."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:   # unreadable: the caller re-raises load_state_dict_file's error
        return None
    shared = checkpoint.get(RT_MDNET_ENTRY) if isinstance(checkpoint, Mapping) else None
    if not isinstance(shared, Mapping) or not shared:
        return None
    if not all(isinstance(value, torch.Tensor) for value in shared.values()):
        return None
    return {str(key): value for key, value in shared.items()}


def adapt_first_layer(state_dict: Mapping[str, torch.Tensor], in_channels: int,
                      key: str = "conv1.0.weight") -> Dict[str, torch.Tensor]:
    """Fit RGB conv1 filters (96, 3, 7, 7) to ``in_channels`` inputs.

    1 channel: the filters are summed over R, G, B (W' = W_R + W_G + W_B), so that a grey
    image g gives W' * g = sum_c W_c * g, the response to (g, g, g). 3 channels, or filters
    that already have ``in_channels`` inputs: unchanged (shallow copy).

    Raises:
        ValueError: ``key`` missing, or no rule from its channels to ``in_channels``.
    """
    adapted = dict(state_dict)
    if key not in adapted:
        raise ValueError(f"state dict has no {key!r} entry; is it a VGG-M conv1-3 state dict?")
    have = int(adapted[key].shape[1])
    if have == in_channels:
        return adapted
    if have == 3 and in_channels == 1:
        adapted[key] = adapted[key].sum(dim=1, keepdim=True)
        return adapted
    raise ValueError(f"cannot adapt {key!r} with {have} input channels to {in_channels} "
                     "(supported: 3 -> 3 and 3 -> 1)")


def load_vgg_m_weights(backbone: VGGMBackbone, path: PathLike,
                       prefix: Optional[str] = None) -> LoadReport:
    """Load RT-MDNet / py-MDNet conv1-3 weights from ``path`` into ``backbone`` (strict).

    Args:
        backbone: target network (1 or 3 input channels).
        path: torch file; see the key mapping in the module docstring.
        prefix: key prefix to strip (e.g. "layers_v."); None tries "" then "layers.".

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: unreadable file, no conv1-3 weights under the prefix, or weights of
            other shapes (the message lists the keys).
    """
    state = read_vgg_m_state_dict(path)
    if prefix is None:
        prefix = next((p for p in KNOWN_PREFIXES if f"{p}conv1.0.weight" in state), "")
    selected = OrderedDict((key[len(prefix):], value) for key, value in state.items()
                           if key.startswith(prefix))
    selected = adapt_first_layer(selected, backbone.in_channels)
    return load_matching(backbone, selected, ignore=_IGNORED, strict=True)
