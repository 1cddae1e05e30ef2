"""Scale pyramid: factors, the penalised choice of scale, the peak's displacement."""
import numpy as np
import pytest

from rgbt_tracking.trackers.mmnet.scale_pyramid import (peak_displacement, scale_factors,
                                                        select_scale)


def blob(size, centre, sigma=1.0, height=1.0):
    ys, xs = np.mgrid[0:size, 0:size]
    return height * np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma ** 2))


def test_factors_are_symmetric_powers_of_the_step():
    np.testing.assert_allclose(scale_factors(3, 1.04), [1 / 1.04, 1.0, 1.04])
    np.testing.assert_allclose(scale_factors(5, 1.1), 1.1 ** np.arange(-2, 3))
    with pytest.raises(ValueError, match="odd"):
        scale_factors(4, 1.04)


def test_penalty_keeps_the_current_scale_unless_another_is_clearly_better():
    base = -1.0 + 0.1 * np.random.default_rng(0).random((3, 9, 9))   # negative logits
    near_tie = base.copy()
    near_tie[1] += blob(9, (4, 4), height=2.0)
    near_tie[2] += blob(9, (4, 4), height=2.03)      # 1.5 % higher: within the penalty
    assert select_scale(near_tie, 0.97) == 1
    assert select_scale(near_tie, 1.0) == 2          # no penalty: the raw maximum wins
    clear = base.copy()
    clear[1] += blob(9, (4, 4), height=1.0)
    clear[0] += blob(9, (4, 4), height=2.0)          # the smaller scale fits far better
    assert select_scale(clear, 0.97) == 0


def test_peak_displacement_in_cells():
    response = blob(17, (11.0, 6.0), sigma=1.5)         # 3 right, 2 up of the centre (8, 8)
    dx, dy = peak_displacement(response, upsample=8, window_influence=0.0)
    assert dx == pytest.approx(3.0, abs=0.1) and dy == pytest.approx(-2.0, abs=0.1)
    # the Hann window (cosine displacement penalty) prefers a slightly weaker peak near
    # the centre to a far one
    two = blob(17, (15.0, 8.0), height=1.0) + blob(17, (9.0, 8.0), height=0.9)
    assert peak_displacement(two, 4, 0.0)[0] == pytest.approx(7.0, abs=0.3)
    assert peak_displacement(two, 4, 0.6)[0] == pytest.approx(1.0, abs=0.3)
