"""ThermalWarper: identity, known shift, OpenCV vs torch, stereo plane homography, input checks."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from rgbt_tracking.alignment.calibration_file import Calibration, identity_calibration
from rgbt_tracking.alignment.warp import ThermalWarper, plane_induced_homography


def _calibration(H: np.ndarray, rgb=(320, 240), thermal=(160, 120)) -> Calibration:
    return Calibration(model="homography", homography=H, rgb_size=rgb, thermal_size=thermal,
                       error_px=0.0, date="2025-01-01", method="test")


def _smooth(w: int = 160, h: int = 120) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return (30000 + 2000 * np.sin(xs / 9.0) * np.cos(ys / 7.0) + 10 * xs).astype(np.uint16)


def test_identity_returns_input() -> None:
    img = (np.arange(64 * 48, dtype=np.uint32) % 251).astype(np.uint8).reshape(48, 64)
    warper = ThermalWarper(identity_calibration((64, 48)))
    np.testing.assert_array_equal(warper.warp(img), img)
    colour = np.dstack([img, img, 255 - img])
    out = warper.warp(colour)
    assert out.shape == colour.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, colour)


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_pure_shift_moves_feature(backend: str) -> None:
    img = np.zeros((120, 160), np.float32)
    img[50, 70] = 1.0
    H = np.array([[2.0, 0, 12.0], [0, 2.0, -6.0], [0, 0, 1]])  # thermal (x, y) -> (2x + 12, 2y - 6)
    out = ThermalWarper(_calibration(H), interpolation="nearest", backend=backend).warp(img)
    assert out.shape == (240, 320) and out.dtype == np.float32
    ys, xs = np.nonzero(out > 0.5)
    assert abs(xs.mean() - (2 * 70 + 12)) <= 1.0 and abs(ys.mean() - (2 * 50 - 6)) <= 1.0


def test_output_size_scaling() -> None:
    img = np.zeros((120, 160), np.float32)
    img[40:80, 60:100] = 1.0
    out = ThermalWarper(_calibration(np.diag([2.0, 2.0, 1.0])), output_size=(160, 120)).warp(img)
    assert out.shape == (120, 160)
    # 2x up to the RGB geometry then 0.5x down to the output: back to the thermal geometry
    assert np.abs(out - img).mean() < 0.02


@pytest.mark.parametrize("interpolation", ["linear", "cubic", "nearest"])
def test_torch_matches_opencv(interpolation: str) -> None:
    theta = np.deg2rad(3.0)
    H = np.array([[2 * np.cos(theta), -2 * np.sin(theta), 8.0], [2 * np.sin(theta), 2 * np.cos(theta), -5.0],
                  [2e-5, -1e-5, 1.0]])
    cal = _calibration(H)
    img = _smooth()
    ref = ThermalWarper(cal, interpolation=interpolation).warp(img).astype(np.float64)
    got = ThermalWarper(cal, interpolation=interpolation, backend="torch").warp(img)
    assert got.dtype == np.uint16 and got.shape == ref.shape
    inner = cv2.erode(((ref > 0) & (got > 0)).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    diff = np.abs(got.astype(np.float64) - ref)[inner]
    limit = 25.0 if interpolation == "nearest" else 3.0  # image amplitude is 2000 grey levels
    assert diff.mean() < limit, diff.mean()


def test_wrong_input_size() -> None:
    warper = ThermalWarper(_calibration(np.eye(3)))
    with pytest.raises(ValueError, match=r"\(100, 120\).*\(160, 120\)"):
        warper.warp(np.zeros((120, 100), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        warper.warp(np.zeros((120, 160), np.int32))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        ThermalWarper(_calibration(np.eye(3)), interpolation="area")


def test_stereo_uses_plane_homography() -> None:
    K_rgb = np.array([[400.0, 0, 160], [0, 400, 120], [0, 0, 1]])
    K_th = np.array([[200.0, 0, 80], [0, 200, 60], [0, 0, 1]])
    R = cv2.Rodrigues(np.array([0.0, 0.01, 0.0]))[0]
    T = np.array([0.2, 0.0, 0.0])
    d = 5.0
    H = plane_induced_homography(K_rgb, K_th, R, T, d)
    # a point on the plane Z = d projects consistently through both cameras
    X = np.array([0.3, -0.2, d])
    p_th = K_th @ X
    p_rgb = K_rgb @ (R @ X + T)
    q = H @ p_th
    np.testing.assert_allclose(q[:2] / q[2], p_rgb[:2] / p_rgb[2], atol=1e-9)
    stereo = {"K_rgb": K_rgb, "dist_rgb": np.zeros(5), "K_thermal": K_th, "dist_thermal": np.zeros(5),
              "R": R, "T": T, "working_distance_m": d}
    cal = Calibration(model="stereo", homography=np.eye(3), rgb_size=(320, 240), thermal_size=(160, 120),
                      error_px=0.0, date="2025-01-01", method="test", stereo=stereo)
    img = _smooth()
    ours = ThermalWarper(cal).warp(img)
    ref = cv2.warpPerspective(img, H, (320, 240))
    np.testing.assert_array_equal(ours, ref)
    # with (zero-valued but present) distortion the remap path is used and agrees as well
    stereo["dist_thermal"] = np.array([1e-12, 0, 0, 0, 0])
    remapped = ThermalWarper(cal).warp(img).astype(np.float64)
    inner = cv2.erode((ref > 0).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(remapped - ref)[inner].mean() < 2.0
