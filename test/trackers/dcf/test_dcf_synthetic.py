"""The embedded sequence is built so that each modality fails somewhere: the fused tracker
must follow the target throughout while each single-modality run loses it."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracking import build_tracker
from rgbt_tracking.core.box import iou
from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence
from rgbt_tracking.eval.metrics import evaluate_sequence


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(SyntheticConfig(seed=0))


def track(sequence, use_rgb: bool, use_thermal: bool, **overrides) -> np.ndarray:
    tracker = build_tracker("dcf", **overrides)
    tracker.initialize(sequence.rgb[0] if use_rgb else None,
                       sequence.thermal[0] if use_thermal else None, sequence.boxes[0])
    boxes = [sequence.boxes[0]]
    for rgb, thermal in zip(sequence.rgb[1:], sequence.thermal[1:]):
        boxes.append(tracker.track(rgb if use_rgb else None,
                                   thermal if use_thermal else None).box)
    return np.asarray(boxes)


@pytest.mark.parametrize("fusion", ["pixel", "feature", "response"])
def test_fusion_follows_the_target_through_every_stretch(sequence, fusion):
    boxes = track(sequence, True, True, fusion=fusion)
    auc = evaluate_sequence(boxes, sequence.boxes)["success_auc"]
    assert auc >= 0.6, f"{fusion}: success AUC {auc:.3f}"
    end = sequence.events["occlusion"][1]
    assert float(iou(boxes[-1], sequence.boxes[-1])) > 0.5, "lost after the occlusion"
    assert end < len(boxes) - 1


def test_each_modality_alone_fails_in_its_bad_stretch(sequence):
    fused = evaluate_sequence(track(sequence, True, True), sequence.boxes)["success_auc"]
    rgb_boxes = track(sequence, True, False)
    thermal_boxes = track(sequence, False, True)
    rgb_auc = evaluate_sequence(rgb_boxes, sequence.boxes)["success_auc"]
    thermal_auc = evaluate_sequence(thermal_boxes, sequence.boxes)["success_auc"]
    assert rgb_auc < fused - 0.2 and thermal_auc < fused - 0.2, (fused, rgb_auc, thermal_auc)
    # ... and where the sequence says: RGB in the dark, thermal in the crossover.
    dark_start, dark_end = sequence.events["dark"]
    cross_start, cross_end = sequence.events["thermal_crossover"]
    rgb_ious = iou(rgb_boxes, sequence.boxes)
    thermal_ious = iou(thermal_boxes, sequence.boxes)
    assert rgb_ious[:dark_start].min() > 0.5 and rgb_ious[dark_end] < 0.2
    assert thermal_ious[:cross_start].min() > 0.5 and thermal_ious[cross_end] < 0.2
