import numpy as np
import pytest

from rgbt_tracking.core.box import iou
from rgbt_tracking.trackers.mdnet_rgbt.candidates import (SampleGenerator, generator_from_config,
                                                          sample_by_overlap)

BOX = np.array([100.0, 80.0, 40.0, 20.0])   # centre (120, 90), mean side 30
SIZE = (400, 300)


def _centres(boxes):
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def test_gaussian_offsets_and_scales_follow_mdnet():
    boxes = SampleGenerator("gaussian", 0.6, 1.05)(BOX, 20000, SIZE, np.random.default_rng(0))
    offsets = (_centres(boxes) - [120.0, 90.0]) / (0.6 * 30.0)
    # clip(0.5 n, -1, 1): bounded by 1, std of the clipped normal (direct numerical value)
    assert np.abs(offsets).max() <= 1.0 + 1e-9
    reference = np.clip(0.5 * np.random.default_rng(1).standard_normal(400000), -1, 1)
    assert offsets.std(axis=0) == pytest.approx([reference.std()] * 2, rel=0.03)
    assert np.abs(offsets.mean(axis=0)).max() < 0.02
    exponent = np.log(boxes[:, 2] / 40.0) / np.log(1.05)
    assert np.abs(exponent).max() <= 1.0 + 1e-9
    np.testing.assert_allclose(boxes[:, 2] / boxes[:, 3], 2.0)   # aspect kept


def test_uniform_spread_and_whole_cover_the_image():
    boxes = SampleGenerator("uniform", 1.0, 1.6)(BOX, 20000, SIZE, np.random.default_rng(2))
    offsets = (_centres(boxes) - [120.0, 90.0]) / 30.0
    assert offsets.min() >= -1.0 - 1e-9 and offsets.max() <= 1.0 + 1e-9
    assert offsets.std(axis=0) == pytest.approx([1 / np.sqrt(3)] * 2, rel=0.03)
    whole = SampleGenerator("whole", 0.0, 1.6)(BOX, 20000, SIZE, np.random.default_rng(3))
    centres = _centres(whole)
    assert centres[:, 0].min() < 20 and centres[:, 0].max() > 380
    assert centres[:, 1].min() < 20 and centres[:, 1].max() > 280


def test_clipping_keeps_boxes_in_the_image():
    edge = np.array([0.0, 0.0, 30.0, 30.0])
    boxes = SampleGenerator("uniform", 2.0, 3.0)(edge, 500, (60, 50), np.random.default_rng(4))
    centres = _centres(boxes)
    assert (centres >= 0).all() and (centres[:, 0] <= 59).all() and (centres[:, 1] <= 49).all()
    assert (boxes[:, 2] >= 10).all() and (boxes[:, 2] <= 50).all() and (boxes[:, 3] <= 40).all()


@pytest.mark.parametrize("kind, low, high", [("gaussian", 0.7, 1.0), ("uniform", 0.0, 0.5),
                                             ("uniform", 0.6, 1.0)])
def test_sample_by_overlap_respects_iou_thresholds(kind, low, high):
    trans = 0.1 if low >= 0.6 else 1.0
    generator = SampleGenerator(kind, trans, 1.3 if kind == "gaussian" else 1.6)
    boxes = sample_by_overlap(generator, BOX, 200, (low, high), SIZE, np.random.default_rng(5))
    assert boxes.shape == (200, 4)
    overlap = iou(boxes, BOX[None])
    assert overlap.min() >= low
    if high < 1.0:
        assert overlap.max() < high
    else:
        assert overlap.max() <= 1.0


def test_unreachable_range_returns_fewer_and_config_errors():
    far = SampleGenerator("gaussian", 0.0, 1.0)   # every box equals the reference: IoU 1
    assert len(sample_by_overlap(far, BOX, 10, (0.0, 0.5), SIZE, np.random.default_rng(0))) == 0
    assert generator_from_config(["uniform", 0.3, 1.6, 1.1]).aspect == 1.1
    with pytest.raises(ValueError, match="kind"):
        SampleGenerator("ring")
    with pytest.raises(ValueError, match="sampler"):
        generator_from_config(["gaussian", 0.6])
    with pytest.raises(ValueError, match="reference box"):
        far(np.array([0, 0, 0, 5.0]), 3, SIZE, np.random.default_rng(0))
