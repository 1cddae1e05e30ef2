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

class Patches:
    """A patch batch with the intermediate results its features share (its luma, its luma's
    gradient histogram), each computed once.

    Attributes:
        images: (B, C, H, W) float in [0, 1].
    """

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self._grey: torch.Tensor | None = None
        self.grey_histograms: Dict[int, torch.Tensor] = {}   # cell size -> histograms

    @property
    def grey(self) -> torch.Tensor:
        """(B, 1, H, W) luma of an RGB patch; the patch itself when it has one channel."""
        if self._grey is None:
            images = self.images
            self._grey = (rgb_to_grey(images) if images.shape[1] == 3
                          else images.mean(1, keepdim=True))
        return self._grey


FeatureFn = Callable[[Patches, int], torch.Tensor]


def _gradient_histogram(patches: Patches, cell_size: int) -> torch.Tensor:
    if patches.images.shape[1] == 1:   # one channel: the same as its luma's histogram
        return _grey_gradient_histogram(patches, cell_size)
    return gradient_histogram(patches.images, cell_size=cell_size)


def _grey_gradient_histogram(patches: Patches, cell_size: int) -> torch.Tensor:
    if cell_size not in patches.grey_histograms:
        patches.grey_histograms[cell_size] = gradient_histogram(patches.grey, cell_size=cell_size)
    return patches.grey_histograms[cell_size]


def share_grey_gradient_histograms(batches: Sequence[Patches], cell_size: int) -> None:
    """Compute the luma gradient histograms of several patch batches in one call.

    The per-call overhead of small tensor operations dominates at tracking patch sizes, so
    the RGB patches' luma and the thermal patches, stacked along the batch axis, cost about
    what one modality costs alone. Batches of another size are left to compute their own.
    """
    batches = [b for b in batches if cell_size not in b.grey_histograms]
    if len(batches) < 2 or len({tuple(b.images.shape[2:]) for b in batches}) != 1:
        return
    stacked = gradient_histogram(torch.cat([b.grey for b in batches]), cell_size=cell_size)
    for batch, histograms in zip(batches, stacked.split([b.images.shape[0] for b in batches])):
        batch.grey_histograms[cell_size] = histograms


def _intensity(patches: Patches, cell_size: int) -> torch.Tensor:
    return cell_intensity(patches.grey, cell_size)


def _channels(patches: Patches, cell_size: int) -> torch.Tensor:
    return cell_intensity(patches.images, cell_size)


def _colour(patches: Patches, cell_size: int) -> torch.Tensor:
    images = patches.images
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

    def __call__(self, patches: torch.Tensor | Patches) -> torch.Tensor:
        """(B, C, H, W) patches in [0, 1] -> (B, D, H / cell, W / cell) features."""
        shared = patches if isinstance(patches, Patches) else Patches(patches)
        parts = [FEATURES[n](shared, self.cell_size) * self.weights[n] for n in self.names]
        return torch.cat(parts, dim=1)
