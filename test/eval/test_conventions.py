"""Benchmark conventions (rgbt_tracking.eval.conventions) on hand-computed examples."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracking.eval.conventions import (
    DATASETS,
    aggregate,
    aggregate_by_attribute,
    aggregate_curves,
    corners_to_xywh,
    get_convention,
    score_sequence,
)
from rgbt_tracking.eval.metrics import (
    normalized_center_errors,
    precision_curve,
    success_area,
)


def _still(n: int, box=(100.0, 80.0, 40.0, 40.0)) -> np.ndarray:
    return np.tile(np.asarray(box, dtype=np.float64), (n, 1))


def test_every_dataset_has_a_convention():
    for name in DATASETS:
        assert get_convention(name).name == name
    assert get_convention("GTOT").precision_threshold == 5.0
    assert get_convention("rgbt234").precision_threshold == 20.0
    with pytest.raises(ValueError, match="unknown dataset"):
        get_convention("otb100")


def test_mpr_msr_take_the_better_modality_per_frame():
    # Visible and thermal ground truth 30 px apart; the tracker follows the visible one
    # in frames 0-1 and the thermal one in frames 2-3.
    gt_v = _still(4)
    gt_i = gt_v + [30.0, 0, 0, 0]
    pred = np.concatenate([gt_v[:2], gt_i[2:]])
    score = score_sequence("rgbt234", pred, gt_rgb=gt_v, gt_thermal=gt_i)
    assert np.array_equal(score.center_errors, [0, 0, 0, 0])       # min of (0, 30) / (30, 0)
    assert np.array_equal(score.overlaps, [1, 1, 1, 1])            # max of (1, .2) / (.2, 1)
    figures = aggregate("rgbt234", [score])
    assert figures == {"PR": 1.0, "SR": pytest.approx(20 / 21), "NPR": None}
    # Against the visible ground truth alone, half the frames are 30 px off (IoU 10/70).
    single = aggregate("rgbt234", [score_sequence("rgbt234", pred, gt=gt_v)])
    assert single["PR"] == 0.5
    # IoU 1 passes 20 thresholds, IoU 1/7 = 0.143 passes 0, .05, .1
    assert single["SR"] == pytest.approx((20 + 20 + 3 + 3) / 84)


def test_rgbt234_scores_the_first_frame_rgbt210_and_lasher_replace_it():
    gt = _still(4)
    pred = gt.copy()
    pred[0] += [100.0, 0, 0, 0]           # the tracker's own frame-0 output is far off
    assert aggregate("rgbt234", [score_sequence("rgbt234", pred, gt_rgb=gt,
                                                gt_thermal=gt)])["PR"] == 0.75
    assert aggregate("rgbt210", [score_sequence("rgbt210", pred, gt=gt)])["PR"] == 1.0
    assert aggregate("lasher", [score_sequence("lasher", pred, gt=gt)])["PR"] == 1.0


def test_gtot_precision_is_strictly_below_5_px():
    gt = _still(4)
    pred = gt + np.array([[3, 4, 0, 0], [4, 0, 0, 0], [5, 0, 0, 0], [6, 0, 0, 0]], float)
    score = score_sequence("gtot", pred, gt_rgb=gt, gt_thermal=gt)
    assert np.array_equal(score.center_errors, [5, 4, 5, 6])
    # error < 5: only the 4-px frame; RGBT234 (<= 20) would count all four.
    assert aggregate("gtot", [score])["PR"] == 0.25
    curves = aggregate_curves("gtot", [score])
    assert curves["thresholds_px"][10] == 5.0 and curves["thresholds_px"][-1] == 25.0
    assert curves["precision_curve"][10] == 0.25 and curves["precision_curve"][11] == 0.75


def test_gtot_success_is_the_trapezoid_area():
    gt = _still(5)
    perfect = score_sequence("gtot", gt, gt_rgb=gt, gt_thermal=gt)
    # IoU 1 passes 20 of 21 thresholds: trapezoid 19 * 0.05 + 0.025 = 0.975, mean 20/21.
    assert aggregate("gtot", [perfect])["SR"] == pytest.approx(0.975)
    assert aggregate("rgbt234", [score_sequence("rgbt234", gt, gt=gt)])["SR"] == \
        pytest.approx(20 / 21)


def test_gtot_pools_frames_rgbt234_averages_sequences():
    # Sequence A: 2 frames, both hits. Sequence B: 8 frames, 2 hits.
    gt_a, gt_b = _still(2), _still(8)
    pred_a = gt_a.copy()
    pred_b = gt_b + [50.0, 0, 0, 0]
    pred_b[:2] = gt_b[:2]
    gtot = [score_sequence("gtot", p, gt_rgb=g, gt_thermal=g)
            for p, g in ((pred_a, gt_a), (pred_b, gt_b))]
    rgbt = [score_sequence("rgbt234", p, gt_rgb=g, gt_thermal=g)
            for p, g in ((pred_a, gt_a), (pred_b, gt_b))]
    assert aggregate("gtot", gtot)["PR"] == pytest.approx(4 / 10)              # pooled
    assert aggregate("rgbt234", rgbt)["PR"] == pytest.approx((1.0 + 0.25) / 2)  # averaged


def test_lasher_invalid_ground_truth_and_degenerate_predictions():
    gt = _still(6)
    gt[2, 2] = 0.0            # target absent (w = 0)
    gt[3, 0] = 0.0            # box touching the left border: rgbt's any(gt <= 0) flags it
    pred = gt.copy()
    pred[2] = [500, 500, 10, 10]
    pred[3] = [500, 500, 10, 10]
    pred[4, 2] = -5.0         # degenerate: replaced by frame 3's box (far away)
    pred[5, 3] = 0.0          # degenerate: replaced by frame 4's, i.e. frame 3's box
    score = score_sequence("lasher", pred, gt=gt)
    assert np.array_equal(score.center_errors[[2, 3]], [-1, -1])
    assert np.array_equal(score.overlaps[[2, 3]], [-1, -1])
    assert score.center_errors[4] > 300 and score.center_errors[5] > 300
    figures = aggregate("lasher", [score])
    # Frames 0, 1 hit; 2, 3 count as hits for (normalised) precision, misses for success.
    assert figures["PR"] == pytest.approx(4 / 6)
    assert figures["NPR"] == pytest.approx(4 / 6)
    assert figures["SR"] == pytest.approx(2 * 20 / 21 / 6)
    # RGBT210 has neither rule: the zero-width frame fails both measures, the x = 0 frame
    # is an ordinary frame, the degenerate boxes are scored as they are.
    score210 = score_sequence("rgbt210", pred, gt=gt)
    assert score210.overlaps[2] == 0.0 and score210.center_errors[3] > 300


def test_lasher_rounds_predictions_to_whole_pixels():
    gt = _still(3)
    pred = gt + [20.4, 0, 0, 0]               # rounds to 20 px: a hit at 20 px
    pred[0] = gt[0]
    assert aggregate("lasher", [score_sequence("lasher", pred, gt=gt)])["PR"] == 1.0
    unrounded = score_sequence("lasher", pred, gt=gt, round_predictions=False)
    assert aggregate("lasher", [unrounded])["PR"] == pytest.approx(1 / 3)
    # Half to even, as numpy's round: 20.5 -> 20 (a hit), 21.5 -> 22 (a miss).
    pred[1:] = gt[1:] + [20.5, 0, 0, 0]
    assert aggregate("lasher", [score_sequence("lasher", pred, gt=gt)])["PR"] == 1.0
    pred[1:] = gt[1:] + [21.5, 0, 0, 0]
    assert aggregate("lasher", [score_sequence("lasher", pred, gt=gt)])["PR"] == \
        pytest.approx(1 / 3)


def test_normalised_precision_is_in_units_of_the_target_size():
    small = _still(2, (100, 100, 20, 20))
    large = _still(2, (100, 100, 60, 60))
    shift = np.array([6.0, 0, 0, 0])          # 6 px: 0.3 of the small box, 0.1 of the large
    s_small = score_sequence("lasher", small + shift, gt=small)
    s_large = score_sequence("lasher", large + shift, gt=large)
    assert s_small.normalized_errors[1] == pytest.approx(0.3, abs=1e-6)
    assert s_large.normalized_errors[1] == pytest.approx(0.1, abs=1e-6)
    # frame 0 is the ground truth; frame 1 passes 0.2 only for the large target
    assert aggregate("lasher", [s_small])["NPR"] == 0.5
    assert aggregate("lasher", [s_large])["NPR"] == 1.0
    assert aggregate("lasher", [s_small])["PR"] == aggregate("lasher", [s_large])["PR"] == 1.0
    curves = aggregate_curves("lasher", [s_small])
    assert curves["thresholds_normalized"][20] == pytest.approx(0.2)
    assert len(curves["normalized_precision_curve"]) == 51
    # The generic helper: (dx / w, dy / h)
    assert normalized_center_errors([[106, 103, 20, 10]], [[100, 100, 20, 10]])[0] == \
        pytest.approx(np.hypot(0.3, 0.3))


def test_vtuav_scores_every_tenth_frame_against_both_modalities():
    gt_v = _still(4)
    gt_i = gt_v.copy()
    gt_i[1] = np.nan                          # thermal box missing: MATLAB min/max skip it
    pred = np.full((31, 4), np.nan)           # frames between annotations are ignored
    pred[[0, 10, 20, 30]] = gt_v
    pred[30] += [25.0, 0, 0, 0]
    score = score_sequence("vtuav", pred, gt_rgb=corners_to_xywh(
        np.c_[gt_v[:, :2], gt_v[:, :2] + gt_v[:, 2:]]), gt_thermal=gt_i)
    assert np.array_equal(score.frame_indices, [0, 10, 20, 30])
    assert np.array_equal(score.center_errors, [0, 0, 0, 25])
    figures = aggregate("vtuav", [score])
    assert figures["PR"] == 0.75
    with pytest.raises(ValueError, match="cover"):
        score_sequence("vtuav", pred[:25], gt_rgb=gt_v, gt_thermal=gt_v)


def test_otb_rules_for_the_thermal_benchmarks():
    gt = _still(5)
    gt[3] = np.nan                            # MATLAB: not all(gt > 0): flagged
    pred = gt.copy()
    pred[0] = [400, 400, 10, 10]              # overwritten by the ground truth
    pred[1] = np.nan                          # all-NaN row: replaced by frame 0's box...
    pred[2, 2] = 0.0                          # ...w <= 0: replaced too (chain)
    score = score_sequence("ptb-tir", pred, gt=gt)
    # MATLAB repairs before overwriting frame 0: frames 1, 2 inherit the far frame-0 box.
    assert score.center_errors[0] == 0.0
    assert score.center_errors[1] > 300 and score.center_errors[2] > 300
    assert score.center_errors[3] == -1.0 and score.overlaps[3] == -1.0
    figures = aggregate("ptb-tir", [score])
    assert figures["PR"] == pytest.approx(3 / 5) and figures["NPR"] is None
    assert aggregate("lsotb-tir", [score_sequence("lsotb-tir", pred, gt=gt)])["NPR"] == \
        pytest.approx(3 / 5)
    # A box partly left of the image is "invalid" to OTB's rule, not to our VOT reading.
    outside = _still(3, (-5.0, 10.0, 20.0, 20.0))
    assert score_sequence("ptb-tir", outside, gt=outside).center_errors.tolist() == [-1] * 3
    assert score_sequence("vot-rgbt", outside, gt=outside).center_errors.tolist() == [0] * 3


def test_per_attribute_aggregation():
    gt = _still(4)
    good = score_sequence("rgbt234", gt, gt=gt)
    bad_pred = gt + [50.0, 0, 0, 0]
    bad_pred[:1] = gt[:1]
    bad = score_sequence("rgbt234", bad_pred, gt=gt)
    scores = {"a": good, "b": bad}
    result = aggregate_by_attribute("rgbt234", scores, {
        "TC": {"a": True, "b": False},
        "BC": {"a": 1, "b": 1, "not_scored": 1},
        "NO": {"a": False, "b": False},
        "frames": {"b": [True, True, False, False]},
    })
    assert result["TC"]["PR"] == 1.0 and result["TC"]["num_sequences"] == 1
    assert result["BC"]["PR"] == pytest.approx((1 + 0.25) / 2)
    assert result["NO"] == {"PR": None, "SR": None, "NPR": None, "num_sequences": 0}
    assert result["frames"]["PR"] == 0.5 and result["frames"]["num_sequences"] == 1


def test_corners_to_xywh():
    corners = [[209, 155, 309, 218]]
    assert corners_to_xywh(corners).tolist() == [[209, 155, 100, 63]]   # GTOT's init.txt
    assert corners_to_xywh(corners, inclusive=True).tolist() == [[209, 155, 101, 64]]


def test_bad_input():
    gt = _still(4)
    with pytest.raises(ValueError, match="gt_rgb and gt_thermal"):
        score_sequence("rgbt234", gt, gt_rgb=gt)
    with pytest.raises(ValueError, match="needs gt"):
        score_sequence("lasher", gt)
    with pytest.raises(ValueError, match="cover"):
        score_sequence("lasher", gt[:3], gt=gt)
    with pytest.raises(ValueError, match="scored under"):
        aggregate("gtot", [score_sequence("lasher", gt, gt=gt)])
    with pytest.raises(ValueError, match="no sequence"):
        aggregate("gtot", [])
    # A longer result is cut to the ground truth, as the toolkits do.
    longer = np.concatenate([gt, gt])
    assert score_sequence("lasher", longer, gt=gt).num_frames == 4


def test_metrics_building_blocks():
    assert list(precision_curve([5.0, 4.0], [5.0], inclusive=False)) == [0.5]
    assert list(precision_curve([5.0, 4.0], [5.0])) == [1.0]
    assert success_area([1.0] * 20 + [0.0], rule="trapezoid") == pytest.approx(0.975)
    assert success_area([1.0] * 20 + [0.0]) == pytest.approx(20 / 21)
    with pytest.raises(ValueError, match="rule"):
        success_area([1.0] * 21, rule="simpson")
