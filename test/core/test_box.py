import numpy as np
import pytest

from rgbt_tracking.core.box import box_center, clip_box, iou, validate_box


def test_validate_box_accepts_and_converts():
    assert validate_box([1, 2, 3, 4], (10, 10)) == (1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize("box, fragment", [
    ([1, 2, 3], "4 values"),
    ([1, 2, 0, 4], "empty"),
    ([1, 2, 3, -1], "empty"),
    ([float("nan"), 2, 3, 4], "non-finite"),
    ("abcd", "4 numbers"),
    ([20, 20, 5, 5], "outside"),
])
def test_validate_box_rejects_with_named_problem(box, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_box(box, (10, 10))


def test_iou_known_values():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    batch = iou(np.array([[0, 0, 10, 10], [0, 0, 0, 0]]), np.array([0, 0, 10, 10]))
    assert batch.shape == (2,) and batch[1] == 0.0


def test_clip_box_keeps_centre_inside():
    box = clip_box((-50, -50, 20, 20), (100, 80))
    cx, cy = box_center(box)
    assert 0 <= cx <= 99 and 0 <= cy <= 79
