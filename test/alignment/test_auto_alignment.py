"""Target-free calibration on the real LLVIP pairs (../shared/data/llvip_pairs).

The pairs are published as aligned with a residual offset of a few pixels. The thermal
image is warped with known maps; the estimate for the warped pair must equal the method's
own estimate for the unwarped pair composed with the inverse of the known warp (mean error
at the four image corners < 2 px); the unwarped estimate lies near identity; a thermal
image of another scene is refused.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from rgbt_tracking.alignment.auto import calibrate_auto, estimate_alignment
from rgbt_tracking.alignment.calibration_file import CalibrationError

SIZE = (1280, 1024)
CORNERS = np.float64([[0, 0], [SIZE[0] - 1, 0], [SIZE[0] - 1, SIZE[1] - 1],
                      [0, SIZE[1] - 1]]).reshape(-1, 1, 2)


def corner_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(cv2.perspectiveTransform(CORNERS, a)
                                - cv2.perspectiveTransform(CORNERS, b), axis=2).mean())


def about_centre(linear: np.ndarray) -> np.ndarray:
    cx, cy = (SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    return np.linalg.inv(to_centre) @ linear @ to_centre


ANGLE = np.deg2rad(2.0)
WARPS = {
    "shift": np.array([[1, 0, 12.0], [0, 1, -8.0], [0, 0, 1]]),
    "rotation 2 deg": about_centre(np.array([[np.cos(ANGLE), -np.sin(ANGLE), 0],
                                             [np.sin(ANGLE), np.cos(ANGLE), 0], [0, 0, 1]])),
    "scale 1.03": about_centre(np.diag([1.03, 1.03, 1.0])),
    "shear": about_centre(np.array([[1.0, 0.01, 0], [0.0, 1.0, 0], [0, 0, 1.0]])),
}
# Perspective warps need the homography model: test_auto.py.


@pytest.fixture(scope="module")
def pairs(shared_data):
    root = shared_data / "llvip_pairs"
    loaded = {}
    for name in ("190001.jpg", "200003.jpg"):
        rgb = cv2.imread(str(root / "visible" / name), cv2.IMREAD_COLOR)
        thermal = cv2.imread(str(root / "infrared" / name), cv2.IMREAD_GRAYSCALE)
        assert rgb is not None and thermal is not None, name
        loaded[name] = (cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB), thermal)
    return loaded


@pytest.fixture(scope="module")
def unwarped(pairs):
    return {name: estimate_alignment(rgb, thermal, model="affine")
            for name, (rgb, thermal) in pairs.items()}


GRID = np.stack(np.meshgrid(np.linspace(0, SIZE[0] - 1, 17), np.linspace(0, SIZE[1] - 1, 17)),
                -1).reshape(-1, 1, 2)


def test_unwarped_pairs_are_near_identity(unwarped):
    """Measured (mean over a 17x17 grid of the image / at the 4 corners): 190001 3.9 / 6.0 px
    (its x scale comes out 0.85 % above 1: one scene pins the scale weakly), 200003 1.0 /
    1.6 px."""
    for name, result in unwarped.items():
        assert result.trusted, (name, result.reason)
        moved = np.linalg.norm(cv2.perspectiveTransform(GRID, result.homography) - GRID, axis=2)
        assert moved.mean() < 5.0, name
        assert corner_error(result.homography, np.eye(3)) < 8.0, name


@pytest.mark.parametrize("warp_name", list(WARPS))
def test_known_warps_are_recovered(pairs, unwarped, warp_name):
    warp = WARPS[warp_name]
    name = "190001.jpg" if warp_name in ("shift", "scale 1.03") else "200003.jpg"
    rgb, thermal = pairs[name]
    warped = cv2.warpPerspective(thermal, warp, SIZE, flags=cv2.INTER_LINEAR)
    result = estimate_alignment(rgb, warped, model="affine")
    assert result.trusted, result.reason
    expected = unwarped[name].homography @ np.linalg.inv(warp)
    assert corner_error(result.homography, expected) < 2.0


def test_thermal_image_of_another_scene_is_refused(pairs):
    rgb, _ = pairs["190001.jpg"]
    _, other_scene = pairs["200003.jpg"]
    result = estimate_alignment(rgb, other_scene, model="affine")
    assert not result.trusted, result.reason
    with pytest.raises(CalibrationError):
        calibrate_auto([(rgb, other_scene)], model="affine")


def test_calibrate_auto_combines_pairs(pairs):
    calibration = calibrate_auto(list(pairs.values()), model="affine")
    assert calibration.model == "affine" and calibration.method == "auto"
    assert corner_error(calibration.homography, np.eye(3)) < 6.0
    assert calibration.error_px < 8.0


def test_calibrate_command_auto(shared_data, tmp_path, capsys):
    from rgbt_tracking.alignment.calibration_file import load_calibration
    from rgbt_tracking.cli import main

    root = shared_data / "llvip_pairs"
    out = tmp_path / "auto.yaml"
    rgb, thermal = root / "visible" / "200003.jpg", root / "infrared" / "200003.jpg"
    assert main(["calibrate", "--method", "auto", "--rgb", str(rgb), "--thermal", str(thermal),
                 "--out", str(out)]) == 0
    calibration = load_calibration(out)
    assert calibration.model == "affine" and calibration.method == "auto"
    assert corner_error(calibration.homography, np.eye(3)) < 6.0
    refused = tmp_path / "refused.yaml"
    other = root / "infrared" / "190001.jpg"
    assert main(["calibrate", "--method", "auto", "--rgb", str(rgb), "--thermal", str(other),
                 "--out", str(refused), "--nodata-value", "none"]) == 3
    assert not refused.exists() and "nothing written" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calibrate", "--method", "auto", "--rgb", str(rgb), "--thermal", str(thermal),
              "--out", str(refused), "--nodata-value", "black"])
    assert "expected a pixel value or 'none'" in capsys.readouterr().err
