"""Success / precision plots and annotated videos are written as promised."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rgbt_tracking.eval.metrics import evaluate_sequence
from rgbt_tracking.eval.plots import GT_COLOUR, plot_success_precision, write_annotated_video

H, W = 48, 64


def _frames(n: int):
    rng = np.random.default_rng(0)
    rgb = [rng.integers(0, 120, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    thermal = [rng.integers(0, 120, (H, W), dtype=np.uint8) for _ in range(n)]
    gt = [(4.0 + i, 6.0, 16.0, 12.0) for i in range(n)]
    pred = [(30.0, 25.0 + i % 3, 16.0, 12.0) for i in range(n)]
    return rgb, thermal, pred, gt


def test_plot_success_precision_writes_a_1000x400_png(tmp_path):
    gt = np.tile([50.0, 50.0, 40.0, 30.0], (20, 1))
    results = {"fused": evaluate_sequence(gt + 2, gt), "rgb": evaluate_sequence(gt + 15, gt)}
    path = plot_success_precision(results, tmp_path / "plots" / "ope.png", title="test")
    assert path.stat().st_size > 10_000
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (1000, 400)


def test_plot_rejects_incomplete_results(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        plot_success_precision({"x": {"success_auc": 0.5}}, tmp_path / "p.png")
    with pytest.raises(ValueError, match="at least one"):
        plot_success_precision({}, tmp_path / "p.png")


def test_gif_has_every_second_frame_and_exact_box_colours(tmp_path):
    rgb, thermal, pred, gt = _frames(9)
    states = ["tracking", "uncertain", "lost"] * 3
    path = tmp_path / "v.gif"
    written = write_annotated_video(iter(rgb), iter(thermal), iter(pred), iter(gt), path,
                                    fps=10, states=iter(states), panel_width=W)
    assert written == 5                       # frames 0, 2, 4, 6, 8
    with Image.open(path) as im:
        assert im.n_frames == 5
        assert im.size == (2 * W, H)
        im.seek(2)                            # input frame 4
        frame = np.asarray(im.convert("RGB"))
    # Ground truth of frame 4 is (8, 6, 16, 12): its top edge is green in both panels.
    assert tuple(frame[6, 14]) == GT_COLOUR
    assert tuple(frame[6, W + 14]) == GT_COLOUR


def test_gif_every_frame_with_uint16_thermal_and_missing_boxes(tmp_path):
    rgb, thermal, pred, gt = _frames(4)
    thermal16 = [t.astype(np.uint16) * 200 for t in thermal]
    pred[1] = None
    gt[2] = (np.nan, np.nan, np.nan, np.nan)
    path = tmp_path / "all.gif"
    assert write_annotated_video(rgb, thermal16, pred, gt, path, fps=30, frame_step=1,
                                 panel_width=2 * W) == 4
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.size == (4 * W, 2 * H)


def test_mp4_is_written(tmp_path):
    import cv2

    rgb, thermal, pred, gt = _frames(6)
    path = tmp_path / "v.mp4"
    assert write_annotated_video(rgb, thermal, pred, gt, path, fps=30) == 6
    assert path.stat().st_size > 0
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 2 * W
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    finally:
        cap.release()


def test_video_input_errors(tmp_path):
    rgb, thermal, pred, gt = _frames(4)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        write_annotated_video(rgb, thermal, pred, gt, tmp_path / "v.avi", fps=30)
    path = tmp_path / "short.gif"
    with pytest.raises(ValueError, match="pred_boxes ended after 3"):
        write_annotated_video(rgb, thermal, pred[:3], gt, path, fps=30, frame_step=1)
    assert not path.exists()
    with pytest.raises(ValueError, match="no frames"):
        write_annotated_video([], [], [], None, tmp_path / "empty.gif", fps=30)
