"""`rgbt-track demo` end to end on a shortened embedded sequence: bag written, node graph in a
second process, replay, recorded detections, scores and files."""
from __future__ import annotations

import json

from rgbt_tracking.ros.demo import run_demo, unused_output_dir


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    metrics = run_demo(out, num_frames=150, seed=3)
    for name in ("results_node.txt", "results_rgb_only.txt", "results_thermal_only.txt",
                 "metrics.json", "success_precision.png", "tracking.gif", "node.log"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "input_bag").is_dir() and (out / "detections_bag").is_dir()
    assert len((out / "results_node.txt").read_text().splitlines()) == 150
    stored = json.loads((out / "metrics.json").read_text())
    runs = stored["runs"]
    node = next(v for k, v in runs.items() if "ROS node" in k)
    rgb_only = next(v for k, v in runs.items() if "RGB only" in k)
    thermal_only = next(v for k, v in runs.items() if "thermal only" in k)
    assert node["success_auc"] >= 0.6, runs
    assert rgb_only["success_auc"] < node["success_auc"]
    assert thermal_only["success_auc"] < node["success_auc"]
    assert stored["node_frames_without_detection"] < 75
    assert metrics["runs"].keys() == runs.keys()


def test_output_folder_is_never_reused_without_asking(tmp_path):
    first = tmp_path / "demo"
    assert unused_output_dir(first, overwrite=False) == first
    first.mkdir()
    (first / "metrics.json").write_text("{}")
    assert unused_output_dir(first, overwrite=False) == tmp_path / "demo-2"
    assert unused_output_dir(first, overwrite=True) == first
