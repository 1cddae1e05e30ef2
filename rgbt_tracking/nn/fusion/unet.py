"""The conditional U-shaped network U of GMMT, small enough for a CPU tracker.

GMMT (Sec. "Generative-Based Fusion Mechanism") concatenates the noisy fused feature x_t,
the modality features (f_1, ..., f_m) and the embedding f_t of the time step, and feeds
them to a U-shaped network U; its ablation uses the DDPM UNet (Ho et al. 2020). This module
follows the DDPM UNet's layout (GroupNorm-SiLU-conv residual blocks, the sinusoidal time
embedding through a two-layer MLP added to every block, stride-2 downsampling, skip
connections), made light for stride-8 tracking features (7x7 to 31x31):

* the concatenated input (x_t and the conditions: 3 x 256 channels) is mixed by one 1x1
  convolution (the fusion proper) before any 3x3 convolution. That convolution is split into
  a term on x_t and a term on the conditions, which is the same linear map; the conditions'
  term does not change between DDIM steps, so :meth:`ConditionalUNet.prepare_conditions`
  computes it once per sampling run;
* one 3x3 convolution per residual block and none in the encoder at full resolution (the
  stem is that stage; 3x3 convolutions at 31x31 dominate the cost); the same width
  ``unet_channels`` at every level (DDPM doubles widths, which costs 1.6x here);
  upsampling by 2x2 transposed convolutions; skip connections added to the upsampled
  features (DDPM concatenates them; adding saves a concatenation and a 1x1 projection per
  level).

The time embedding is added to the features of every residual block, as in DDPM; the
paper's "concatenated" f_t, broadcast over H x W and fed to a convolution, amounts to such
a per-channel bias (away from the border).

Any H, W >= 1: the input is padded (replicate) on the bottom and right to a multiple of
``2**levels`` and the output cropped back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

#: GroupNorm groups (DDPM uses 32 for widths >= 128; 8 suits the narrow widths here).
NORM_GROUPS = 8


def sinusoidal_time_embedding(time_steps: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer / DDPM sinusoidal embedding of integer time steps.

    ``emb[b, k] = sin(t_b * w_k)`` for ``k < dim/2`` and ``cos(t_b * w_{k - dim/2})`` after,
    with ``w_k = 10000 ** (-k / (dim/2))``.

    Args:
        time_steps: (B,) time step indices (any numeric dtype).
        dim: even embedding size.

    Returns:
        (B, dim) float32 embedding on the device of ``time_steps``.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"time embedding dim must be even and >= 2, got {dim}")
    if time_steps.ndim != 1:
        raise ValueError(f"time_steps must be (B,), got {tuple(time_steps.shape)}")
    half = dim // 2
    exponent = torch.arange(half, device=time_steps.device, dtype=torch.float32) / half
    frequencies = torch.exp(-math.log(10000.0) * exponent)
    angles = time_steps.to(torch.float32)[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(NORM_GROUPS, channels), channels)


class _ResidualBlock(nn.Module):
    """``out = x + conv3x3(SiLU(GN(x))) + W_t f_t`` (the time term only with an embedding)."""

    def __init__(self, channels: int, time_dim: Optional[int]) -> None:
        super().__init__()
        self.norm = _group_norm(channels)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.time = nn.Linear(time_dim, channels) if time_dim else None

    def forward(self, x: torch.Tensor, embedding: Optional[torch.Tensor]) -> torch.Tensor:
        h = self.conv(F.silu(self.norm(x)))
        if self.time is not None:
            h = h + self.time(embedding)[:, :, None, None]
        return x + h


@dataclass
class PreparedConditions:
    """The conditions' part of the stem, computed once for several calls of the network.

    Attributes:
        stem_term: (B, base_channels, H, W) the 1x1 stem convolution of the conditions
            (with the stem's bias), not yet padded.
    """

    stem_term: torch.Tensor


class ConditionalUNet(nn.Module):
    """U-shaped network on concatenated feature maps, optionally time-conditioned.

    The input is ``concat(inputs, conditions)``: ``inputs`` changes from call to call (x_t,
    or the cGAN's noise; absent for RAW), ``conditions`` (f_rgb, f_thermal) may be prepared
    once with :meth:`prepare_conditions`.

    Args:
        in_channels: channels of ``inputs`` (C for x_t, noise_dim for z; 0: none).
        condition_channels: channels of ``conditions`` (2C).
        out_channels: output channels (C).
        base_channels: width of every level (``unet_channels``).
        levels: number of stride-2 down steps (``unet_levels``); 0 gives a plain stack.
        time_embedding_dim: size of the sinusoidal embedding of t, or None for a network
            without time input (the cGAN generator and the RAW control).

    Shapes:
        inputs (B, in_channels, H, W), conditions (B, condition_channels, H, W), time_steps
        (B,) integer -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, condition_channels: int, out_channels: int,
                 base_channels: int = 64,
                 levels: int = 2, time_embedding_dim: Optional[int] = None) -> None:
        super().__init__()
        for name, value, minimum in (("in_channels", in_channels, 0),
                                     ("condition_channels", condition_channels, 1),
                                     ("out_channels", out_channels, 1),
                                     ("base_channels", base_channels, 1),
                                     ("levels", levels, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        self.in_channels = in_channels
        self.condition_channels = condition_channels
        self.out_channels = out_channels
        self.levels = levels
        self.time_embedding_dim = time_embedding_dim
        width = base_channels
        time_dim = None
        if time_embedding_dim is not None:
            if time_embedding_dim < 2 or time_embedding_dim % 2:
                raise ValueError(f"time_embedding_dim must be even and >= 2, got "
                                 f"{time_embedding_dim}")
            time_dim = 4 * width  # DDPM: the MLP widens the embedding to 4 x base width
            self.time_mlp = nn.Sequential(nn.Linear(time_embedding_dim, time_dim), nn.SiLU(),
                                          nn.Linear(time_dim, time_dim))
        # stem = one 1x1 convolution on concat(inputs, conditions), as two terms.
        self.stem_inputs = nn.Conv2d(in_channels, width, 1, bias=False) if in_channels else None
        self.stem_conditions = nn.Conv2d(condition_channels, width, 1)
        # Level 0 (full resolution) has no encoder block: the stem is that stage; its
        # output is the skip of the full-resolution decoder block.
        self.encoder = nn.ModuleList([_ResidualBlock(width, time_dim) for _ in range(levels)])
        self.down = nn.ModuleList([nn.Conv2d(width, width, 3, stride=2, padding=1)
                                   for _ in range(levels)])
        self.middle = _ResidualBlock(width, time_dim)
        self.up = nn.ModuleList([nn.ConvTranspose2d(width, width, 2, stride=2)
                                 for _ in range(levels)])
        self.decoder = nn.ModuleList([_ResidualBlock(width, time_dim) for _ in range(levels)])
        self.head = nn.Sequential(_group_norm(width), nn.SiLU(), nn.Conv2d(width, out_channels, 1))

    @property
    def size_multiple(self) -> int:
        """Inside, H and W are padded to multiples of this (``2**levels``)."""
        return 2 ** self.levels

    def prepare_conditions(self, conditions: torch.Tensor) -> PreparedConditions:
        """The stem's term of the conditions (B, condition_channels, H, W), reusable by
        several :meth:`forward` calls on the same conditions (DDIM steps)."""
        if conditions.ndim != 4 or conditions.shape[1] != self.condition_channels:
            raise ValueError(f"ConditionalUNet conditions must be (B, "
                             f"{self.condition_channels}, H, W), got {tuple(conditions.shape)}")
        return PreparedConditions(self.stem_conditions(conditions))

    def _time_embedding(self, time_steps: Optional[torch.Tensor], batch: int,
                        like: torch.Tensor) -> Optional[torch.Tensor]:
        if self.time_embedding_dim is None:
            if time_steps is not None:
                raise ValueError("this ConditionalUNet has no time embedding; time_steps "
                                 "must be None")
            return None
        if time_steps is None or time_steps.shape != (batch,):
            got = None if time_steps is None else tuple(time_steps.shape)
            raise ValueError(f"time_steps must be ({batch},), got {got}")
        sinusoid = sinusoidal_time_embedding(time_steps.to(like.device),
                                             self.time_embedding_dim)
        return self.time_mlp(sinusoid.to(like.dtype))

    def forward(self, inputs: Optional[torch.Tensor],
                conditions: Union[torch.Tensor, PreparedConditions],
                time_steps: Optional[torch.Tensor] = None) -> torch.Tensor:
        """U(concat(inputs, conditions)[, t]) -> (B, out_channels, H, W).

        Args:
            inputs: (B, in_channels, H, W), or None when ``in_channels`` is 0.
            conditions: (B, condition_channels, H, W) or their :meth:`prepare_conditions`.
            time_steps: (B,) integer steps (networks with a time embedding only).

        Raises:
            ValueError: wrong channels or sizes, or time steps missing / superfluous.
        """
        if not isinstance(conditions, PreparedConditions):
            conditions = self.prepare_conditions(conditions)
        stem = conditions.stem_term
        batch, _, height, width = stem.shape
        if self.stem_inputs is None:
            if inputs is not None:
                raise ValueError("this ConditionalUNet takes no inputs besides the conditions")
        else:
            expected = (batch, self.in_channels, height, width)
            if inputs is None or tuple(inputs.shape) != expected:
                got = None if inputs is None else tuple(inputs.shape)
                raise ValueError(f"ConditionalUNet inputs must be {expected}, got {got}")
            stem = stem + self.stem_inputs(inputs)
        embedding = self._time_embedding(time_steps, batch, stem)
        multiple = self.size_multiple
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            # Replicate padding commutes with the pointwise stem: same as padding the input.
            stem = F.pad(stem, (0, pad_w, 0, pad_h), mode="replicate")
        features = stem
        skips: List[torch.Tensor] = []
        for down, block in zip(self.down, self.encoder):
            skips.append(features)
            features = block(down(features), embedding)
        features = self.middle(features, embedding)
        for up, block in zip(self.up, self.decoder):
            features = block(up(features) + skips.pop(), embedding)
        return self.head(features)[:, :, :height, :width]
