import numpy as np
import pytest

from rgbt_tracking.trackers.mdnet_rgbt.scene import SceneCrop, boxes_to_rois, fixed_crop, plan_crop


def test_boxes_to_crop_and_cut_by_hand():
    crop = SceneCrop((10.0, 20.0), (2.0, 0.5), (8, 4))
    np.testing.assert_allclose(crop.boxes_to_crop(np.array([[12.0, 24.0, 3.0, 8.0]])),
                               [[4.0, 2.0, 6.0, 4.0]])
    image = np.arange(60 * 40, dtype=np.float32).reshape(40, 60)   # value = 60 y + x
    patch = crop.cut(image)
    # crop pixel (u, v) reads image (10 + u / 2, 20 + 2 v): bilinear on a linear ramp
    u, v = np.meshgrid(np.arange(8), np.arange(4))
    np.testing.assert_allclose(patch, 60 * (20 + 2 * v) + 10 + u / 2.0, rtol=1e-5)


def test_cut_fills_outside_with_the_mean_or_value():
    crop = SceneCrop((-5.0, -5.0), (1.0, 1.0), (4, 4))
    image = np.full((10, 10, 3), 7, dtype=np.uint8)
    image[0, 0] = 107
    patch = crop.cut(image, fill=1.0)
    assert patch.shape == (4, 4, 3) and (patch == 1.0).all()


def test_plan_crop_scales_target_and_covers_boxes():
    boxes = np.array([[100.0, 100.0, 20.0, 10.0], [160.0, 90.0, 24.0, 12.0]])
    crop = plan_crop(boxes, (20.0, 10.0), 40.0, 1.2, 2000)
    assert crop.scale == pytest.approx((2.0, 4.0))
    inside = crop.boxes_to_crop(boxes)
    assert (inside[:, :2] >= 0).all()
    assert (inside[:, 0] + inside[:, 2] <= crop.size[0]).all()
    assert (inside[:, 1] + inside[:, 3] <= crop.size[1]).all()
    capped = plan_crop(boxes, (20.0, 10.0), 40.0, 1.2, 100)
    assert max(capped.size) <= 101
    assert capped.scale[0] / capped.scale[1] == pytest.approx(0.5)


def test_fixed_crop_centres_target():
    crop = fixed_crop((50.0, 40.0), (10.0, 20.0), 4.0, 30.0)
    assert crop.size == (120, 120)
    np.testing.assert_allclose(crop.boxes_to_crop(np.array([[45.0, 30.0, 10.0, 20.0]])),
                               [[45.0, 45.0, 30.0, 30.0]])


def test_rois_subtract_the_receptive_field():
    rois = boxes_to_rois(np.array([[100.0, 50.0, 100.0, 200.0]]), 1.2, batch_index=3)
    # padded box x 90..210, y 30..270; far corner minus 75 px
    np.testing.assert_allclose(rois, [[3.0, 90.0, 30.0, 135.0, 195.0]])
    tiny = boxes_to_rois(np.array([[0.0, 0.0, 10.0, 10.0]]), 1.0)
    assert tiny[0, 3] == tiny[0, 1] and tiny[0, 4] == tiny[0, 2]
