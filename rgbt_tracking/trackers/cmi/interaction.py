"""The cross-modal interaction module of CMI (Xu et al. 2023, Eq. 1-3, Fig. 1(b)).

On the convolutional features F_R, F_T (B, C, H, W) of the two modalities, N = H W:

    W_R^pixel = softmax(Q_R K_R^T / sqrt(d_R)),
    W_T^pixel = softmax(Q_T K_T^T / sqrt(d_T))                                    (Eq. 2)
    W^relation = softmax(W_T^pixel (.) W_R^pixel)                                 (Eq. 3)
    F_{T->R} = W V_T,  F'_R = concat(F_R, lambda_R F_{T->R}), symmetrically for T (Eq. 1)

Q, K ("learned from F through one or more 1x1 convolutional layers") are (N, d) matrices,
one pair per modality; the softmax ("a standard normalization (e.g., softmax)") runs over
each row, i.e. over the key positions j of W[i, j]; row i of W weights the positions that
are propagated into position i.

Readings where the letter is terse (each stated again next to the code):

1. Propagated values: Eq. 1 propagates "F_T"; like every attention block we take them
   through a 1x1 value projection V_T (C -> C channels), one per modality.
2. Which correlation guides the pixel level: the paper calls the pixel level the
   "intra-modal correlation in the spatial domain" and keeps the association of the two
   modalities' patterns for the relation level, so by default the source modality's own
   affinity propagates its features: F_{T->R}^pixel = W_T^pixel V_T
   (``pixel_guide="source"``). ``pixel_guide="target"`` takes the other reading,
   F_{T->R}^pixel = W_R^pixel V_T (thermal features gathered along the RGB affinities).
3. (.) in Eq. 3 ("the dot product operation of the two matrices") is the element-wise
   product; the one W^relation serves both directions: F_{T->R}^relation = W^relation V_T,
   F_{R->T}^relation = W^relation V_R. Rows of W^pixel sum to one, so the products are
   small (<= 1) and the softmax of Eq. 3 stays close to uniform: a property of the
   formula, kept as written.
4. lambda: one learned scalar per direction and level, starting at ``balance_init`` (1.0):
   psi is a concatenation, not a residual sum, so there is no identity to preserve, and a
   zero start would leave Q, K, V without gradient until lambda moves.
5. d (``key_channels``): the channel count of Q and K; the paper gives d as "the channel
   of the convolutional feature map", so it defaults to C.

Output: per modality ``concat(F, lambda^pixel F^pixel, lambda^relation F^relation)`` with
the levels of ``mode``: C * 2 channels for "pixel" or "relation", C * 3 for "both"
(:attr:`CrossModalInteraction.out_channels`).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import nn

MODES = ("pixel", "relation", "both")
PIXEL_GUIDES = ("source", "target")


def pixel_correlation(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """W^pixel of Eq. 2: softmax over j of (q_i . k_j) / sqrt(d).

    Args:
        query, key: (B, N, d).

    Returns:
        (B, N, N), rows summing to one.
    """
    scale = 1.0 / math.sqrt(query.shape[-1])
    return torch.softmax(torch.bmm(query, key.transpose(1, 2)) * scale, dim=-1)


def relation_correlation(rgb_pixel: torch.Tensor, thermal_pixel: torch.Tensor) -> torch.Tensor:
    """W^relation of Eq. 3: row softmax of the element-wise product (reading 3): (B, N, N)."""
    return torch.softmax(thermal_pixel * rgb_pixel, dim=-1)


def propagate(correlation: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """f_{T->R} of Eq. 1: out[:, :, i] = sum_j W[i, j] values[:, :, j].

    Args:
        correlation: (B, N, N). values: (B, C, H, W) with H W = N.

    Returns:
        (B, C, H, W).
    """
    flat = values.flatten(2)                                              # (B, C, N)
    return torch.bmm(flat, correlation.transpose(1, 2)).reshape(values.shape)


class CrossModalInteraction(nn.Module):
    """Pixel- and/or relation-level cross-modal interaction (Eq. 1-3).

    Args:
        channels: C of each modality's features.
        mode: "pixel", "relation" or "both" levels of interaction.
        key_channels: d of Q and K (None: C, reading 5).
        pixel_guide: "source" or "target" affinity for the pixel level (reading 2).
        balance_init: starting value of every lambda (reading 4).

    Shapes:
        rgb, thermal (B, C, H, W) -> (F'_R, F'_T), each (B, out_channels, H, W).
    """

    def __init__(self, channels: int, mode: str = "both", key_channels: Optional[int] = None,
                 pixel_guide: str = "source", balance_init: float = 1.0) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if pixel_guide not in PIXEL_GUIDES:
            raise ValueError(f"pixel_guide must be one of {PIXEL_GUIDES}, got {pixel_guide!r}")
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        key_channels = channels if key_channels is None else int(key_channels)
        if key_channels < 1:
            raise ValueError(f"key_channels must be positive, got {key_channels}")
        self.channels, self.key_channels = int(channels), key_channels
        self.mode, self.pixel_guide = mode, pixel_guide
        self.levels: Tuple[str, ...] = ("pixel", "relation") if mode == "both" else (mode,)
        self.rgb_query = nn.Conv2d(channels, key_channels, 1)
        self.rgb_key = nn.Conv2d(channels, key_channels, 1)
        self.rgb_value = nn.Conv2d(channels, channels, 1)
        self.thermal_query = nn.Conv2d(channels, key_channels, 1)
        self.thermal_key = nn.Conv2d(channels, key_channels, 1)
        self.thermal_value = nn.Conv2d(channels, channels, 1)
        # lambda_R / lambda_T of Eq. 1, one pair per level (reading 4)
        self.balance = nn.ParameterDict({
            f"{level}_to_{target}": nn.Parameter(torch.tensor(float(balance_init)))
            for level in self.levels for target in ("rgb", "thermal")})

    @property
    def out_channels(self) -> int:
        """Channels of each output: C * (1 + number of levels)."""
        return self.channels * (1 + len(self.levels))

    def correlations(self, rgb: torch.Tensor, thermal: torch.Tensor) -> Dict[str, torch.Tensor]:
        """W_R^pixel, W_T^pixel (Eq. 2) and, for "relation"/"both", W^relation (Eq. 3).

        Returns:
            {"rgb_pixel", "thermal_pixel"[, "relation"]}: (B, N, N) each.
        """
        self._check(rgb, thermal)
        def rows(projection: nn.Conv2d, features: torch.Tensor) -> torch.Tensor:
            return projection(features).flatten(2).transpose(1, 2)               # (B, N, d)

        result = {
            "rgb_pixel": pixel_correlation(rows(self.rgb_query, rgb), rows(self.rgb_key, rgb)),
            "thermal_pixel": pixel_correlation(rows(self.thermal_query, thermal),
                                               rows(self.thermal_key, thermal)),
        }
        if "relation" in self.levels:
            result["relation"] = relation_correlation(result["rgb_pixel"], result["thermal_pixel"])
        return result

    def forward(self, rgb: torch.Tensor,
                thermal: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(F'_R, F'_T) of Eq. 1: (B, C, H, W) x 2 -> (B, out_channels, H, W) x 2."""
        correlation = self.correlations(rgb, thermal)
        rgb_values, thermal_values = self.rgb_value(rgb), self.thermal_value(thermal)   # reading 1
        to_rgb, to_thermal = [rgb], [thermal]
        for level in self.levels:
            if level == "pixel":
                source_first = self.pixel_guide == "source"                            # reading 2
                guide_to_rgb = correlation["thermal_pixel" if source_first else "rgb_pixel"]
                guide_to_thermal = correlation["rgb_pixel" if source_first else "thermal_pixel"]
            else:
                guide_to_rgb = guide_to_thermal = correlation["relation"]               # reading 3
            to_rgb.append(self.balance[f"{level}_to_rgb"]
                          * propagate(guide_to_rgb, thermal_values))
            to_thermal.append(self.balance[f"{level}_to_thermal"]
                              * propagate(guide_to_thermal, rgb_values))
        return torch.cat(to_rgb, dim=1), torch.cat(to_thermal, dim=1)                  # psi

    def _check(self, rgb: torch.Tensor, thermal: torch.Tensor) -> None:
        if rgb.dim() != 4 or rgb.shape[1] != self.channels:
            raise ValueError(f"rgb features must be (B, {self.channels}, H, W), "
                             f"got {tuple(rgb.shape)}")
        if thermal.shape != rgb.shape:
            raise ValueError(f"thermal features {tuple(thermal.shape)} must have the shape of the "
                             f"rgb features {tuple(rgb.shape)}")

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, mode={self.mode!r}, key_channels={self.key_channels}, "
                f"pixel_guide={self.pixel_guide!r}")
