import numpy as np
import pytest

from rgbt_tracking.core.images import normalise_thermal, thermal_range, validate_pair


def rgb(h=20, w=30):
    return np.zeros((h, w, 3), np.uint8)


@pytest.mark.parametrize("args, fragment", [
    ((None, None), "at least one"),
    ((np.zeros((20, 30), np.uint8), None), "HxWx3"),
    ((np.zeros((20, 30, 3), np.float32), None), "uint8"),
    ((rgb(), np.zeros((20, 30, 3), np.uint8)), "one channel"),
    ((rgb(), np.zeros((20, 30), np.int32)), "uint8, uint16 or float32"),
    ((rgb(), np.full((20, 30), np.nan, np.float32)), "NaN"),
    ((rgb(), np.zeros((21, 30), np.uint8)), "differ in size"),
    (([[1, 2, 3]], None), "numpy array"),
])
def test_bad_pairs_raise_value_error_naming_the_problem(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate_pair(*args)


def test_single_modalities_and_squeeze():
    assert validate_pair(rgb(), None).size == (30, 20)
    pair = validate_pair(None, np.zeros((20, 30, 1), np.uint16))
    assert pair.thermal.shape == (20, 30) and pair.rgb is None


def test_thermal_range_per_dtype():
    assert thermal_range(np.zeros((4, 4), np.uint8)) == (0.0, 255.0)
    counts = np.linspace(7000, 9000, 64 * 64).reshape(64, 64).astype(np.uint16)
    low, high = thermal_range(counts)
    assert 7000 <= low < 7100 and 8850 < high <= 9000
    unit = normalise_thermal(counts)
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0
    flat = normalise_thermal(np.full((8, 8), 300.0, np.float32))
    assert np.all(flat == 0.0)


def test_thermal_to_255_keeps_8_bit_and_stretches_16_bit_by_its_range():
    from rgbt_tracking.core.images import thermal_range, thermal_to_255

    eight = np.array([[0, 17], [200, 255]], np.uint8)
    out = thermal_to_255(eight)
    assert out.dtype == np.float32 and np.array_equal(out, eight.astype(np.float32))
    sixteen = np.linspace(1000, 9000, 64 * 64).reshape(64, 64).astype(np.uint16)
    low, high = thermal_range(sixteen)
    expected = np.clip((sixteen.astype(np.float64) - low) / (high - low), 0, 1) * 255
    np.testing.assert_allclose(thermal_to_255(sixteen), expected, atol=1e-3)
