"""Which features feed which DiMP component: the rows of Table 1 of the mfDiMP paper.

DiMP has three parts that can see one modality or both: the feature extractor (backbone),
the model predictor (classifier) and the IoU-Net (box estimation). The paper's variants:

============  ======================  ==========  ================  ======================
level         feature extractor       IoU-Net     model predictor   config
============  ======================  ==========  ================  ======================
none          RGB or TIR              same        same              modality: rgb|thermal
pixel         RGB+TIR, 4-ch input     RGBT        RGBT              (no choices)
response      RGB / TIR separately    RGB or TIR  RGB / TIR, summed iou_input: rgb|thermal
feature       RGB / TIR separately    x           y                 iou_input, classifier_input
============  ======================  ==========  ================  ======================

At the feature level each of ``classifier_input`` and ``iou_input`` is ``fused`` (the
channel concatenation x^F = [x^V | x^T], paper Sec. 4.1), ``rgb`` or ``thermal``; the
paper's best variant (``mfdimp``) is both ``fused``. At the response level the fused
score map is s^F = s^V + s^T (paper Sec. 4.1). ``iou_input: auto`` picks the level's best
row of Table 1: ``fused`` at the feature level, ``thermal`` at the response level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Tuple

LEVELS = ("none", "pixel", "feature", "response")
SINGLE = ("rgb", "thermal")
INPUTS = ("fused", "rgb", "thermal")


@dataclass(frozen=True)
class FusionSpec:
    """Validated fusion wiring.

    Attributes:
        level: "none", "pixel", "feature" or "response".
        backbones: modality names with their own backbone: ("rgb",), ("thermal",),
            ("rgbt",) for the 4-channel pixel-level input, or ("rgb", "thermal").
        classifier_inputs: one entry per classifier branch; each is "rgb", "thermal",
            "rgbt" (pixel-level features) or "fused" (concatenated). Response level has two
            branches whose scores are summed.
        iou_input: what the IoU-Net sees ("rgb", "thermal", "rgbt" or "fused").
    """

    level: str
    backbones: Tuple[str, ...]
    classifier_inputs: Tuple[str, ...]
    iou_input: str

    @property
    def modalities(self) -> Tuple[str, ...]:
        """Camera modalities the tracker reads ("rgb" and/or "thermal")."""
        if self.backbones == ("rgbt",):
            return ("rgb", "thermal")
        return self.backbones

    def describe(self) -> str:
        """One line such as ``feature: classifier fused, IoU-Net fused``."""
        return (f"{self.level}: backbones {'/'.join(self.backbones)}, classifier "
                f"{' + '.join(self.classifier_inputs)}, IoU-Net {self.iou_input}")


def parse_fusion(params: Mapping[str, Any]) -> FusionSpec:
    """Build the wiring from the preset keys ``fusion``, ``modality``, ``classifier_input``
    and ``iou_input`` (keys a level does not use are ignored).

    Raises:
        ValueError: an unknown level or input, or a combination Table 1 does not define.
    """
    level = str(params.get("fusion", "feature"))
    if level not in LEVELS:
        raise ValueError(f"fusion must be one of {LEVELS}, got {level!r}")
    if level == "none":
        modality = str(params.get("modality", "rgb"))
        _check(modality, SINGLE, "modality")
        return FusionSpec(level, (modality,), (modality,), modality)
    if level == "pixel":
        return FusionSpec(level, ("rgbt",), ("rgbt",), "rgbt")
    iou_input = str(params.get("iou_input", "auto"))
    if iou_input == "auto":   # the best row of Table 1 for the level
        iou_input = "thermal" if level == "response" else "fused"
    if level == "response":
        _check(iou_input, SINGLE, "iou_input (response-level fusion)")
        return FusionSpec(level, ("rgb", "thermal"), ("rgb", "thermal"), iou_input)
    classifier_input = str(params.get("classifier_input", "fused"))
    _check(iou_input, INPUTS, "iou_input")
    _check(classifier_input, INPUTS, "classifier_input")
    if "fused" not in (iou_input, classifier_input):
        raise ValueError("feature-level fusion needs classifier_input or iou_input to be "
                         f"'fused', got classifier_input={classifier_input!r}, "
                         f"iou_input={iou_input!r} (use fusion: response or none instead)")
    return FusionSpec(level, ("rgb", "thermal"), (classifier_input,), iou_input)


def _check(value: str, allowed: Tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {allowed}, got {value!r}")
