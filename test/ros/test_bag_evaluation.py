"""`rgbt-track bag eval`: a bag with ground truth replayed into the live node scores like the
tracker run directly on the same frames, up to the pairs the node skipped (reported)."""
from __future__ import annotations

import json

import numpy as np

from rgbt_tracking.cli import main
from rgbt_tracking.data.bag_io import read_bag_messages, write_rgbt_bag
from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence
from rgbt_tracking.eval.metrics import evaluate_sequence
from rgbt_tracking.eval.results import read_results
from rgbt_tracking.ros.demo import run_offline


def test_bag_replay_scores_like_the_direct_run(tmp_path, capsys):
    sequence = generate_sequence(SyntheticConfig(num_frames=90, seed=5))
    stamps = [1_000_000_000 + int(round(s * 1e9)) for s in sequence.stamps]
    truth = [None if i % 7 == 3 else box for i, box in enumerate(sequence.boxes)]  # gaps
    bag = tmp_path / "flight"
    write_rgbt_bag(bag, zip(stamps, sequence.rgb, sequence.thermal), ground_truth=truth)
    gt_messages = list(read_bag_messages(bag, ["/ground_truth"]))
    assert len(gt_messages) == sum(t is not None for t in truth)

    out = tmp_path / "eval"
    assert main(["bag", "eval", "--bag", str(bag), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "success AUC" in printed and "pairs skipped by the node" in printed
    report = json.loads((out / "report.json").read_text())
    node_boxes = read_results(out / "results.txt")
    assert node_boxes.shape == (90, 4)
    assert report["accuracy"]["num_frames"] == sum(t is not None for t in truth)
    assert report["latency_ms"]["median"] > 0
    assert 0.0 <= report["init_hold_s"] < 30.0   # the playback waited for the initialisation

    direct, _ = run_offline(sequence, "dcf", "rgb_thermal")
    gt = np.array([t if t is not None else (np.nan,) * 4 for t in truth], dtype=np.float64)
    direct_auc = evaluate_sequence(direct, gt)["success_auc"]
    node_auc = report["accuracy"]["success_auc"]
    # Same tracker, same frames: the difference is bounded by what the node skipped.
    assert abs(node_auc - direct_auc) <= 0.02 + report["skipped_share"], (node_auc, direct_auc,
                                                                           report)
    if report["frames_skipped"] == 0 and report["frames_lost"] == 0:
        assert np.allclose(node_boxes, direct, atol=1e-3)


def test_bag_without_ground_truth_needs_an_init_box(tmp_path):
    rng = np.random.default_rng(0)
    frames = [(10**9 + i * 33_333_333, rng.integers(0, 255, (64, 80, 3), np.uint8),
               rng.integers(0, 255, (64, 80), np.uint8)) for i in range(3)]
    write_rgbt_bag(tmp_path / "bag", frames)
    try:
        main(["bag", "eval", "--bag", str(tmp_path / "bag"), "--out", str(tmp_path / "o")])
    except SystemExit as exc:
        assert "--init" in str(exc)
    else:
        raise AssertionError("a bag without ground truth and no --init must be refused")


def test_bag_from_sequence_writes_images_and_ground_truth_at_the_frame_rate(tmp_path, capsys):
    from rgbt_tracking.data.bag_io import read_image_topic
    from rgbt_tracking.data.synthetic import save_sequence

    sequence = generate_sequence(SyntheticConfig(num_frames=50, seed=6, width=256, height=160,
                                                 target_size=(32, 20)))
    save_sequence(sequence, tmp_path / "seq")
    bag = tmp_path / "bag"
    assert main(["bag", "from-sequence", "--dataset", "rgbt234", str(tmp_path / "seq"),
                 "--out", str(bag), "--fps", "25"]) == 0
    images = list(read_image_topic(bag, "/camera/rgb/image"))
    assert len(images) == 50
    assert np.array_equal(images[7].image.shape, (160, 256, 3))
    steps = np.diff([image.stamp_ns for image in images])
    assert np.all(steps == 40_000_000)
    truth = [m for _, _, m in read_bag_messages(bag, ["/ground_truth"])]
    assert len(truth) == 50
    centre = truth[9].bbox.center.position
    x, y, w, h = sequence.boxes[9]
    assert abs(centre.x - (x + w / 2)) < 0.01 and abs(truth[9].bbox.size_y - h) < 0.01
    # Nothing recorded is overwritten without being asked.
    assert main(["bag", "from-sequence", "--dataset", "rgbt234", str(tmp_path / "seq"),
                 "--out", str(bag)]) == 2
    assert "exists" in capsys.readouterr().err


class _Detections:
    def __init__(self) -> None:
        self.detections = {}


def test_init_hold_waits_for_the_first_detection_once():
    import threading
    import time

    from rgbt_tracking.ros.bag_evaluation import BagFrames, _InitHold

    records = [1_000_000_000 + i * 33_000_000 for i in range(5)]
    frames = BagFrames(list(records), {r: r for r in records}, {})
    collector, logged = _Detections(), []
    hold = _InitHold(frames, records, collector, timeout=5.0, log=logged.append,
                     reference_topic="/rgb")
    # the first pair goes out whatever its spacing: the thermal image 20 ms after the RGB one,
    # even the next thermal image before the next RGB one
    assert hold("/rgb", records[0]) == 0.0 and hold("/thermal", records[0] + 20_000_000) == 0.0
    assert hold("/thermal", records[1] - 1_000_000) == 0.0
    threading.Timer(0.3, lambda: collector.detections.setdefault(records[0], None)).start()
    held = hold("/rgb", records[1])
    assert 0.25 <= held < 3.0 and hold.held_seconds == held
    assert hold("/rgb", records[2]) == 0.0          # only once
    assert "initialised" in logged[0]

    late = _InitHold(frames, records, _Detections(), timeout=0.2, log=logged.append,
                     reference_topic="/rgb")
    started = time.monotonic()
    assert late("/rgb", records[1]) >= 0.2 and time.monotonic() - started < 2.0
    assert "no detections" in logged[-1]
