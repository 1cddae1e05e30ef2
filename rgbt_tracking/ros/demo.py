"""``rgbt-track demo``: RGB-T tracking through real ROS 2 nodes on the embedded sequence.

1. Generate the procedural RGB-T sequence (``rgbt_tracking.data.synthetic``) and write it
   as a ROS 2 bag (mcap) with its ground truth.
2. Replay the bag at its recorded rate into ``tracker_node`` running in a second process
   (``rgbt_tracking.ros.bag_evaluation``), after ``~/init`` with the first frame's box.
3. Score the recorded detections against the ground truth, run the same tracker on one
   modality at a time through the Python API for comparison, and write: per-frame results
   (benchmark text format), ``metrics.json``, ``success_precision.png`` and an annotated
   side-by-side ``tracking.gif``.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from rgbt_tracking.api import build_tracker
from rgbt_tracking.data.bag_io import DEFAULT_RGB_TOPIC, DEFAULT_THERMAL_TOPIC, write_rgbt_bag
from rgbt_tracking.data.synthetic import SyntheticConfig, SyntheticSequence, generate_sequence
from rgbt_tracking.eval.metrics import evaluate_sequence
from rgbt_tracking.eval.plots import plot_success_precision, write_annotated_video
from rgbt_tracking.eval.results import write_results
from rgbt_tracking.ros.bag_evaluation import (
    BagFrames,
    ReplayOutcome,
    per_frame_boxes,
    replay_into_node,
)
from rgbt_tracking.ros.environment import configure_transport

BAG_START_NS = 1_000_000_000
RGB_TOPIC = DEFAULT_RGB_TOPIC
THERMAL_TOPIC = DEFAULT_THERMAL_TOPIC


def unused_output_dir(requested: Path, overwrite: bool) -> Path:
    """``requested`` if it is free (or ``overwrite``), else the first free ``requested-N``.

    Nothing a user ran before is overwritten unless asked.
    """
    if overwrite or not requested.exists() or not any(requested.iterdir()):
        return requested
    index = 2
    while True:
        candidate = requested.with_name(f"{requested.name}-{index}")
        if not candidate.exists():
            return candidate
        index += 1


def run_offline(sequence: SyntheticSequence, tracker: str, modalities: str,
                **overrides: Any) -> Tuple[np.ndarray, List[str]]:
    """Track the sequence through the Python API with one or both modalities.

    Returns:
        (N, 4) boxes (frame 0 = the initial box) and the per-frame states.
    """
    model = build_tracker(tracker, **overrides)
    use_rgb = modalities in ("rgb_thermal", "rgb")
    use_thermal = modalities in ("rgb_thermal", "thermal")
    boxes = [tuple(sequence.boxes[0])]
    states = ["tracking"]
    model.initialize(sequence.rgb[0] if use_rgb else None,
                     sequence.thermal[0] if use_thermal else None, sequence.boxes[0])
    for index in range(1, len(sequence.boxes)):
        result = model.track(sequence.rgb[index] if use_rgb else None,
                             sequence.thermal[index] if use_thermal else None)
        boxes.append(result.box)
        states.append(result.state)
    return np.asarray(boxes, dtype=np.float64), states


def run_demo(out_dir: Path, num_frames: int = 300, seed: int = 0, tracker: str = "dcf",
             fusion: str = "response", overwrite: bool = False,
             startup_timeout: float = 60.0) -> Dict[str, Any]:
    """Run the whole demo; returns the metrics dictionary written to ``metrics.json``."""
    configure_transport()
    build_tracker(tracker, fusion=fusion)  # a bad name fails here, not in the child process
    out_dir = unused_output_dir(Path(out_dir), overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[demo] output folder: {out_dir}")

    started = time.monotonic()
    sequence = generate_sequence(SyntheticConfig(num_frames=num_frames, seed=seed))
    # Stamps start at 1 s: a zero stamp on ~/init means "the next pair" (vision_msgs default).
    stamps_ns = [BAG_START_NS + int(round(s * 1e9)) for s in sequence.stamps]
    bag_path = out_dir / "input_bag"
    if overwrite:
        for previous in (bag_path, out_dir / "detections_bag"):
            if previous.exists():
                shutil.rmtree(previous)
    write_rgbt_bag(bag_path, zip(stamps_ns, sequence.rgb, sequence.thermal),
                   rgb_topic=RGB_TOPIC, thermal_topic=THERMAL_TOPIC,
                   ground_truth=list(sequence.boxes))
    print(f"[demo] generated {len(stamps_ns)} RGB-T frames "
          f"({sequence.rgb[0].shape[1]}x{sequence.rgb[0].shape[0]}) and wrote {bag_path} "
          f"in {time.monotonic() - started:.1f} s")
    # write_rgbt_bag records each frame at its header stamp.
    frames = BagFrames(stamps_ns, {s: s for s in stamps_ns},
                       {s: tuple(b) for s, b in zip(stamps_ns, sequence.boxes)})
    outcome = replay_into_node(
        bag_path, out_dir, frames, sequence.boxes[0], RGB_TOPIC, THERMAL_TOPIC,
        node_parameters={"tracker": tracker, "tracker_params": f"{{fusion: {fusion}}}"},
        startup_timeout=startup_timeout, log=lambda text: print(f"[demo] {text}"))
    diagnostics = outcome.diagnostics
    if diagnostics:
        print(f"[demo] tracker_node: {diagnostics.get('frames_tracked')} pairs tracked, "
              f"{diagnostics.get('pairs_skipped_busy')} skipped while busy, "
              f"{diagnostics.get('track_time_ms')} ms per frame")
    print(f"[demo] node log: {out_dir / 'node.log'}")
    return _score_and_report(out_dir, sequence, frames, outcome, tracker, fusion)


def _score_and_report(out_dir: Path, sequence: SyntheticSequence, frames: BagFrames,
                      outcome: ReplayOutcome, tracker: str, fusion: str) -> Dict[str, Any]:
    gt = np.asarray(sequence.boxes, dtype=np.float64)
    node_boxes, states, skipped = per_frame_boxes(frames, outcome, gt[0])
    runs = {f"{tracker} {fusion} RGB+T (ROS node)": node_boxes}
    for modalities, label in (("rgb", "RGB only"), ("thermal", "thermal only")):
        boxes, _ = run_offline(sequence, tracker, modalities, fusion=fusion)
        runs[f"{tracker} {label} (Python API)"] = boxes
    latencies = outcome.latencies()
    metrics: Dict[str, Any] = {
        "sequence": {"frames": len(gt), "seed": sequence.config.seed,
                     "events": {k: list(v) for k, v in sequence.events.items()}},
        "node_frames_without_detection": skipped,
        "node_init_hold_s": outcome.init_seconds,
        "node_latency_ms": ({"median": float(np.median(latencies) * 1e3),
                             "p95": float(np.percentile(latencies, 95) * 1e3)}
                            if latencies.size else None),
        "node_diagnostics": outcome.diagnostics, "runs": {}}
    for name, boxes in runs.items():
        metrics["runs"][name] = evaluate_sequence(boxes, gt)
    write_results(out_dir / "results_node.txt", node_boxes)
    for name, boxes in runs.items():
        if "Python API" in name:
            slug = "rgb_only" if "RGB only" in name else "thermal_only"
            write_results(out_dir / f"results_{slug}.txt", boxes)
    with (out_dir / "metrics.json").open("w") as handle:
        json.dump(metrics, handle, indent=2)
    plot_success_precision(metrics["runs"], out_dir / "success_precision.png")
    display_states = ["lost" if s == "skipped" else s for s in states]
    write_annotated_video(sequence.rgb, sequence.thermal, node_boxes, gt,
                          out_dir / "tracking.gif", fps=sequence.config.fps,
                          states=display_states)
    print("\n[demo] results on the embedded sequence (success AUC / precision@20px):")
    for name, values in metrics["runs"].items():
        print(f"  {name:42s} {values['success_auc']:.3f} / {values['precision_20']:.3f}")
    if metrics["node_latency_ms"]:
        print(f"[demo] node latency, publish to detection: median "
              f"{metrics['node_latency_ms']['median']:.1f} ms, p95 "
              f"{metrics['node_latency_ms']['p95']:.1f} ms")
    print(f"\n[demo] wrote {out_dir}/: results_node.txt, metrics.json, success_precision.png, "
          "tracking.gif, input_bag/, detections_bag/, node.log")
    return metrics
