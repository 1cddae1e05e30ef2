"""The three fusion levels of the mfDiMP paper (Zhang et al., ICCV-W 2019, Sec. 4.1) for a
handcrafted correlation filter.

- pixel level: the images are stacked along the channel axis, I^F = [I^V | I^T], and one
  feature extractor and one filter see the 4-channel image;
- feature level: features are extracted per modality and concatenated, x^F = [x^V | x^T],
  for one filter;
- response level: one filter per modality; the paper sums the responses, s^F = s^V + s^T.
  Here each term is weighted by its reliability (peak-to-sidelobe ratio), so a blind or
  saturated modality stops dominating; equal reliabilities give the paper's plain sum
  (up to a factor 1/2).

A :class:`Branch` is one filter and the modalities it reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from rgbt_tracking.features.feature_set import FeatureSet, Patches
from rgbt_tracking.trackers.dcf.correlation_filter import CorrelationFilter

FUSION_LEVELS = ("pixel", "feature", "response")
MODALITIES = ("rgb", "thermal")
MODALITY_CHANNELS = {"rgb": 3, "thermal": 1}


@dataclass
class Branch:
    """One correlation filter and how its features are made.

    Attributes:
        name: "pixel", "feature", "rgb" or "thermal".
        modalities: the modalities it reads, in channel order.
        feature_sets: one FeatureSet per modality (feature level), or one for the stacked
            image (pixel level; key "pixel").
        filter: the correlation filter, built once the grid size is known.
    """

    name: str
    modalities: Tuple[str, ...]
    feature_sets: Dict[str, FeatureSet]
    filter: Optional[CorrelationFilter] = None

    def features(self, patches: Mapping[str, Optional[Patches]]) -> Optional[torch.Tensor]:
        """Features of a batch of patches.

        Args:
            patches: modality -> (S, C, H, W) patches in [0, 1], or None when missing.

        Returns:
            (S, D, H / cell, W / cell), or None when none of this branch's modalities is
            present. A missing modality of a fused branch is replaced by zeros, which
            contributes nothing to the correlation (its filter channels see no energy).
        """
        present = [m for m in self.modalities if patches.get(m) is not None]
        if not present:
            return None
        first = patches[present[0]]
        assert first is not None
        reference = first.images
        filled = []
        for modality in self.modalities:
            patch = patches.get(modality)
            if patch is None:
                shape = (reference.shape[0], MODALITY_CHANNELS[modality]) + reference.shape[2:]
                patch = Patches(torch.zeros(shape, dtype=reference.dtype,
                                            device=reference.device))
            filled.append(patch)
        if "pixel" in self.feature_sets:
            return self.feature_sets["pixel"](torch.cat([p.images for p in filled], dim=1))
        return torch.cat([self.feature_sets[m](p) for m, p in zip(self.modalities, filled)],
                         dim=1)


def build_branches(fusion: str, modalities: Sequence[str], features: Mapping[str, List[str]],
                   cell_size: int, weights: Mapping[str, float]) -> List[Branch]:
    """Branches for a fusion level over the modalities present at initialisation.

    With a single modality every level reduces to one filter on that modality's features.

    Raises:
        ValueError: unknown fusion level or modality, or a feature list missing from the
            preset.
    """
    if fusion not in FUSION_LEVELS:
        raise ValueError(f"fusion must be one of {FUSION_LEVELS}, got {fusion!r}")
    for modality in modalities:
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")

    def feature_set(key: str) -> FeatureSet:
        if key not in features:
            raise ValueError(f"preset 'features' has no entry '{key}'")
        return FeatureSet(features[key], cell_size, weights)

    modalities = tuple(m for m in MODALITIES if m in modalities)
    if len(modalities) == 1 or fusion == "response":
        return [Branch(m, (m,), {m: feature_set(m)}) for m in modalities]
    if fusion == "pixel":
        return [Branch("pixel", modalities, {"pixel": feature_set("pixel")})]
    return [Branch("feature", modalities, {m: feature_set(m) for m in modalities})]


def reliability_weights(psrs: Mapping[str, float], floor: float) -> Dict[str, float]:
    """Response-fusion weights from each branch's peak-to-sidelobe ratio.

    w_b = max(psr_b - floor, 0) / sum_k max(psr_k - floor, 0); if every branch is at or
    below the floor, the weights are equal (nothing to prefer).
    """
    raw = {name: max(psr - floor, 0.0) for name, psr in psrs.items()}
    total = sum(raw.values())
    if total <= 1e-9:
        return {name: 1.0 / len(psrs) for name in psrs}
    return {name: value / total for name, value in raw.items()}
