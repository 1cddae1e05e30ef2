"""SiamBAN label assignment and online post-processing on hand-computed examples."""
import math

import numpy as np
import pytest

from rgbt_tracking.trackers.siam_rgbt.labels import (
    box_distances,
    ellipse_labels,
    score_points,
    siamban_targets,
)
from rgbt_tracking.trackers.siam_rgbt.postprocess import (
    change_penalty,
    context_side,
    cosine_window,
    decode_boxes,
    select_box,
)


def test_score_points_follow_siamban_grid():
    points = score_points(25, 8, 255)
    assert points.shape == (25, 25, 2)
    assert tuple(points[0, 0]) == (31.0, 31.0)          # 255 // 2 - 12 * 8
    assert tuple(points[12, 12]) == (127.0, 127.0)
    assert tuple(points[2, 5]) == (31.0 + 40.0, 31.0 + 16.0)   # (x, y) = (col, row)
    relative = score_points(5, 8)
    assert tuple(relative[2, 2]) == (0.0, 0.0) and tuple(relative[0, 4]) == (16.0, -16.0)


def test_ellipse_labels_on_a_hand_computed_grid():
    # points at x, y in {0, 8, 16, 24, 32}; box centre (16, 16), 32 x 16:
    # E2 semi-axes (8, 4), E1 semi-axes (16, 8).
    points = score_points(5, 8, 33)      # origin 16 - 16 = 0
    labels = ellipse_labels(np.array([0.0, 8.0, 32.0, 16.0]), points)
    # inner = dx^2/64 + dy^2/16 < 1: positive; outer = dx^2/256 + dy^2/64 > 1: negative.
    expected = np.zeros((5, 5), dtype=np.int64)      # e.g. (8, 8): outer 1.25 -> negative
    expected[2, 2] = 1                                # centre: inner 0
    expected[2, [0, 1, 3, 4]] = -1                    # dx = 8: inner 1; dx = 16: outer 1
    expected[[1, 3], 2] = -1                          # dy = 8: inner 4, outer 1
    np.testing.assert_array_equal(labels, expected)


def test_box_distances_are_l_t_r_b_from_each_point():
    points = score_points(3, 8, 25)      # origin 12 - 8 = 4: x, y in {4, 12, 20}
    d = box_distances(np.array([2.0, 6.0, 20.0, 10.0]), points)   # x 2..22, y 6..16
    assert d.shape == (4, 3, 3)
    np.testing.assert_allclose(d[:, 1, 1], [10.0, 6.0, 10.0, 4.0])   # point (12, 12)
    np.testing.assert_allclose(d[:, 0, 2], [18.0, -2.0, 2.0, 12.0])  # point (20, 4)


def test_sampling_keeps_at_most_the_budget_and_negative_pairs_have_no_positive():
    points = score_points(25, 8, 255)
    box = np.array([77.0, 77.0, 100.0, 100.0])
    full = ellipse_labels(box, points)
    labels, distances = siamban_targets(box, points, np.random.default_rng(0), True, 16, 64, 16)
    assert (full == 1).sum() > 16 and (labels == 1).sum() == 16
    assert (labels == 0).sum() == 48
    assert np.all(full[labels == 1] == 1) and np.all(full[labels == 0] == 0)
    assert distances.shape == (4, 25, 25)
    neg, _ = siamban_targets(box, points, np.random.default_rng(0), False, 16, 64, 16)
    assert (neg == 1).sum() == 0 and (neg == 0).sum() == 16


def test_context_side_and_cosine_window():
    assert context_side(40, 20) == pytest.approx(math.sqrt(70 * 50))
    window = cosine_window(5)
    hann = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(window, np.outer(hann, hann), atol=1e-12)


def test_change_penalty_on_hand_computed_boxes():
    assert float(change_penalty(np.float64(40), np.float64(20), 40, 20, 0.1)) == pytest.approx(1.0)
    # doubled size, same aspect: s_c = 2, r_c = 1 -> exp(-(2 - 1) * 0.1)
    assert float(change_penalty(np.float64(80), np.float64(40), 40, 20, 0.1)) == pytest.approx(
        math.exp(-0.1))
    # same padded scale sqrt((w + p)(h + p)) but aspect 1 instead of 2: s_c = 1, r_c = 2
    side = math.sqrt(70 * 50) / 2.0           # w = h = side gives (side + side)^2 = 70 * 50
    assert float(change_penalty(np.float64(side), np.float64(side), 40, 20, 0.2)) == \
        pytest.approx(math.exp(-0.2), rel=1e-9)


def test_decode_and_select_prefer_the_centre_and_the_unchanged_size():
    points = score_points(5, 8)
    distances = np.full((4, 5, 5), 10.0)
    boxes = decode_boxes(points, distances)
    np.testing.assert_allclose(boxes[:, 1, 3], [8.0, -8.0, 20.0, 20.0])
    score = np.zeros((5, 5))
    score[2, 2] = score[0, 0] = 0.9          # equal peaks: the window picks the centre one
    chosen = select_box(score, boxes, (20.0, 20.0), cosine_window(5), 0.1, 0.4, 0.5)
    assert chosen.index == (2, 2) and chosen.box == (0.0, 0.0, 20.0, 20.0)
    assert chosen.penalty == pytest.approx(1.0) and chosen.size_rate == pytest.approx(0.45)
    # equal scores off centre; the cell predicting a doubled box loses to the unchanged one
    score = np.zeros((5, 5))
    score[2, 1] = score[2, 3] = 0.8
    distances[:, 2, 1] = 20.0
    chosen = select_box(score, decode_boxes(points, distances), (20.0, 20.0),
                        cosine_window(5), 0.5, 0.0, 0.5)
    assert chosen.index == (2, 3)
