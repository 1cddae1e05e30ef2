"""Named feature channels per modality, configured from a tracker preset.

A feature set is a list of names from :data:`FEATURES`; each maps a patch batch of one
modality to (B, D, h, w) cell features, all on the same cell grid, concatenated in order:

- ``gradient_histogram``: 9 orientation bins (the max-gradient channel of a multi-channel patch);
- ``grey_gradient_histogram``: the same on the patch's luma (a third of the cost on RGB);
- ``intensity``: cell-mean luma of an RGB patch, or of a one-channel (thermal) patch;
- ``colour``: two opponent-colour channels of an RGB patch;
- ``channels``: cell mean of every channel separately (the stacked RGB+T patch of pixel fusion).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import torch

from rgbt_tracking.features.gradient_histogram import gradient_histogram
from rgbt_tracking.features.intensity import cell_intensity, opponent_colour, rgb_to_grey

FeatureFn = Callable[[torch.Tensor, int], torch.Tensor]


def _grey(images: torch.Tensor) -> torch.Tensor:
    return rgb_to_grey(images) if images.shape[1] == 3 else images.mean(1, keepdim=True)


def _gradient_histogram(images: torch.Tensor, cell_size: int) -> torch.Tensor:
    return gradient_histogram(images, cell_size=cell_size)


def _grey_gradient_histogram(images: torch.Tensor, cell_size: int) -> torch.Tensor:
    return gradient_histogram(_grey(images), cell_size=cell_size)


def _intensity(images: torch.Tensor, cell_size: int) -> torch.Tensor:
    return cell_intensity(_grey(images) if images.shape[1] == 3 else images, cell_size)


def _channels(images: torch.Tensor, cell_size: int) -> torch.Tensor:
    return cell_intensity(images, cell_size)


def _colour(images: torch.Tensor, cell_size: int) -> torch.Tensor:
    if images.shape[1] < 3:
        raise ValueError(f"'colour' needs a 3-channel RGB patch, got {images.shape[1]} channel(s)")
    return opponent_colour(images[:, :3], cell_size)


FEATURES: Dict[str, FeatureFn] = {
    "gradient_histogram": _gradient_histogram,
    "grey_gradient_histogram": _grey_gradient_histogram,
    "intensity": _intensity,
    "colour": _colour,
    "channels": _channels,
}


class FeatureSet:
    """Weighted concatenation of named features.

    Args:
        names: feature names from :data:`FEATURES`, in output order.
        cell_size: cell side in pixels (patch sides must be multiples of it).
        weights: optional name -> multiplier (default 1); a weight scales that feature's
            share of the filter's energy.
    """

    def __init__(self, names: Sequence[str], cell_size: int,
                 weights: Mapping[str, float] | None = None) -> None:
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; available: {sorted(FEATURES)}")
        if not names:
            raise ValueError("a feature set needs at least one feature")
        self.names = list(names)
        self.cell_size = int(cell_size)
        self.weights = {n: float((weights or {}).get(n, 1.0)) for n in self.names}

    def __call__(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) patches in [0, 1] -> (B, D, H / cell, W / cell) features."""
        parts = [FEATURES[n](patches, self.cell_size) * self.weights[n] for n in self.names]
        return torch.cat(parts, dim=1)
