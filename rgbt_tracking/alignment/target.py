"""Thermal-to-RGB calibration from a heated target (checkerboard or symmetric circle grid).

Both cameras see the same target in several image pairs. The pattern is detected in each
modality (thermal images get their own preprocessing: percentile stretch to 8 bits, CLAHE,
both polarities, blur), the corner lists are put into one canonical order (columns running
right, rows running down in the image) so that the two modalities correspond point for
point, and the thermal->RGB map is fitted to all correspondences of all usable pairs:

* ``"homography"``: ``cv2.findHomography`` with RANSAC (scene far compared with the baseline);
* ``"affine"``: ``cv2.estimateAffine2D`` with RANSAC;
* ``"stereo"``: with both cameras' intrinsics, ``cv2.stereoCalibrate`` (intrinsics fixed)
  gives R, T (thermal -> RGB); the stored homography is the one induced by the plane at
  ``working_distance_m`` (see :func:`rgbt_tracking.alignment.warp.plane_induced_homography`).

When the result cannot be trusted (no usable pair, too few RANSAC inliers, error above the
limit) :class:`CalibrationError` is raised and nothing is produced.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from rgbt_tracking.alignment.calibration_file import Calibration, CalibrationError, now_iso
from rgbt_tracking.alignment.warp import plane_induced_homography

MIN_INLIER_RATIO = 0.8


@dataclass
class PatternSpec:
    """Calibration target geometry.

    Attributes:
        kind: "checkerboard" | "circles" (symmetric grid).
        columns: inner corners (checkerboard) or circles (grid) per row.
        rows: inner corners or circles per column.
        square_size_m: square side, or circle centre spacing, in metres.
    """

    kind: str = "checkerboard"
    columns: int = 9
    rows: int = 6
    square_size_m: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in ("checkerboard", "circles"):
            raise ValueError(f"pattern kind must be 'checkerboard' or 'circles', got {self.kind!r}")
        if self.columns < 2 or self.rows < 2:
            raise ValueError(f"pattern needs at least 2x2 points, got {self.columns}x{self.rows}")
        if not self.square_size_m > 0:
            raise ValueError(f"square_size_m must be > 0, got {self.square_size_m}")

    @property
    def size(self) -> tuple[int, int]:
        """OpenCV pattern size (columns, rows)."""
        return (int(self.columns), int(self.rows))

    def object_points(self) -> np.ndarray:
        """(K, 3) float32 target points in metres, row-major (x along columns, z = 0)."""
        xs, ys = np.meshgrid(np.arange(self.columns), np.arange(self.rows))
        pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1) * self.square_size_m
        return pts.astype(np.float32)


def to_gray8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Any HxW / HxWx3 uint8 / uint16 / float image -> HxW uint8 (percentile stretch if not uint8).

    Colour images are taken as RGB order.
    """
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[:, :, 0] if img.shape[2] == 1 else img[:, :, :3].astype(np.float32).mean(axis=2)
        if image.dtype == np.uint8:
            return np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float32)
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return np.zeros(img.shape, np.uint8)
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi <= lo:
        return np.zeros(img.shape, np.uint8)
    out = (np.nan_to_num(img, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _variants(gray: np.ndarray, modality: str) -> list[tuple[str, np.ndarray]]:
    """Preprocessed versions of ``gray`` to try, most likely first."""
    if modality == "rgb":
        return [("plain", gray)]
    stretched = to_gray8(gray, 1.0, 99.0)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(stretched)
    blurred = cv2.GaussianBlur(stretched, (5, 5), 0)
    out = []
    for name, img in (("stretched", stretched), ("clahe", clahe), ("blurred", blurred)):
        out.append((name, img))
        out.append((name + "+inverted", 255 - img))
    return out


def canonical_order(corners: np.ndarray, pattern: PatternSpec) -> np.ndarray:
    """Reorder a detected grid so that columns run right and rows run down in the image.

    Args:
        corners: (K, 2) points, K = columns * rows, row-major in OpenCV's (possibly
            rotated or mirrored) order.

    Returns:
        (K, 2) float32, the same points in canonical row-major order.
    """
    grid = np.asarray(corners, np.float32).reshape(pattern.rows, pattern.columns, 2)
    candidates = [grid, grid[::-1], grid[:, ::-1], grid[::-1, ::-1]]
    if pattern.rows == pattern.columns:
        candidates += [c.transpose(1, 0, 2) for c in candidates]

    def score(g: np.ndarray) -> float:
        col_dir = (g[:, 1:] - g[:, :-1]).reshape(-1, 2).mean(axis=0)
        row_dir = (g[1:] - g[:-1]).reshape(-1, 2).mean(axis=0)
        return float(col_dir[0] / (np.linalg.norm(col_dir) + 1e-9) + row_dir[1] / (np.linalg.norm(row_dir) + 1e-9))

    best = max(candidates, key=score)
    return np.ascontiguousarray(best.reshape(-1, 2), dtype=np.float32)


def _find_checkerboard(img: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    found, corners = cv2.findChessboardCornersSB(img, size, flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
    if found:
        return corners.reshape(-1, 2)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(img, size, flags=flags)
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01)
    corners = cv2.cornerSubPix(img, corners, (5, 5), (-1, -1), criteria)
    return corners.reshape(-1, 2)


def _find_circles(img: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    found, centres = cv2.findCirclesGrid(img, size, flags=cv2.CALIB_CB_SYMMETRIC_GRID)
    return centres.reshape(-1, 2) if found else None


def detect_pattern(image: np.ndarray, pattern: PatternSpec, modality: str = "rgb") -> tuple[np.ndarray | None, str]:
    """Detect the calibration pattern in one image.

    Args:
        image: HxW or HxWx3 (RGB order) uint8 / uint16 / float32.
        pattern: target geometry.
        modality: "rgb" (used as is) or "thermal" (stretched, CLAHE, both polarities, blur).

    Returns:
        (corners, reason): corners (K, 2) float32 in pixels, canonical order (see
        :func:`canonical_order`), K = columns * rows, or None when not found; reason says
        which preprocessing worked or why nothing was found.
    """
    if modality not in ("rgb", "thermal"):
        raise ValueError(f"modality must be 'rgb' or 'thermal', got {modality!r}")
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.size == 0:
        return None, f"{modality}: not an image (shape {img.shape})"
    gray = to_gray8(img)
    if float(gray.std()) < 2.0:
        return None, f"{modality}: image has no contrast (std {gray.std():.2f} grey levels); is the target heated / lit?"
    finder = _find_checkerboard if pattern.kind == "checkerboard" else _find_circles
    variants = _variants(gray, modality)
    if modality == "rgb" and pattern.kind == "circles":
        variants.append(("inverted", 255 - gray))
    for name, candidate in variants:
        corners = finder(candidate, pattern.size)
        if corners is not None:
            return canonical_order(corners, pattern), f"{modality}: found ({name})"
    tried = ", ".join(name for name, _ in variants)
    return None, (f"{modality}: {pattern.kind} {pattern.columns}x{pattern.rows} not found "
                  f"(tried: {tried}); check that the whole target is in view, sharp and "
                  f"that the pattern size counts inner corners")


def _image_size(image: np.ndarray) -> tuple[int, int]:
    return (int(image.shape[1]), int(image.shape[0]))


def _rms(H: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    if len(src) == 0:
        return float("nan")
    proj = cv2.perspectiveTransform(src.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((proj - dst) ** 2, axis=1))))


def calibrate_target(pairs: Sequence[tuple[np.ndarray, np.ndarray]], pattern: PatternSpec,
                     model: str = "homography", intrinsics: dict[str, Any] | None = None,
                     working_distance_m: float | None = None, ransac_threshold_px: float = 2.0,
                     max_error_px: float = 3.0) -> tuple[Calibration, list[dict[str, Any]]]:
    """Estimate the thermal->RGB map from image pairs of a calibration target.

    Args:
        pairs: list of (rgb, thermal): rgb HxWx3 (RGB order) or HxW; thermal HxW uint8 /
            uint16 / float32. All RGB images one size, all thermal images one size.
        pattern: target geometry.
        model: "homography" | "affine" | "stereo".
        intrinsics: for "stereo": K_rgb, dist_rgb, K_thermal, dist_thermal (pixels).
        working_distance_m: for "stereo": distance of the plane whose induced homography is
            stored (metres, required).
        ransac_threshold_px: RANSAC inlier threshold in RGB pixels.
        max_error_px: largest acceptable RMS reprojection error (RGB pixels).

    Returns:
        (calibration, report): report has one dict per pair with ``index``, ``found_rgb``,
        ``found_thermal``, ``reason`` and ``error_px`` (RMS of that pair's correspondences
        under the final map, RGB pixels; None when the pair was skipped).

    Raises:
        CalibrationError: no usable pair, inconsistent image sizes, fewer than 80 % RANSAC
            inliers, error above ``max_error_px``, or missing stereo inputs.
        ValueError: unknown model.
    """
    if model not in ("homography", "affine", "stereo"):
        raise ValueError(f"model must be 'homography', 'affine' or 'stereo', got {model!r}")
    if model == "stereo":
        needed = ("K_rgb", "dist_rgb", "K_thermal", "dist_thermal")
        if intrinsics is None or any(k not in intrinsics for k in needed):
            raise CalibrationError(f"model 'stereo' needs intrinsics with {', '.join(needed)}")
        if working_distance_m is None or not working_distance_m > 0:
            raise CalibrationError("model 'stereo' needs working_distance_m > 0 (metres)")
    if len(pairs) == 0:
        raise CalibrationError("no image pairs given")
    rgb_size = _image_size(pairs[0][0])
    thermal_size = _image_size(pairs[0][1])
    report: list[dict[str, Any]] = []
    used: list[tuple[int, np.ndarray, np.ndarray]] = []  # (report index, thermal pts, rgb pts)
    for i, (rgb, thermal) in enumerate(pairs):
        if _image_size(rgb) != rgb_size or _image_size(thermal) != thermal_size:
            raise CalibrationError(f"pair {i}: image sizes {_image_size(rgb)} / {_image_size(thermal)} "
                                   f"differ from the first pair's {rgb_size} / {thermal_size}")
        rgb_pts, rgb_reason = detect_pattern(rgb, pattern, "rgb")
        th_pts, th_reason = detect_pattern(thermal, pattern, "thermal")
        report.append({"index": i, "found_rgb": rgb_pts is not None, "found_thermal": th_pts is not None,
                       "reason": f"{rgb_reason}; {th_reason}", "error_px": None})
        if rgb_pts is not None and th_pts is not None:
            used.append((i, th_pts, rgb_pts))
    if not used:
        reasons = "\n  ".join(f"pair {r['index']}: {r['reason']}" for r in report)
        raise CalibrationError(f"pattern found in both images of no pair:\n  {reasons}")

    src = np.concatenate([u[1] for u in used]).astype(np.float64)
    dst = np.concatenate([u[2] for u in used]).astype(np.float64)
    stereo: dict[str, Any] | None = None
    extra: dict[str, Any] = {"pairs_used": len(used), "pairs_total": len(pairs),
                             "pattern": f"{pattern.kind} {pattern.columns}x{pattern.rows}"}
    if model == "stereo":
        H, error, stereo, mask = _stereo(used, pattern, intrinsics, float(working_distance_m),
                                         rgb_size, thermal_size)
        extra["stereo_rms_px"] = error
    else:
        if model == "homography":
            H, mask = cv2.findHomography(src, dst, cv2.RANSAC, ransac_threshold_px, maxIters=5000,
                                         confidence=0.999)
        else:
            A, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC,
                                           ransacReprojThreshold=ransac_threshold_px)
            H = None if A is None else np.vstack([A, [0.0, 0.0, 1.0]])
        if H is None or mask is None:
            raise CalibrationError(f"{model} estimation failed on {len(src)} correspondences")
        mask = mask.ravel().astype(bool)
        ratio = float(mask.mean())
        extra["inlier_ratio"] = ratio
        if ratio < MIN_INLIER_RATIO:
            raise CalibrationError(f"only {ratio:.0%} of {len(src)} correspondences are RANSAC inliers "
                                   f"(need {MIN_INLIER_RATIO:.0%}); detections disagree between cameras")
        H = H / H[2, 2]
        error = _rms(H, src[mask], dst[mask])
    for index, th_pts, rgb_pts in used:
        report[index]["error_px"] = _rms(H, th_pts, rgb_pts)
    extra["per_image_error_px"] = {int(i): float(report[i]["error_px"]) for i, _, _ in used}
    if not np.isfinite(error) or error > max_error_px:
        raise CalibrationError(f"reprojection error {error:.2f} px exceeds the limit {max_error_px:.2f} px")
    cal = Calibration(model=model, homography=np.asarray(H, np.float64), rgb_size=rgb_size,
                      thermal_size=thermal_size, error_px=float(error), date=now_iso(),
                      method="target", stereo=stereo, extra=extra)
    return cal, report


def _stereo(used: list[tuple[int, np.ndarray, np.ndarray]], pattern: PatternSpec, intrinsics: dict[str, Any],
            working_distance_m: float, rgb_size: tuple[int, int], thermal_size: tuple[int, int]
            ) -> tuple[np.ndarray, float, dict[str, Any], np.ndarray]:
    """Stereo extrinsics with fixed intrinsics; returns (H, rms_px, stereo dict, inlier mask)."""
    K_rgb = np.asarray(intrinsics["K_rgb"], np.float64).reshape(3, 3)
    K_th = np.asarray(intrinsics["K_thermal"], np.float64).reshape(3, 3)
    d_rgb = np.asarray(intrinsics["dist_rgb"], np.float64).ravel()
    d_th = np.asarray(intrinsics["dist_thermal"], np.float64).ravel()
    obj = [pattern.object_points() for _ in used]
    img_th = [u[1].reshape(-1, 1, 2).astype(np.float32) for u in used]
    img_rgb = [u[2].reshape(-1, 1, 2).astype(np.float32) for u in used]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-9)
    # camera 1 = thermal, camera 2 = RGB: X_rgb = R X_thermal + T
    rms, _, _, _, _, R, T, _, _ = cv2.stereoCalibrate(
        obj, img_th, img_rgb, K_th.copy(), d_th.copy(), K_rgb.copy(), d_rgb.copy(), thermal_size,
        flags=cv2.CALIB_FIX_INTRINSIC, criteria=criteria)
    H = plane_induced_homography(K_rgb, K_th, R, T, working_distance_m)
    stereo = {"K_rgb": K_rgb, "dist_rgb": d_rgb, "K_thermal": K_th, "dist_thermal": d_th,
              "R": np.asarray(R, np.float64), "T": np.asarray(T, np.float64).ravel(),
              "working_distance_m": float(working_distance_m)}
    mask = np.ones(sum(len(u[1]) for u in used), bool)
    return H, float(rms), stereo, mask
