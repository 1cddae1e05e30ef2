"""Calibration YAML: round trip, the key contract, and each validation error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from rgbt_tracking.alignment.calibration_file import (Calibration, CalibrationError, identity_calibration,
                                                      load_calibration, save_calibration)


def _calibration() -> Calibration:
    H = np.array([[2.0, 0.01, 10.5], [-0.02, 2.01, -4.0], [1e-5, 2e-6, 1.0]])
    return Calibration(model="homography", homography=H, rgb_size=(1280, 1024), thermal_size=(640, 512),
                       error_px=0.31, date="2025-01-02T03:04:05+00:00", method="target",
                       extra={"per_image_error_px": {0: 0.2, 1: 0.4}})


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _valid_dict(tmp_path: Path) -> dict:
    path = save_calibration(_calibration(), tmp_path / "good.yaml")
    return yaml.safe_load(path.read_text())


def test_round_trip_and_keys(tmp_path: Path) -> None:
    cal = _calibration()
    path = save_calibration(cal, tmp_path / "cal.yaml")
    data = yaml.safe_load(path.read_text())
    assert list(data)[:7] == ["model", "homography", "rgb_size", "thermal_size", "error_px", "date", "method"]
    assert data["rgb_size"] == [1280, 1024] and data["thermal_size"] == [640, 512]
    assert data["homography"][0] == [2.0, 0.01, 10.5]
    loaded = load_calibration(path)
    np.testing.assert_array_equal(loaded.homography, cal.homography)
    assert loaded.homography.dtype == np.float64
    assert (loaded.model, loaded.rgb_size, loaded.thermal_size) == ("homography", (1280, 1024), (640, 512))
    assert loaded.error_px == pytest.approx(0.31) and loaded.date == cal.date and loaded.method == "target"
    assert loaded.stereo is None and loaded.extra["per_image_error_px"][1] == 0.4


def test_stereo_round_trip(tmp_path: Path) -> None:
    K = np.array([[800.0, 0, 640], [0, 800, 512], [0, 0, 1]])
    stereo = {"K_rgb": K, "dist_rgb": np.zeros(5), "K_thermal": K / 2 + np.diag([0, 0, 0.5]),
              "dist_thermal": np.array([0.1, -0.01, 0, 0, 0]), "R": np.eye(3),
              "T": np.array([[0.1], [0.0], [0.0]]), "working_distance_m": 10.0}
    cal = _calibration()
    cal.model, cal.stereo = "stereo", stereo
    loaded = load_calibration(save_calibration(cal, tmp_path / "s.yaml"))
    assert loaded.model == "stereo"
    np.testing.assert_allclose(loaded.stereo["T"], [0.1, 0.0, 0.0])
    np.testing.assert_allclose(loaded.stereo["dist_thermal"], stereo["dist_thermal"])
    assert loaded.stereo["working_distance_m"] == 10.0


def test_identity() -> None:
    cal = identity_calibration((640, 512))
    np.testing.assert_array_equal(cal.homography, np.eye(3))
    assert cal.rgb_size == cal.thermal_size == (640, 512)


def test_refuses_overwrite(tmp_path: Path) -> None:
    path = save_calibration(_calibration(), tmp_path / "cal.yaml")
    with pytest.raises(FileExistsError, match="cal.yaml"):
        save_calibration(_calibration(), path)
    save_calibration(_calibration(), path, overwrite=True)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_calibration(tmp_path / "nope.yaml")


def test_missing_key(tmp_path: Path) -> None:
    data = _valid_dict(tmp_path)
    del data["thermal_size"]
    with pytest.raises(CalibrationError, match=r"cal\.yaml.*missing key 'thermal_size'"):
        load_calibration(_write(tmp_path, data))


@pytest.mark.parametrize("field, value, message", [
    ("homography", [[1, 0], [0, 1]], r"'homography' must have shape \[3, 3\], got shape \[2, 2\]"),
    ("homography", "eye", r"'homography' must be numbers"),
    ("rgb_size", [1280], r"'rgb_size' must be \[width, height\].*got \[1280\]"),
    ("thermal_size", [640.5, 512], r"'thermal_size' must be \[width, height\]"),
    ("error_px", "small", r"'error_px' must be a non-negative number, got 'small'"),
    ("model", "spline", r"'model' must be one of .*got 'spline'"),
    ("date", 20250101, r"'date' must be a string"),
])
def test_wrong_field(tmp_path: Path, field: str, value: object, message: str) -> None:
    data = _valid_dict(tmp_path)
    data[field] = value
    with pytest.raises(CalibrationError, match=message) as info:
        load_calibration(_write(tmp_path, data))
    assert "cal.yaml" in str(info.value)


def test_singular_homography(tmp_path: Path) -> None:
    data = _valid_dict(tmp_path)
    data["homography"] = [[1, 2, 3], [2, 4, 6], [0, 0, 1]]
    with pytest.raises(CalibrationError, match="'homography' is singular"):
        load_calibration(_write(tmp_path, data))


def test_stereo_requires_block(tmp_path: Path) -> None:
    data = _valid_dict(tmp_path)
    data["model"] = "stereo"
    with pytest.raises(CalibrationError, match="missing key 'stereo'"):
        load_calibration(_write(tmp_path, data))


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(CalibrationError, match="expected a YAML mapping"):
        load_calibration(path)
