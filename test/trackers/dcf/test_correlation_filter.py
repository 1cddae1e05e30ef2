import numpy as np
import pytest
import torch

from rgbt_tracking.trackers.dcf.correlation_filter import (
    CorrelationFilter,
    gaussian_label,
    peak_to_sidelobe_ratio,
    subpixel_peak,
)
from rgbt_tracking.trackers.dcf.fusion import reliability_weights


def smooth_noise(channels=4, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, channels, size, size, generator=generator)
    return torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)[0]


def test_label_peak_at_origin_and_circular():
    label = gaussian_label((16, 16), sigma=2.0)
    assert float(label[0, 0]) == 1.0
    assert float(label[0, 1]) == pytest.approx(float(label[0, 15]))


def test_trained_sample_responds_at_zero_shift():
    features = smooth_noise()
    filt = CorrelationFilter((32, 32), sigma=2.0, regularization=1e-3)
    filt.update(features, learning_rate=1.0)
    response = filt.respond(features[None])[0]
    dy, dx, value = subpixel_peak(response)
    assert abs(dy) < 0.5 and abs(dx) < 0.5 and value > 0.5


def test_shifted_sample_moves_the_peak_by_the_shift():
    features = smooth_noise(seed=1)
    filt = CorrelationFilter((32, 32), sigma=2.0, regularization=1e-4)
    # Train without the window effect dominating: the shift is small relative to the window.
    filt.update(features, learning_rate=1.0)
    shifted = torch.roll(features, shifts=(3, -2), dims=(1, 2))
    dy, dx, _ = subpixel_peak(filt.respond(shifted[None])[0])
    assert round(dy) == 3 and round(dx) == -2


def test_single_channel_filter_matches_the_direct_frequency_solution():
    # DSST Eq. 4 for D = 1 without the window: H = conj(G) X / (conj(X) X + lambda). Check
    # against an explicit per-frequency solve of min |conj(H) X - G|^2 + lambda |H|^2, whose
    # minimiser is conj(H) = G conj(X) / (|X|^2 + lambda).
    x = smooth_noise(channels=1, size=16, seed=2)
    filt = CorrelationFilter((16, 16), sigma=1.5, regularization=0.01)
    filt.window = torch.ones(16, 16)
    filt.update(x, learning_rate=1.0)
    z = smooth_noise(channels=1, size=16, seed=3)
    X = np.fft.fft2(x[0].numpy())
    Z = np.fft.fft2(z[0].numpy())
    G = np.fft.fft2(gaussian_label((16, 16), 1.5).numpy())
    H_conj = G * np.conj(X) / (np.abs(X) ** 2 + 0.01)
    expected = np.real(np.fft.ifft2(H_conj * Z))
    got = filt.respond(z[None])[0].numpy()
    assert np.allclose(got, expected, atol=1e-4)


def test_learning_rate_blends_numerator_and_denominator():
    a, b = smooth_noise(seed=4), smooth_noise(seed=5)
    blended = CorrelationFilter((32, 32), sigma=2.0, regularization=1e-3)
    blended.update(a, 1.0)
    blended.update(b, 0.25)
    only_a = CorrelationFilter((32, 32), sigma=2.0, regularization=1e-3)
    only_a.update(a, 1.0)
    only_b = CorrelationFilter((32, 32), sigma=2.0, regularization=1e-3)
    only_b.update(b, 1.0)
    assert torch.allclose(blended.numerator, 0.75 * only_a.numerator + 0.25 * only_b.numerator)
    assert torch.allclose(blended.denominator,
                          0.75 * only_a.denominator + 0.25 * only_b.denominator)


def test_psr_separates_a_peak_from_noise():
    peaked = gaussian_label((32, 32), 1.5) + 0.01 * torch.rand(32, 32)
    noise = torch.rand(32, 32)
    assert float(peak_to_sidelobe_ratio(peaked)) > 20
    assert float(peak_to_sidelobe_ratio(noise)) < 6


def test_subpixel_peak_refines_between_cells():
    response = torch.zeros(16, 16)
    response[4, 6], response[4, 7] = 1.0, 0.8
    dy, dx, _ = subpixel_peak(response)
    assert dy == pytest.approx(4.0) and 6.0 < dx < 6.5


def test_untrained_filter_and_wrong_grid():
    filt = CorrelationFilter((8, 8), 1.0, 1e-3)
    with pytest.raises(RuntimeError, match="not been trained"):
        filt.respond(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="built for"):
        filt.update(torch.rand(2, 8, 9), 1.0)


def test_reliability_weights():
    weights = reliability_weights({"rgb": 4.0, "thermal": 12.0}, floor=2.0)
    assert weights["rgb"] == pytest.approx(2 / 12) and weights["thermal"] == pytest.approx(10 / 12)
    assert reliability_weights({"rgb": 1.0, "thermal": 1.5}, floor=2.0) == {"rgb": 0.5,
                                                                          "thermal": 0.5}
