import math

import pytest
import torch

from rgbt_tracking.features.feature_set import FeatureSet
from rgbt_tracking.features.gradient_histogram import gradient_histogram, image_gradients
from rgbt_tracking.features.intensity import opponent_colour


def ramp(angle: float, size: int = 32) -> torch.Tensor:
    """(1, 1, size, size) image whose gradient points along ``angle`` (radians)."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                            torch.arange(size, dtype=torch.float32), indexing="ij")
    return ((xs * math.cos(angle) + ys * math.sin(angle)) / (2 * size)).view(1, 1, size, size)


def test_gradients_of_a_ramp():
    gx, gy = image_gradients(ramp(0.0))
    assert torch.allclose(gx[0, 0, 4:-4, 4:-4], torch.full((24, 24), 1 / 64), atol=1e-6)
    assert torch.allclose(gy[0, 0, 4:-4, 4:-4], torch.zeros(24, 24), atol=1e-6)


@pytest.mark.parametrize("angle, expected_bin", [(0.0, 0), (4 * math.pi / 9, 4), (math.pi, 0),
                                                 (2 * math.pi / 9, 2), (-math.pi / 9, 8)])
def test_votes_land_in_the_orientation_bin(angle, expected_bin):
    # Bin k covers [k*pi/9, (k+1)*pi/9); its centre is k*pi/9 + pi/18, where the ramp points.
    # Unsigned: angle and angle + pi vote alike.
    # clip=1 keeps the normalised votes unsaturated, so the winning bin is unique.
    hist = gradient_histogram(ramp(angle + math.pi / 18), cell_size=4, clip=1.0)
    interior = hist[0, :, 2:-2, 2:-2].mean(dim=(1, 2))
    ranked = torch.sort(interior, descending=True).values
    assert int(interior.argmax()) == expected_bin
    assert float(ranked[0]) > 2.0 * float(ranked[1])


def test_shape_and_range():
    hist = gradient_histogram(torch.rand(2, 1, 64, 48), cell_size=4, num_bins=9)
    assert hist.shape == (2, 9, 16, 12)
    assert float(hist.min()) >= 0.0 and float(hist.max()) <= 1.0 + 1e-6


def test_multichannel_uses_the_strongest_channel():
    weak = ramp(0.0) * 0.1
    strong = ramp(math.pi / 2 + math.pi / 18)
    both = gradient_histogram(torch.cat([weak, strong], dim=1), cell_size=4)
    alone = gradient_histogram(strong, cell_size=4)
    assert torch.allclose(both, alone)


def test_size_must_be_multiple_of_cell():
    with pytest.raises(ValueError, match="multiple of cell_size"):
        gradient_histogram(torch.rand(1, 1, 30, 32), cell_size=4)


def test_opponent_colour_is_zero_on_grey():
    grey = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(opponent_colour(grey, 4), torch.zeros(1, 2, 2, 2))
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    assert float(opponent_colour(red, 4)[0, 0, 0, 0]) == pytest.approx(1.0)


def test_feature_set_concatenates_in_order_and_rejects_unknown():
    features = FeatureSet(["gradient_histogram", "colour", "intensity"], cell_size=4)
    out = features(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 9 + 2 + 1, 8, 8)
    with pytest.raises(ValueError, match="unknown feature"):
        FeatureSet(["sift"], cell_size=4)
    with pytest.raises(ValueError, match="3-channel"):
        FeatureSet(["colour"], cell_size=4)(torch.rand(1, 1, 8, 8))
