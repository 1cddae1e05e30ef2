"""Search-area crops: the drawn object lands where transform_box_to_crop says."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rgbt_tracking.train.cropping import (
    crop_around_box,
    crop_region,
    jitter_box,
    transform_box_to_crop,
)


def _bright_box(patch: np.ndarray, threshold: float = 127) -> np.ndarray:
    """x y w h of the pixels brighter than ``threshold`` (pixel-edge coordinates)."""
    mask = (patch if patch.ndim == 2 else patch[..., 0]) > threshold
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()],
                    dtype=float)


def _scene(gt: np.ndarray, shape=(240, 320)) -> np.ndarray:
    image = np.full(shape + (3,), 20, dtype=np.uint8)
    x, y, w, h = gt.astype(int)
    image[y:y + h, x:x + w] = 255
    return image


@pytest.mark.parametrize("output_size", [64, 127, 300])
def test_ground_truth_lands_at_its_mapped_box_around_a_jittered_box(output_size):
    gt = np.array([140.0, 90.0, 40.0, 24.0])
    image = _scene(gt)
    rng = np.random.default_rng(7)
    for _ in range(5):
        centre_box = jitter_box(gt, rng, center_jitter_factor=0.5, scale_jitter_factor=0.2)
        patch, centre_in_patch, scale = crop_around_box(image, centre_box, 4.0, output_size)
        assert patch.shape == (output_size, output_size, 3) and patch.dtype == np.uint8
        region = crop_region(centre_box, 4.0)
        assert scale == pytest.approx(output_size / region[2])
        expected = transform_box_to_crop(gt, region, output_size)
        # One resampled pixel of blur at the edges, at most.
        np.testing.assert_allclose(_bright_box(patch), expected, atol=1.0 + scale)
        np.testing.assert_allclose(centre_in_patch,
                                   transform_box_to_crop(centre_box, region, output_size))


def test_crop_of_a_centred_box_is_centred_and_sized_by_the_factor():
    box = np.array([100.0, 50.0, 30.0, 30.0])
    region = crop_region(box, 2.0)
    np.testing.assert_array_equal(region, [85, 35, 60, 60])
    mapped = transform_box_to_crop(box, region, 120)
    np.testing.assert_allclose(mapped, [30, 30, 60, 60])


def test_outside_the_image_is_padded_constant_mean_or_replicated():
    image = np.zeros((50, 60), dtype=np.uint8)
    image[:, :30] = 100
    image[:, 30:] = 200                      # mean 150
    box = np.array([0.0, 0.0, 10.0, 10.0])   # crop of side 40 from (-15, -15)
    constant, _, _ = crop_around_box(image, box, 4.0, 40, pad_value=7)
    assert constant.shape == (40, 40)
    assert np.all(constant[:15] == 7) and np.all(constant[:, :15] == 7)
    assert np.all(constant[15:, 15:] == 100)
    mean, _, _ = crop_around_box(image, box, 4.0, 40)
    assert np.all(mean[:15] == 150)
    replicated, _, _ = crop_around_box(image, box, 4.0, 40, border="replicate")
    assert np.all(replicated == 100)
    far = np.array([500.0, 500.0, 10.0, 10.0])      # the crop misses the image entirely
    nothing, _, _ = crop_around_box(image, far, 2.0, 16, pad_value=3)
    assert np.all(nothing == 3)
    edge, _, _ = crop_around_box(image, far, 2.0, 16, border="replicate")
    assert np.all(edge == 200)                       # the bottom-right corner pixel


def test_colour_padding_uses_the_mean_of_each_channel():
    image = np.zeros((20, 20, 3), dtype=np.float32)
    image[..., 1] = 1.0
    image[..., 2] = np.linspace(0, 2, 20)[None, :]
    patch, _, _ = crop_around_box(image, np.array([0.0, 0.0, 4.0, 4.0]), 4.0, 16,
                                  pad_value="mean")
    np.testing.assert_allclose(patch[0, 0], [0.0, 1.0, 1.0], atol=1e-6)


def test_jitter_statistics_follow_the_factors():
    rng = np.random.default_rng(11)
    box = np.array([50.0, 40.0, 20.0, 10.0])
    samples = np.array([jitter_box(box, rng, 3.0, 0.25) for _ in range(4000)])
    log_ratio = np.log(samples[:, 2:] / box[2:])
    np.testing.assert_allclose(log_ratio.std(axis=0), 0.25, rtol=0.08)
    np.testing.assert_allclose(log_ratio.mean(axis=0), 0.0, atol=0.02)
    offset = samples[:, :2] + samples[:, 2:] / 2 - (box[:2] + box[2:] / 2)
    limit = 0.5 * np.sqrt(samples[:, 2] * samples[:, 3]) * 3.0
    assert np.all(np.abs(offset) <= limit[:, None] + 1e-9)
    assert np.abs(offset).max() > 0.9 * limit.min()
    np.testing.assert_allclose(jitter_box(box, rng, 0.0, 0.0), box)


def test_bad_input_is_named():
    image = np.zeros((10, 10), dtype=np.uint8)
    with pytest.raises(ValueError, match="positive width and height"):
        crop_around_box(image, np.array([1.0, 1.0, 0.0, 3.0]), 2.0, 8)
    with pytest.raises(ValueError, match="search_area_factor"):
        crop_around_box(image, np.array([1.0, 1.0, 2.0, 3.0]), 0.0, 8)
    with pytest.raises(ValueError, match="border"):
        crop_around_box(image, np.array([1.0, 1.0, 2.0, 3.0]), 2.0, 8, border="wrap")
    with pytest.raises(ValueError, match="image"):
        crop_around_box(np.zeros((0, 4)), np.array([1.0, 1.0, 2.0, 3.0]), 2.0, 8)
    assert math.isclose(crop_region(np.array([0, 0, 3.0, 3.0]), 1.0)[2], 3)
