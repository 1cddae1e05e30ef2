"""Warp thermal frames into the RGB camera's pixel geometry.

A calibration maps a thermal pixel ``(x, y, 1)`` to an RGB pixel with a 3x3 homography ``H``
(see :mod:`rgbt_tracking.alignment.calibration_file`). Warping samples, for every output
(RGB-geometry) pixel ``p``, the thermal image at ``H^-1 p``. Two backends give the same
result within interpolation rounding:

* ``"opencv"`` (CPU): ``cv2.warpPerspective`` (or ``cv2.remap`` when a stereo calibration has
  lens distortion);
* ``"torch"``: ``torch.nn.functional.grid_sample`` with a sampling grid computed once at
  construction; chosen automatically when ``device`` starts with ``"cuda"``.

Pixel convention: integer coordinates are pixel centres (OpenCV's). When ``output_size``
differs from the calibration's ``rgb_size`` the output is the RGB geometry resampled with
pixel centres aligned: ``x_out = (x_rgb + 0.5) * out_w / rgb_w - 0.5`` (same for y).

Model "stereo": the warp uses the homography induced by the plane ``Z = d`` (fronto-parallel
to the thermal camera, ``n = (0, 0, 1)``, ``d = working_distance_m``). With
``X_rgb = R X_thermal + T`` and ``n^T X_thermal = d`` on the plane,
``X_rgb = (R + T n^T / d) X_thermal``, hence ``H = K_rgb (R + T n^T / d) K_thermal^-1``
(the often quoted ``R - T n^T / d`` is the same formula for the plane written
``n^T X + d = 0``). Lens distortion of both cameras is applied exactly per pixel.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rgbt_tracking.alignment.calibration_file import Calibration

INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}
_TORCH_MODES = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}
_DTYPES = (np.uint8, np.uint16, np.float32)


def plane_induced_homography(K_rgb: np.ndarray, K_thermal: np.ndarray, R: np.ndarray,
                             T: np.ndarray, distance_m: float) -> np.ndarray:
    """Thermal->RGB homography induced by the plane ``Z_thermal = distance_m``.

    Args:
        K_rgb, K_thermal: (3, 3) camera matrices, pixels.
        R: (3, 3) rotation, T: (3,) translation in metres, ``X_rgb = R X_thermal + T``.
        distance_m: plane distance from the thermal camera along its optical axis, metres.

    Returns:
        (3, 3) float64 homography normalised so that ``H[2, 2] == 1``.
    """
    if not distance_m > 0:
        raise ValueError(f"working distance must be > 0 m, got {distance_m}")
    n = np.array([[0.0, 0.0, 1.0]])
    t = np.asarray(T, dtype=np.float64).reshape(3, 1)
    H = np.asarray(K_rgb, np.float64) @ (np.asarray(R, np.float64) + t @ n / distance_m) \
        @ np.linalg.inv(np.asarray(K_thermal, np.float64))
    return H / H[2, 2]


def scale_to_output(H: np.ndarray, rgb_size: tuple[int, int], output_size: tuple[int, int]) -> np.ndarray:
    """Compose ``H`` (thermal -> RGB pixels) with the RGB -> output resampling (centre aligned)."""
    sx = output_size[0] / rgb_size[0]
    sy = output_size[1] / rgb_size[1]
    S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return S @ H


class ThermalWarper:
    """Warps thermal frames into the RGB camera's geometry with a fixed calibration.

    Args:
        calibration: the thermal->RGB calibration.
        output_size: (width, height) of the output, pixels; default ``calibration.rgb_size``.
        interpolation: "linear" | "nearest" | "cubic".
        device: torch device for the torch backend ("cpu", "cuda", "cuda:1", ...).
        backend: "opencv" | "torch" | None (torch when ``device`` starts with "cuda",
            OpenCV otherwise). ``backend="torch"`` with ``device="cpu"`` runs the GPU code
            path on the CPU (for tests).

    Outside the thermal field of view the output is 0.
    """

    def __init__(self, calibration: Calibration, output_size: tuple[int, int] | None = None,
                 interpolation: str = "linear", device: str = "cpu", backend: str | None = None) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {list(INTERPOLATIONS)}, got {interpolation!r}")
        if backend is None:
            backend = "torch" if str(device).startswith("cuda") else "opencv"
        if backend not in ("opencv", "torch"):
            raise ValueError(f"backend must be 'opencv' or 'torch', got {backend!r}")
        self.calibration = calibration
        self.output_size = tuple(int(v) for v in (output_size or calibration.rgb_size))
        if len(self.output_size) != 2 or min(self.output_size) <= 0:
            raise ValueError(f"output_size must be (width, height) > 0, got {output_size!r}")
        self.thermal_size = tuple(int(v) for v in calibration.thermal_size)
        self.interpolation = interpolation
        self.device = str(device)
        self.backend = backend
        self.homography = scale_to_output(self._thermal_to_rgb(), calibration.rgb_size, self.output_size)
        self._maps: tuple[np.ndarray, np.ndarray] | None = None
        if self._has_distortion() or backend == "torch":
            self._maps = self._sampling_maps()
        self._grid: Any = None
        if backend == "torch":
            import torch

            w, h = self.thermal_size
            mx, my = self._maps
            gx = 2.0 * mx / max(w - 1, 1) - 1.0  # align_corners=True: -1/+1 are pixel centres
            gy = 2.0 * my / max(h - 1, 1) - 1.0
            grid = np.stack([gx, gy], axis=-1)[None].astype(np.float32)  # (1, H_out, W_out, 2)
            self._grid = torch.from_numpy(grid).to(self.device)

    def _thermal_to_rgb(self) -> np.ndarray:
        """(3, 3) thermal->RGB homography: stored one, or plane-induced for model "stereo"."""
        cal = self.calibration
        if cal.model == "stereo" and cal.stereo is not None:
            s = cal.stereo
            return plane_induced_homography(s["K_rgb"], s["K_thermal"], s["R"], s["T"],
                                            float(s["working_distance_m"]))
        return np.asarray(cal.homography, dtype=np.float64)

    def _has_distortion(self) -> bool:
        s = self.calibration.stereo
        if self.calibration.model != "stereo" or s is None:
            return False
        return bool(np.any(np.asarray(s["dist_rgb"]) != 0) or np.any(np.asarray(s["dist_thermal"]) != 0))

    def _sampling_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Thermal pixel coordinates (map_x, map_y), each (H_out, W_out) float32, per output pixel."""
        w_out, h_out = self.output_size
        xs, ys = np.meshgrid(np.arange(w_out, dtype=np.float64), np.arange(h_out, dtype=np.float64))
        pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
        if self._has_distortion():
            s = self.calibration.stereo
            rgb_w, rgb_h = self.calibration.rgb_size
            # output pixel -> RGB pixel (undo the resampling), -> undistorted normalised RGB ray
            pts = np.stack([(pts[:, 0] + 0.5) * rgb_w / w_out - 0.5,
                            (pts[:, 1] + 0.5) * rgb_h / h_out - 0.5], axis=1)
            norm_rgb = cv2.undistortPoints(pts.reshape(-1, 1, 2), s["K_rgb"], s["dist_rgb"]).reshape(-1, 2)
            # normalised RGB -> normalised thermal through the plane (homography with K = I)
            Hn = plane_induced_homography(np.eye(3), np.eye(3), s["R"], s["T"], float(s["working_distance_m"]))
            norm_th = cv2.perspectiveTransform(norm_rgb.reshape(-1, 1, 2), np.linalg.inv(Hn)).reshape(-1, 2)
            obj = np.concatenate([norm_th, np.ones((len(norm_th), 1))], axis=1)
            th, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), s["K_thermal"], s["dist_thermal"])
            th = th.reshape(-1, 2)
        else:
            th = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), np.linalg.inv(self.homography)).reshape(-1, 2)
        return (th[:, 0].reshape(h_out, w_out).astype(np.float32),
                th[:, 1].reshape(h_out, w_out).astype(np.float32))

    def _check(self, thermal: np.ndarray) -> None:
        if not isinstance(thermal, np.ndarray):
            raise ValueError(f"thermal image must be a numpy array, got {type(thermal).__name__}")
        if thermal.ndim not in (2, 3) or (thermal.ndim == 3 and thermal.shape[2] not in (1, 3, 4)):
            raise ValueError(f"thermal image must be HxW or HxWx{{1,3,4}}, got shape {thermal.shape}")
        if thermal.dtype.type not in _DTYPES:
            raise ValueError(f"thermal image dtype must be uint8, uint16 or float32, got {thermal.dtype}")
        got = (thermal.shape[1], thermal.shape[0])
        if got != self.thermal_size:
            raise ValueError(f"thermal image size (width, height) {got} does not match the "
                             f"calibration's thermal_size {self.thermal_size}")

    def warp(self, thermal: np.ndarray) -> np.ndarray:
        """Warp one thermal frame into the output (RGB) geometry.

        Args:
            thermal: (H_t, W_t) or (H_t, W_t, C) uint8, uint16 or float32, with
                ``(W_t, H_t) == calibration.thermal_size``.

        Returns:
            (H_out, W_out[, C]) array of the same dtype; 0 outside the thermal field of view.
        """
        self._check(thermal)
        if self.backend == "torch":
            return self._warp_torch(thermal)
        flags = INTERPOLATIONS[self.interpolation]
        if self._maps is not None:
            out = cv2.remap(thermal, self._maps[0], self._maps[1], flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            out = cv2.warpPerspective(thermal, self.homography, self.output_size, flags=flags,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if thermal.ndim == 3 and out.ndim == 2:
            out = out[:, :, None]
        return out

    def _warp_torch(self, thermal: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        src = thermal[:, :, None] if thermal.ndim == 2 else thermal
        tensor = torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)).to(self.device)
        tensor = tensor.permute(2, 0, 1)[None]  # (1, C, H, W)
        out = F.grid_sample(tensor, self._grid, mode=_TORCH_MODES[self.interpolation],
                            padding_mode="zeros", align_corners=True)
        out = out[0].permute(1, 2, 0).cpu().numpy()
        if thermal.dtype != np.float32:
            info = np.iinfo(thermal.dtype)
            out = np.clip(np.rint(out), info.min, info.max).astype(thermal.dtype)
        return out[:, :, 0] if thermal.ndim == 2 else out
