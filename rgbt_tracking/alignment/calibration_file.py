"""RGB-thermal calibration files: the YAML contract read by the alignment node and tools.

Schema (YAML mapping; the first seven keys are always written, ``stereo`` only for model
"stereo", ``extra`` only when non-empty):

``model``
    ``"homography"``, ``"affine"`` or ``"stereo"``.
``homography``
    3x3 nested list, row-major, float. Maps a thermal pixel ``(x, y, 1)`` to the RGB pixel
    (homogeneous, divide by the third coordinate). Present for every model: for "affine" its
    last row is ``[0, 0, 1]``; for "stereo" it is the homography induced by the plane at
    ``stereo.working_distance_m`` (the planar approximation used for warping).
``rgb_size``, ``thermal_size``
    ``[width, height]`` in pixels, positive integers.
``error_px``
    RMS reprojection error of the estimate, in RGB pixels (non-negative float).
``date``
    ISO 8601 date-time of the calibration, a string.
``method``
    How the map was obtained: ``"target"``, ``"auto"``, ``"identity"``, ...
``stereo`` (model "stereo" only)
    Mapping with ``K_rgb``, ``K_thermal`` (3x3 nested lists, pixels), ``dist_rgb``,
    ``dist_thermal`` (flat lists of OpenCV distortion coefficients), ``R`` (3x3) and ``T``
    (3 values, metres) taking a point from the thermal camera frame to the RGB camera frame
    (``X_rgb = R X_thermal + T``), and ``working_distance_m`` (float, metres, > 0).
``extra``
    Free-form notes (per-image errors, inlier counts, ...); never needed to use the map.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

MODELS = ("homography", "affine", "stereo")
REQUIRED_KEYS = ("model", "homography", "rgb_size", "thermal_size", "error_px", "date", "method")
STEREO_KEYS = ("K_rgb", "dist_rgb", "K_thermal", "dist_thermal", "R", "T", "working_distance_m")


class CalibrationError(ValueError):
    """A calibration cannot be loaded, or cannot be estimated with enough confidence."""


@dataclass
class Calibration:
    """A thermal-to-RGB pixel mapping and where it came from.

    Attributes:
        model: "homography" | "affine" | "stereo".
        homography: (3, 3) float64, thermal pixel (x, y, 1) -> RGB pixel (homogeneous).
        rgb_size: (width, height) of the RGB image, pixels.
        thermal_size: (width, height) of the thermal image, pixels.
        error_px: RMS reprojection error in RGB pixels.
        date: ISO 8601 date-time string.
        method: "target" | "auto" | "identity" | ...
        stereo: for model "stereo": K_rgb, dist_rgb, K_thermal, dist_thermal, R, T (thermal ->
            RGB, metres) as numpy arrays and working_distance_m (float); otherwise None.
        extra: free notes (e.g. per-image errors); saved under ``extra`` when non-empty.
    """

    model: str
    homography: np.ndarray
    rgb_size: tuple[int, int]
    thermal_size: tuple[int, int]
    error_px: float
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    method: str = "target"
    stereo: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def now_iso() -> str:
    """Current UTC date-time, ISO 8601, seconds resolution."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def identity_calibration(size: tuple[int, int], method: str = "identity") -> Calibration:
    """Calibration for cameras already in one pixel geometry: identity homography.

    Args:
        size: (width, height) of both images, pixels.
    """
    w, h = int(size[0]), int(size[1])
    return Calibration(model="homography", homography=np.eye(3), rgb_size=(w, h),
                       thermal_size=(w, h), error_px=0.0, date=now_iso(), method=method)


def _to_plain(value: Any) -> Any:
    """numpy arrays / scalars -> nested lists / Python scalars (YAML-safe)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            key = _to_plain(key)
            plain[key if isinstance(key, (str, int)) else str(key)] = _to_plain(item)
        return plain
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def calibration_to_dict(cal: Calibration) -> dict[str, Any]:
    """The YAML mapping of ``cal`` (plain Python types), keys as in the module schema."""
    data: dict[str, Any] = {
        "model": cal.model,
        "homography": np.asarray(cal.homography, dtype=np.float64).reshape(3, 3).tolist(),
        "rgb_size": [int(cal.rgb_size[0]), int(cal.rgb_size[1])],
        "thermal_size": [int(cal.thermal_size[0]), int(cal.thermal_size[1])],
        "error_px": float(cal.error_px),
        "date": str(cal.date),
        "method": str(cal.method),
    }
    if cal.stereo is not None:
        stereo = _to_plain(cal.stereo)
        stereo["T"] = np.asarray(cal.stereo["T"], dtype=np.float64).ravel().tolist()
        for key in ("dist_rgb", "dist_thermal"):
            stereo[key] = np.asarray(cal.stereo[key], dtype=np.float64).ravel().tolist()
        data["stereo"] = stereo
    if cal.extra:
        data["extra"] = _to_plain(cal.extra)
    return data


def save_calibration(cal: Calibration, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``cal`` as YAML (schema in the module docstring); returns the path.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"calibration file {path} already exists (pass overwrite=True to replace it)")
    _validate(calibration_to_dict(cal), str(path))  # never write a file we would refuse to load
    text = yaml.safe_dump(calibration_to_dict(cal), sort_keys=False, default_flow_style=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _matrix(value: Any, shape: tuple[int, ...], where: str, name: str) -> np.ndarray:
    """Nested list -> float64 array of ``shape``; CalibrationError otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{where}: field '{name}' must be numbers of shape {list(shape)}, "
                               f"got {value!r}") from None
    if arr.shape != shape:
        raise CalibrationError(f"{where}: field '{name}' must have shape {list(shape)}, "
                               f"got shape {list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{where}: field '{name}' contains non-finite values")
    return arr


def _size(value: Any, where: str, name: str) -> tuple[int, int]:
    """[width, height] of positive integers."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value))
    if not ok:
        raise CalibrationError(f"{where}: field '{name}' must be [width, height] of positive "
                               f"integers, got {value!r}")
    return int(value[0]), int(value[1])


def _validate(data: Any, where: str) -> Calibration:
    """Check a parsed YAML mapping against the schema and build the Calibration."""
    if not isinstance(data, dict):
        raise CalibrationError(f"{where}: expected a YAML mapping, got {type(data).__name__}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise CalibrationError(f"{where}: missing key '{key}' (required: {', '.join(REQUIRED_KEYS)})")
    model = data["model"]
    if model not in MODELS:
        raise CalibrationError(f"{where}: field 'model' must be one of {list(MODELS)}, got {model!r}")
    homography = _matrix(data["homography"], (3, 3), where, "homography")
    det = float(np.linalg.det(homography))
    scale = float(np.abs(homography).max()) ** 3
    if scale == 0.0 or abs(det) < 1e-12 * scale:
        raise CalibrationError(f"{where}: field 'homography' is singular (determinant {det:.3g})")
    rgb_size = _size(data["rgb_size"], where, "rgb_size")
    thermal_size = _size(data["thermal_size"], where, "thermal_size")
    error = data["error_px"]
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not np.isfinite(error) or error < 0:
        raise CalibrationError(f"{where}: field 'error_px' must be a non-negative number, got {error!r}")
    for key in ("date", "method"):
        if not isinstance(data[key], str):
            raise CalibrationError(f"{where}: field '{key}' must be a string, got {data[key]!r}")
    stereo = None
    if model == "stereo" or data.get("stereo") is not None:
        raw = data.get("stereo")
        if not isinstance(raw, dict):
            raise CalibrationError(f"{where}: missing key 'stereo' (a mapping with "
                                   f"{', '.join(STEREO_KEYS)}) required for model 'stereo'")
        for key in STEREO_KEYS:
            if key not in raw:
                raise CalibrationError(f"{where}: missing key 'stereo.{key}'")
        stereo = {
            "K_rgb": _matrix(raw["K_rgb"], (3, 3), where, "stereo.K_rgb"),
            "K_thermal": _matrix(raw["K_thermal"], (3, 3), where, "stereo.K_thermal"),
            "R": _matrix(raw["R"], (3, 3), where, "stereo.R"),
            "T": _matrix(raw["T"], (3,), where, "stereo.T"),
        }
        for key in ("dist_rgb", "dist_thermal"):
            dist = np.asarray(raw[key], dtype=np.float64).ravel()
            if dist.size not in (0, 4, 5, 8, 12, 14):
                raise CalibrationError(f"{where}: field 'stereo.{key}' must have 0, 4, 5, 8, 12 or "
                                       f"14 coefficients, got {dist.size}")
            stereo[key] = dist
        wd = raw["working_distance_m"]
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not wd > 0:
            raise CalibrationError(f"{where}: field 'stereo.working_distance_m' must be a positive "
                                   f"number of metres, got {wd!r}")
        stereo["working_distance_m"] = float(wd)
    extra = data.get("extra") or {}
    if not isinstance(extra, dict):
        raise CalibrationError(f"{where}: field 'extra' must be a mapping, got {type(extra).__name__}")
    return Calibration(model=model, homography=homography, rgb_size=rgb_size,
                       thermal_size=thermal_size, error_px=float(error), date=data["date"],
                       method=data["method"], stereo=stereo, extra=extra)


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration YAML file (schema in the module docstring).

    Raises:
        FileNotFoundError: the file does not exist.
        CalibrationError: unparsable YAML, a missing key, a field of the wrong type or shape,
            or a singular homography; the message names the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML: {exc}") from None
    return _validate(data, str(path))
