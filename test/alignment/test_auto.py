"""Acceptance of target-free calibration (``--method auto``) with the homography model.

Real LLVIP pairs (../shared/data/llvip_pairs, 1280x1024, published as aligned with a small
residual offset). The thermal image is warped with known homographies; the estimate for the
warped pair must match the method's own estimate for the unwarped pair composed with the
inverse of the known warp (mean error over the 4 image corners < 2 px), from one pair
(shift, rotation, scale, perspective) and from several (calibrate_auto's joint refinement).
The affine model is covered by test_auto_alignment.py.
"""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from rgbt_tracking.alignment.auto import (  # noqa: E402
    _joint_refinement,
    _to_grey_float,
    calibrate_auto,
    estimate_alignment,
    map_points,
    mean_corner_error,
    nodata_mask,
    orientation_field,
)
from rgbt_tracking.alignment.calibration_file import CalibrationError  # noqa: E402

SIZE = (1280, 1024)
CENTRE = ((SIZE[0] - 1) / 2.0, (SIZE[1] - 1) / 2.0)


def _about_centre(linear: np.ndarray) -> np.ndarray:
    to_c = np.array([[1, 0, -CENTRE[0]], [0, 1, -CENTRE[1]], [0, 0, 1.0]])
    return np.linalg.inv(to_c) @ linear @ to_c


_A = np.deg2rad(2.0)
WARPS: dict[str, tuple[str, np.ndarray]] = {
    "shift": ("190001", np.array([[1, 0, 12.0], [0, 1, -8.0], [0, 0, 1.0]])),
    "rotation 2 deg": ("200003", _about_centre(np.array([[np.cos(_A), -np.sin(_A), 0],
                                                         [np.sin(_A), np.cos(_A), 0], [0, 0, 1.0]]))),
    "scale 1.03": ("200003", _about_centre(np.diag([1.03, 1.03, 1.0]))),
    "perspective": ("190001", _about_centre(np.array([[1.0, 0.0, 0], [0, 1.0, 0], [1.5e-5, -1e-5, 1.0]]))),
}


def _load_pair(root, name: str) -> tuple:
    """(RGB HxWx3, thermal HxW) of one LLVIP pair; skips the test when it is missing."""
    bgr = cv2.imread(str(root / "visible" / f"{name}.jpg"), cv2.IMREAD_COLOR)
    ir = cv2.imread(str(root / "infrared" / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE)
    if bgr is None or ir is None:
        pytest.skip(f"LLVIP pair {name} not available")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ir


@pytest.fixture(scope="module")
def pairs(shared_data):
    return {name: _load_pair(shared_data / "llvip_pairs", name) for name in ("190001", "200003")}


# Pairs of two scenes: frames of one scene constrain the perspective terms about as weakly
# as one pair (joint map over 4 frames of scene 190: 9.2 px from identity; mixed: 5.0 px).
# The single-pair homographies of these pairs spread 5.3 px RMS about their median map over
# a 5x5 grid of the image (pairs 190003, 190005, 200002, 200007: 5.7 px), under the default
# max_spread_px of 8.
JOINT_PAIRS = ("190001", "190004", "200003", "200006")


@pytest.fixture(scope="module")
def joint_pairs(shared_data, pairs):
    return {name: pairs[name] if name in pairs else _load_pair(shared_data / "llvip_pairs", name)
            for name in JOINT_PAIRS}


@pytest.fixture(scope="module")
def joint_calibration(joint_pairs):
    return calibrate_auto(list(joint_pairs.values()), model="homography")


@pytest.fixture(scope="module")
def unwarped(pairs):
    return {name: estimate_alignment(rgb, ir, model="homography") for name, (rgb, ir) in pairs.items()}


def test_nodata_is_the_border_connected_constant_region():
    image = np.full((40, 50), 90, np.uint8)
    image[:, :6] = 0          # black band at the left border: no data
    image[20:25, 20:25] = 0   # a dark object inside the image: data
    mask = nodata_mask(image, 0)
    assert mask[:, :6].all() and mask.sum() == 40 * 6
    assert not nodata_mask(image, None).any()
    rgb = np.repeat(image[..., None], 3, axis=2)
    np.testing.assert_array_equal(nodata_mask(rgb, 0), mask)


def test_nodata_pixels_are_filled_from_their_nearest_valid_neighbour():
    image = np.tile(np.arange(64, dtype=np.uint8) * 3 + 10, (48, 1))
    image[:, :8] = 0
    grey, valid = _to_grey_float(image, "thermal", nodata_value=0)
    assert not valid[:, :8].any() and valid[:, 8:].all()
    np.testing.assert_allclose(grey[:, :8], grey[:, 8:9].repeat(8, axis=1))
    # a mostly black night frame: the black is scene content, every pixel counts
    night = np.zeros((48, 64), np.uint8)
    night[20:30, 40:60] = 200
    _, valid = _to_grey_float(night, "rgb", nodata_value=0)
    assert valid.all()


def test_orientation_field_is_polarity_invariant():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((64, 80)).astype(np.float32), (0, 0), 2.0)
    np.testing.assert_allclose(orientation_field(img), orientation_field(1.0 - img), atol=1e-5)


# points spanning the central half of the image (9 x 9) and the whole image (17 x 17)
_INNER = np.stack(np.meshgrid(np.linspace(320, 960, 9), np.linspace(256, 768, 9)), -1).reshape(-1, 2)
_GRID = np.stack(np.meshgrid(np.linspace(0, 1279, 17), np.linspace(0, 1023, 17)), -1).reshape(-1, 2)


def _mean_distance(h_a: np.ndarray, h_b: np.ndarray, points: np.ndarray) -> float:
    return float(np.linalg.norm(map_points(h_a, points) - map_points(h_b, points), axis=1).mean())


@pytest.mark.parametrize("name", ["190001", "200003"])
def test_unwarped_map_is_near_identity(unwarped, name):
    """One pair's homography lies within a few pixels of identity over the image; at the
    corners it extrapolates (measured on the 12 LLVIP pairs: 1.9-3.1 px in the central half,
    3.3-5.1 px over the whole image, 7.9-11 px at the corners; 190001: 1.9 / 3.9 / 8.6,
    200003: 2.3 / 3.7 / 8.4). Several pairs pin the corners down:
    test_calibrate_auto_gives_homography."""
    result = unwarped[name]
    assert result.trusted, (name, result.reason)
    assert result.score > result.shifted_score + 0.1, name
    assert _mean_distance(result.homography, np.eye(3), _INNER) < 3.5, name
    assert _mean_distance(result.homography, np.eye(3), _GRID) < 5.0, name
    assert mean_corner_error(result.homography, np.eye(3), SIZE) < 12.0, name


@pytest.mark.parametrize("warp_name", list(WARPS))
def test_known_homography_is_recovered(pairs, unwarped, warp_name):
    name, warp = WARPS[warp_name]
    rgb, ir = pairs[name]
    warped = cv2.warpPerspective(ir, warp, SIZE, flags=cv2.INTER_LINEAR)
    result = estimate_alignment(rgb, warped, model="homography")
    assert result.trusted, result.reason
    expected = unwarped[name].homography @ np.linalg.inv(warp)
    assert mean_corner_error(result.homography, expected, SIZE) < 2.0


@pytest.mark.parametrize("kind", ["other scene", "flipped"])
def test_unrelated_thermal_is_refused(pairs, kind):
    rgb = pairs["190001"][0]
    other = pairs["200003"][1] if kind == "other scene" else np.ascontiguousarray(pairs["190001"][1][::-1])
    if kind == "other scene":
        # calibrate_auto runs the single-pair estimate and refuses the calibration when it
        # is not trusted (one call instead of two: runtime)
        with pytest.raises(CalibrationError, match="could not trust any pair"):
            calibrate_auto([(rgb, other)], model="homography")
        return
    result = estimate_alignment(rgb, other, model="homography")
    assert not result.trusted, result.reason


def test_calibrate_auto_gives_homography(joint_calibration):
    cal = joint_calibration
    assert cal.model == "homography" and cal.method == "auto"
    assert cal.homography.shape == (3, 3)
    assert cal.rgb_size == SIZE and cal.thermal_size == SIZE
    assert cal.extra["pairs_used"] == len(JOINT_PAIRS)
    joint = cal.extra["joint_refinement"]
    assert "rejected" not in joint, joint
    assert joint["score"] >= joint["start_score"]  # the refinement keeps the best visited map
    # measured: 5.0 px from identity (the 12-pair joint map: 4.2 px; single pairs: 7.9-11)
    assert mean_corner_error(cal.homography, np.eye(3), SIZE) < 6.0
    assert cal.error_px < 8.0  # spread of the single-pair maps about the median map (measured 5.3)


def test_joint_refinement_recovers_perspective_warp(joint_pairs, joint_calibration):
    """One perspective warp (WARPS["perspective"], 7.8 px mean at the corners) applied to
    the thermal images of 4 pairs of one rig is recovered by calibrate_auto.

    Measured mean corner errors, full-resolution pixels, against the unwarped calibration
    composed with the inverse warp (the same criterion as the single-pair test):
    joint refinement 0.41 px (pairs 190003, 190005, 200002, 200007: 0.31 px); the single
    pairs alone 0.4-0.6 px. Full-resolution images and default settings (what
    `rgbt-track calibrate` runs): two calibrations of 4 pairs, about 14 s each on the
    2-core test machine.
    """
    warp = WARPS["perspective"][1]
    warped = [(rgb, cv2.warpPerspective(ir, warp, SIZE, flags=cv2.INTER_LINEAR))
              for rgb, ir in joint_pairs.values()]
    cal = calibrate_auto(warped, model="homography")
    assert "rejected" not in cal.extra["joint_refinement"], cal.extra["joint_refinement"]
    expected = joint_calibration.homography @ np.linalg.inv(warp)
    assert mean_corner_error(cal.homography, expected, SIZE) < 2.0


# --------------------------------------------------------------------------------------
# the joint refinement on small synthetic scenes with a known map (fast)
# --------------------------------------------------------------------------------------

SYNTH_SIZE = (320, 256)
# thermal -> RGB ground truth: shift, small shear and perspective (6.3 px at the corners)
_SYNTH_TRUE = np.array([[1.0, 0.004, 2.5], [-0.003, 1.0, -1.5], [1.2e-4, -8e-5, 1.0]])
TRUST = {"max_width": 640, "min_score": 0.08, "min_margin": 0.05, "min_ratio": 1.5}


def _synthetic_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Blurred-noise scene; the thermal image is its contrast-inverted copy seen through
    the inverse of _SYNTH_TRUE (so that _SYNTH_TRUE maps thermal pixels to RGB pixels)."""
    w, h = SYNTH_SIZE
    rng = np.random.default_rng(seed)
    grey = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 4.0)
    grey = ((grey - grey.min()) / (grey.max() - grey.min()) * 255).astype(np.uint8)
    thermal = cv2.warpPerspective(255 - grey, np.linalg.inv(_SYNTH_TRUE), SYNTH_SIZE,
                                  flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.repeat(grey[..., None], 3, axis=2), thermal


@pytest.fixture(scope="module")
def synthetic_pairs():
    return [_synthetic_pair(seed) for seed in range(3)]


def test_synthetic_truth_has_perspective():
    corners_moved = mean_corner_error(_SYNTH_TRUE, np.eye(3), SYNTH_SIZE)
    affine_part = np.vstack([_SYNTH_TRUE[:2], [0, 0, 1.0]])
    assert corners_moved > 5.0 and mean_corner_error(_SYNTH_TRUE, affine_part, SYNTH_SIZE) > 3.0


def test_joint_refinement_converges_from_offset_start(synthetic_pairs):
    # start 3-4 px off at the corners, the perspective terms included
    offset = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -2.0], [-6e-5, 4e-5, 1.0]])
    start = offset @ _SYNTH_TRUE
    assert mean_corner_error(start, _SYNTH_TRUE, SYNTH_SIZE) > 3.0
    joint, reasons, info = _joint_refinement(synthetic_pairs, start, iterations=30, **TRUST)
    assert reasons == []
    assert mean_corner_error(joint, _SYNTH_TRUE, SYNTH_SIZE) < 0.1
    assert info["score"] > info["start_score"] and len(info["scores"]) == len(synthetic_pairs)


def test_joint_refinement_distrusts_an_unrelated_pair(synthetic_pairs):
    rgb_other, _ = _synthetic_pair(10)
    mixed = list(synthetic_pairs[:2]) + [(rgb_other, synthetic_pairs[2][1])]
    _, reasons, _ = _joint_refinement(mixed, _SYNTH_TRUE, iterations=5, **TRUST)
    assert reasons and all(r.startswith("pair 2:") for r in reasons), reasons


def test_calibrate_auto_joint_map_matches_truth(synthetic_pairs):
    cal = calibrate_auto(synthetic_pairs, model="homography")
    assert "rejected" not in cal.extra["joint_refinement"]
    assert mean_corner_error(cal.homography, _SYNTH_TRUE, SYNTH_SIZE) < 0.1


def test_single_trusted_pair_skips_joint_refinement(synthetic_pairs):
    cal = calibrate_auto(synthetic_pairs[:1], model="homography")
    assert "skipped" in cal.extra["joint_refinement"]
    assert mean_corner_error(cal.homography, _SYNTH_TRUE, SYNTH_SIZE) < 0.1


def test_joint_iterations_must_be_positive(synthetic_pairs):
    with pytest.raises(CalibrationError, match="joint_iterations"):
        calibrate_auto(synthetic_pairs, model="homography", joint_iterations=0)
