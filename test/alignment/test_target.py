"""Target calibration on synthetic renders of a checkerboard with a known thermal->RGB map."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from rgbt_tracking.alignment.calibration_file import CalibrationError
from rgbt_tracking.alignment.target import PatternSpec, calibrate_target, detect_pattern
from rgbt_tracking.alignment.warp import plane_induced_homography

RGB_SIZE = (1280, 1024)
THERMAL_SIZE = (640, 512)
SQUARE_PX = 48  # texture pixels per square
MARGIN = 1  # white squares around the board
PATTERN = PatternSpec("checkerboard", columns=9, rows=6, square_size_m=0.05)


def _texture(pattern: PatternSpec) -> np.ndarray:
    """Board texture (uint8, 0 = black, 255 = white) with a white margin."""
    cols, rows = pattern.columns + 1, pattern.rows + 1
    tex = np.full(((rows + 2 * MARGIN) * SQUARE_PX, (cols + 2 * MARGIN) * SQUARE_PX), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                y, x = (r + MARGIN) * SQUARE_PX, (c + MARGIN) * SQUARE_PX
                tex[y:y + SQUARE_PX, x:x + SQUARE_PX] = 0
    return tex


def _board_to_texture(pattern: PatternSpec) -> np.ndarray:
    """Board metres (X, Y, 1), origin at the first inner corner -> texture pixel centres."""
    s = SQUARE_PX / pattern.square_size_m
    o = (MARGIN + 1) * SQUARE_PX - 0.5
    return np.array([[s, 0, o], [0, s, o], [0, 0, 1.0]])


def _render(tex: np.ndarray, H_tex_to_img: np.ndarray, size: tuple[int, int], ss: int = 2) -> np.ndarray:
    """Anti-aliased perspective render (supersampled by ``ss``), background grey 128."""
    S = np.array([[ss, 0, (ss - 1) / 2], [0, ss, (ss - 1) / 2], [0, 0, 1.0]])
    big = cv2.warpPerspective(tex, S @ H_tex_to_img, (size[0] * ss, size[1] * ss), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=128)
    return cv2.resize(big, size, interpolation=cv2.INTER_AREA)


def _thermal_look(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blurred, inverted (black squares warm), low contrast, noisy uint16 thermal image."""
    blurred = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.5)
    warm = 255.0 - blurred
    raw = 29000 + 6.0 * warm + rng.normal(0, 12.0, warm.shape)
    return np.clip(raw, 0, 65535).astype(np.uint16)


def _true_homography() -> np.ndarray:
    theta = np.deg2rad(1.5)
    return np.array([[2.0 * np.cos(theta), -2.0 * np.sin(theta), 18.0],
                     [2.0 * np.sin(theta), 2.0 * np.cos(theta), -12.0],
                     [1.5e-5, -1.0e-5, 1.0]])


# board outlines in the RGB image (top-left, top-right, bottom-right, bottom-left of the inner grid)
QUADS = [
    [(300, 250), (900, 270), (880, 680), (320, 660)],
    [(200, 200), (700, 180), (760, 560), (180, 600)],
    [(550, 420), (1100, 470), (1040, 860), (520, 820)],
    [(350, 300), (820, 240), (900, 700), (300, 760)],
    [(420, 380), (960, 330), (1000, 760), (380, 820)],
]


def _pairs(rng: np.random.Generator, H_true: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    tex = _texture(PATTERN)
    B = _board_to_texture(PATTERN)
    w_m, h_m = (PATTERN.columns - 1) * PATTERN.square_size_m, (PATTERN.rows - 1) * PATTERN.square_size_m
    grid_board = np.float32([[0, 0], [w_m, 0], [w_m, h_m], [0, h_m]])
    pairs = []
    for quad in QUADS:
        board_to_rgb = cv2.getPerspectiveTransform(grid_board, np.float32(quad)).astype(np.float64)
        tex_to_rgb = board_to_rgb @ np.linalg.inv(B)
        rgb_gray = _render(tex, tex_to_rgb, RGB_SIZE)
        rgb = np.dstack([rgb_gray, rgb_gray, rgb_gray]).astype(np.float32) * [1.0, 0.9, 0.8]
        rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
        thermal_gray = _render(tex, np.linalg.inv(H_true) @ tex_to_rgb, THERMAL_SIZE)
        pairs.append((rgb, _thermal_look(thermal_gray, rng)))
    return pairs


@pytest.fixture(scope="module")
def scene() -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    H_true = _true_homography()
    return _pairs(np.random.default_rng(0), H_true), H_true


def _corner_error(H: np.ndarray, H_true: np.ndarray) -> float:
    w, h = THERMAL_SIZE
    c = np.float64([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]).reshape(-1, 1, 2)
    return float(np.linalg.norm(cv2.perspectiveTransform(c, H) - cv2.perspectiveTransform(c, H_true), axis=2).mean())


def test_detects_inverted_thermal(scene) -> None:
    pairs, _ = scene
    rgb_pts, rgb_reason = detect_pattern(pairs[0][0], PATTERN, "rgb")
    th_pts, th_reason = detect_pattern(pairs[0][1], PATTERN, "thermal")
    assert rgb_pts is not None and rgb_pts.shape == (54, 2), rgb_reason
    assert th_pts is not None and th_pts.shape == (54, 2), th_reason
    # canonical order: first point top-left, columns run right
    assert rgb_pts[1, 0] > rgb_pts[0, 0] and th_pts[1, 0] > th_pts[0, 0]
    assert rgb_pts[9, 1] > rgb_pts[0, 1]


def test_homography_recovered(scene) -> None:
    pairs, H_true = scene
    start = time.perf_counter()
    cal, report = calibrate_target(pairs, PATTERN)
    elapsed = time.perf_counter() - start
    assert cal.model == "homography" and cal.method == "target"
    assert cal.rgb_size == RGB_SIZE and cal.thermal_size == THERMAL_SIZE
    assert all(r["found_rgb"] and r["found_thermal"] for r in report)
    assert cal.error_px < 0.5, cal.error_px
    assert _corner_error(cal.homography, H_true) < 1.0
    print(f"homography: rms {cal.error_px:.3f} px, corner error {_corner_error(cal.homography, H_true):.3f} px, "
          f"{elapsed:.2f} s for {len(pairs)} pairs")


def test_affine_model(scene) -> None:
    pairs, H_true = scene
    H_affine = H_true.copy()
    H_affine[2] = [0, 0, 1]
    rng = np.random.default_rng(1)
    affine_pairs = _pairs(rng, H_affine)[:3]
    cal, _ = calibrate_target(affine_pairs, PATTERN, model="affine")
    assert cal.model == "affine" and np.allclose(cal.homography[2], [0, 0, 1])
    assert cal.error_px < 0.5 and _corner_error(cal.homography, H_affine) < 1.0


def test_missing_thermal_board_reported_and_skipped(scene) -> None:
    pairs, H_true = scene
    rng = np.random.default_rng(2)
    blank = np.clip(29000 + rng.normal(0, 12.0, (THERMAL_SIZE[1], THERMAL_SIZE[0])), 0, 65535).astype(np.uint16)
    cal, report = calibrate_target([pairs[0], (pairs[1][0], blank), pairs[2]], PATTERN)
    assert report[1]["found_rgb"] and not report[1]["found_thermal"]
    assert "thermal" in report[1]["reason"] and report[1]["error_px"] is None
    assert report[0]["error_px"] is not None and cal.extra["pairs_used"] == 2
    assert _corner_error(cal.homography, H_true) < 1.0


def test_all_pairs_unusable() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (RGB_SIZE[1], RGB_SIZE[0], 3), dtype=np.uint8)
    thermal = np.full((THERMAL_SIZE[1], THERMAL_SIZE[0]), 30000, np.uint16)
    with pytest.raises(CalibrationError, match="no pair") as info:
        calibrate_target([(rgb, thermal)], PATTERN)
    assert "no contrast" in str(info.value)


def test_error_limit_refuses(scene) -> None:
    pairs, _ = scene
    with pytest.raises(CalibrationError, match="exceeds the limit"):
        calibrate_target(pairs[:2], PATTERN, max_error_px=0.001)


def test_stereo_recovers_extrinsics() -> None:
    rng = np.random.default_rng(4)
    K_rgb = np.array([[1100.0, 0, 640], [0, 1100, 512], [0, 0, 1]])
    K_th = np.array([[560.0, 0, 320], [0, 560, 256], [0, 0, 1]])
    R_true = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))[0]
    T_true = np.array([0.12, -0.03, 0.01])  # thermal -> RGB, metres
    tex = _texture(PATTERN)
    B = _board_to_texture(PATTERN)
    poses = [([0.1, 0.2, 0.0], [-0.2, -0.1, 1.4]), ([-0.3, 0.1, 0.1], [-0.25, -0.15, 1.6]),
             ([0.2, -0.3, -0.1], [-0.15, -0.12, 1.3]), ([-0.1, -0.2, 0.05], [-0.2, -0.05, 1.8]),
             ([0.35, 0.0, 0.0], [-0.22, -0.14, 1.5])]
    pairs = []
    for rvec, tvec in poses:
        R_b = cv2.Rodrigues(np.array(rvec))[0]  # board -> thermal camera
        t_b = np.array(tvec)
        board_to_th = K_th @ np.column_stack([R_b[:, 0], R_b[:, 1], t_b])
        board_to_rgb = K_rgb @ np.column_stack([(R_true @ R_b)[:, 0], (R_true @ R_b)[:, 1], R_true @ t_b + T_true])
        rgb = _render(tex, board_to_rgb @ np.linalg.inv(B), RGB_SIZE)
        thermal = _thermal_look(_render(tex, board_to_th @ np.linalg.inv(B), THERMAL_SIZE), rng)
        pairs.append((rgb, thermal))
    intrinsics = {"K_rgb": K_rgb, "dist_rgb": np.zeros(5), "K_thermal": K_th, "dist_thermal": np.zeros(5)}
    with pytest.raises(CalibrationError, match="working_distance_m"):
        calibrate_target(pairs, PATTERN, model="stereo", intrinsics=intrinsics)
    cal, report = calibrate_target(pairs, PATTERN, model="stereo", intrinsics=intrinsics, working_distance_m=10.0)
    assert all(r["found_rgb"] and r["found_thermal"] for r in report)
    assert cal.model == "stereo" and cal.error_px < 0.5
    np.testing.assert_allclose(cal.stereo["T"], T_true, atol=0.01)
    angle = np.linalg.norm(cv2.Rodrigues(cal.stereo["R"] @ R_true.T)[0])
    assert np.rad2deg(angle) < 0.1
    H_true = plane_induced_homography(K_rgb, K_th, R_true, T_true, 10.0)
    # extrapolated from boards at 1.3-1.8 m to 10 m: rotation error dominates (measured 0.83 px)
    assert _corner_error(cal.homography, H_true) < 1.5
    print(f"stereo: rms {cal.error_px:.3f} px, |dT| {np.linalg.norm(cal.stereo['T'] - T_true) * 1000:.2f} mm, "
          f"dR {np.rad2deg(angle):.4f} deg, plane-H corner error {_corner_error(cal.homography, H_true):.3f} px")


def test_circle_grid(scene) -> None:
    _, H_true = scene
    pattern = PatternSpec("circles", columns=7, rows=5, square_size_m=0.04)
    spacing, margin = 64, 64
    tex = np.full((2 * margin + (pattern.rows - 1) * spacing, 2 * margin + (pattern.columns - 1) * spacing), 255, np.uint8)
    for r in range(pattern.rows):
        for c in range(pattern.columns):
            cv2.circle(tex, (margin + c * spacing, margin + r * spacing), 20, 0, -1, lineType=cv2.LINE_AA)
    tex_grid = np.float32([[margin, margin], [margin + 6 * spacing, margin], [margin + 6 * spacing, margin + 4 * spacing],
                           [margin, margin + 4 * spacing]])
    rng = np.random.default_rng(5)
    pairs = []
    for quad in ([(350, 300), (850, 320), (830, 660), (360, 640)], [(300, 280), (760, 240), (800, 600), (280, 640)]):
        tex_to_rgb = cv2.getPerspectiveTransform(tex_grid, np.float32(quad)).astype(np.float64)
        rgb = _render(tex, tex_to_rgb, RGB_SIZE)
        thermal = _thermal_look(_render(tex, np.linalg.inv(H_true) @ tex_to_rgb, THERMAL_SIZE), rng)  # warm dots
        pairs.append((rgb, thermal))
    cal, report = calibrate_target(pairs, pattern)
    assert all(r["found_rgb"] and r["found_thermal"] for r in report), report
    assert cal.error_px < 0.5 and _corner_error(cal.homography, H_true) < 1.0
    print(f"circles: rms {cal.error_px:.3f} px, corner error {_corner_error(cal.homography, H_true):.3f} px")


def test_calibrate_command_writes_the_map_or_nothing(scene, tmp_path, capsys) -> None:
    """`rgbt-track calibrate --method target` on folders of image files."""
    from rgbt_tracking.alignment.calibration_file import load_calibration
    from rgbt_tracking.cli import main

    pairs, H_true = scene
    (tmp_path / "rgb").mkdir()
    (tmp_path / "ir").mkdir()
    for index, (rgb, thermal) in enumerate(pairs[:3]):
        cv2.imwrite(str(tmp_path / "rgb" / f"{index:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / "ir" / f"{index:03d}.png"), thermal)   # 16-bit PNG
    out = tmp_path / "thermal_to_rgb.yaml"
    pattern = f"{PATTERN.kind}:{PATTERN.columns}x{PATTERN.rows}:{PATTERN.square_size_m}"
    args = ["calibrate", "--method", "target", "--rgb", str(tmp_path / "rgb"), "--thermal",
            str(tmp_path / "ir"), "--pattern", pattern, "--out", str(out)]
    assert main(args) == 0
    calibration = load_calibration(out)
    assert calibration.model == "homography" and calibration.error_px < 0.5
    assert _corner_error(calibration.homography, H_true) < 1.0
    assert "found" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="exists"):
        main(args)
    # Thermal images without the board: no trustworthy map -> non-zero exit, nothing written.
    (tmp_path / "blank").mkdir()
    for index in range(3):
        cv2.imwrite(str(tmp_path / "blank" / f"{index:03d}.png"),
                    np.full(THERMAL_SIZE[::-1], 30000, np.uint16))
    refused = tmp_path / "refused.yaml"
    assert main(["calibrate", "--method", "target", "--rgb", str(tmp_path / "rgb"), "--thermal",
                 str(tmp_path / "blank"), "--pattern", pattern, "--out", str(refused)]) == 3
    assert not refused.exists() and "nothing written" in capsys.readouterr().err
