"""``rgbt-track demo``: RGB-T tracking through real ROS 2 nodes on the embedded sequence.

1. Generate the procedural RGB-T sequence (``rgbt_tracking.data.synthetic``) and write it
   as a ROS 2 bag (mcap).
2. Start the node graph in a second process (``rgbt-track launch``: tracker_node with the
   package's parameter file) and wait until it is discovered.
3. Send ``~/init`` with the first frame's stamp and box, replay the bag at its recorded
   rate, and record ``~/detections`` into a second bag.
4. Score the recorded detections against the ground truth, run the same tracker on one
   modality at a time through the Python API for comparison, and write: per-frame results
   (benchmark text format), ``metrics.json``, ``success_precision.png`` and an annotated
   side-by-side ``tracking.gif``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from rgbt_tracking.api import build_tracker
from rgbt_tracking.data.bag_io import DEFAULT_RGB_TOPIC, DEFAULT_THERMAL_TOPIC, write_rgbt_bag
from rgbt_tracking.data.synthetic import SyntheticConfig, SyntheticSequence, generate_sequence
from rgbt_tracking.eval.metrics import evaluate_sequence
from rgbt_tracking.eval.plots import plot_success_precision, write_annotated_video
from rgbt_tracking.eval.results import fill_missing_frames, write_results
from rgbt_tracking.ros.environment import configure_transport, subprocess_env

RGB_TOPIC = DEFAULT_RGB_TOPIC
THERMAL_TOPIC = DEFAULT_THERMAL_TOPIC
DETECTIONS_TOPIC = "/tracker_node/detections"
INIT_TOPIC = "/tracker_node/init"


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


class _DetectionCollector:
    """Subscribes ``~/detections`` and keeps (stamp ns -> box, score, state)."""

    def __init__(self, node: Any) -> None:
        from vision_msgs.msg import Detection2DArray

        from rgbt_tracking.ros.detection_messages import detection_box, stamp_to_nanoseconds

        self._detection_box = detection_box
        self._stamp = stamp_to_nanoseconds
        self.by_stamp: Dict[int, Tuple[Optional[Tuple[float, ...]], float]] = {}
        self.received = threading.Event()
        self.last_arrival: Dict[int, float] = {}
        node.create_subscription(Detection2DArray, DETECTIONS_TOPIC, self._on_detections, 50)
        from diagnostic_msgs.msg import DiagnosticArray

        self.diagnostics: Dict[str, str] = {}
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith("tracker_node"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def _on_detections(self, msg: Any) -> None:
        stamp = self._stamp(msg.header.stamp)
        if msg.detections:
            box, score = self._detection_box(msg.detections[0])
            self.by_stamp[stamp] = (box, score)
        else:
            self.by_stamp[stamp] = (None, 0.0)
        self.last_arrival[stamp] = time.monotonic()
        self.received.set()


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
    stamps_ns = [int(round(s * 1e9)) for s in sequence.stamps]
    bag_path = out_dir / "input_bag"
    if overwrite:
        import shutil

        for previous in (bag_path, out_dir / "detections_bag"):
            if previous.exists():
                shutil.rmtree(previous)
    write_rgbt_bag(bag_path, zip(stamps_ns, sequence.rgb, sequence.thermal),
                   rgb_topic=RGB_TOPIC, thermal_topic=THERMAL_TOPIC)
    print(f"[demo] generated {len(stamps_ns)} RGB-T frames "
          f"({sequence.rgb[0].shape[1]}x{sequence.rgb[0].shape[0]}) and wrote {bag_path} "
          f"in {time.monotonic() - started:.1f} s")

    node_log = out_dir / "node.log"
    command = [sys.executable, "-m", "rgbt_tracking.cli", "launch",
               "-p", f"tracker:={tracker}", "-p", f"tracker_params:={{fusion: {fusion}}}",
               "-r", f"rgb/image:={RGB_TOPIC}", "-r", f"thermal/image:={THERMAL_TOPIC}"]
    with node_log.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=subprocess_env())
        try:
            collected, diagnostics = _replay_and_record(out_dir, sequence, stamps_ns, bag_path,
                                                        process, startup_timeout)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"[demo] node log: {node_log}")
    return _score_and_report(out_dir, sequence, stamps_ns, collected, tracker, fusion,
                             diagnostics)


def _replay_and_record(out_dir: Path, sequence: SyntheticSequence, stamps_ns: Sequence[int],
                       bag_path: Path, process: subprocess.Popen, startup_timeout: float
                       ) -> Tuple[Dict[int, Tuple[Optional[Tuple[float, ...]], float]],
                                  Dict[str, str]]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Detection2D

    from rgbt_tracking.ros.bag_player import BagPlayer, TopicRecorder
    from rgbt_tracking.ros.detection_messages import fill_bbox

    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("rgbt_demo_player", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    recorder = None
    try:
        collector = _DetectionCollector(node)
        recorder = TopicRecorder(node, out_dir / "detections_bag",
                                 {DETECTIONS_TOPIC: "vision_msgs/msg/Detection2DArray"})
        player = BagPlayer(node, bag_path)
        init_pub = node.create_publisher(Detection2D, INIT_TOPIC, 10)
        deadline = time.monotonic() + startup_timeout
        print("[demo] waiting for tracker_node (separate process) to come up ...")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"tracker node exited with code {process.returncode}; "
                                   f"see {out_dir / 'node.log'}")
            if (player.wait_for_subscribers(timeout=0.2) and init_pub.get_subscription_count()
                    and node.count_publishers(DETECTIONS_TOPIC)):
                break
        else:
            raise TimeoutError(f"tracker_node was not discovered within {startup_timeout} s; "
                               f"see {out_dir / 'node.log'}")
        time.sleep(0.5)  # let the matched endpoints finish their handshake
        init = Detection2D()
        init.header.stamp.sec = stamps_ns[0] // 1_000_000_000
        init.header.stamp.nanosec = stamps_ns[0] % 1_000_000_000
        init.header.frame_id = "camera_rgb"
        fill_bbox(init.bbox, tuple(sequence.boxes[0]))
        init_pub.publish(init)
        time.sleep(0.2)
        print(f"[demo] replaying {bag_path.name} at its recorded rate "
              f"({len(stamps_ns) / max(1e-9, (stamps_ns[-1] - stamps_ns[0]) * 1e-9):.0f} Hz) ...")
        replay_started = time.monotonic()
        player.play()
        # Wait for the last frame's detections (or a quiet second).
        last = stamps_ns[-1]
        quiet_deadline = time.monotonic() + 5.0
        while last not in collector.by_stamp and time.monotonic() < quiet_deadline:
            time.sleep(0.05)
        time.sleep(1.2)  # one more diagnostics period
        print(f"[demo] replay took {time.monotonic() - replay_started:.1f} s; "
              f"received detections for {len(collector.by_stamp)} of {len(stamps_ns)} frames")
        diagnostics = collector.diagnostics
        if diagnostics:
            print(f"[demo] tracker_node: {diagnostics.get('frames_tracked')} pairs tracked, "
                  f"{diagnostics.get('pairs_skipped_busy')} skipped while busy, "
                  f"{diagnostics.get('track_time_ms')} ms per frame")
        return dict(collector.by_stamp), diagnostics
    finally:
        if recorder is not None:
            recorder.close()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.shutdown(context=context)


def _score_and_report(out_dir: Path, sequence: SyntheticSequence, stamps_ns: Sequence[int],
                      collected: Dict[int, Tuple[Optional[Tuple[float, ...]], float]],
                      tracker: str, fusion: str, diagnostics: Dict[str, str]
                      ) -> Dict[str, Any]:
    gt = np.asarray(sequence.boxes, dtype=np.float64)
    per_frame: List[Optional[Tuple[float, ...]]] = [tuple(gt[0])]
    states = ["tracking"]
    for stamp in stamps_ns[1:]:
        entry = collected.get(stamp)
        per_frame.append(entry[0] if entry is not None else None)
        states.append("lost" if entry is None or entry[0] is None else "tracking")
    node_boxes, missing = fill_missing_frames(per_frame)
    runs = {f"{tracker} {fusion} RGB+T (ROS node)": node_boxes}
    for modalities, label in (("rgb", "RGB only"), ("thermal", "thermal only")):
        boxes, _ = run_offline(sequence, tracker, modalities, fusion=fusion)
        runs[f"{tracker} {label} (Python API)"] = boxes
    metrics: Dict[str, Any] = {"sequence": {"frames": len(gt), "seed": sequence.config.seed,
                                            "events": {k: list(v) for k, v in
                                                       sequence.events.items()}},
                               "node_frames_without_detection": missing,
                               "node_diagnostics": diagnostics, "runs": {}}
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
    write_annotated_video(sequence.rgb, sequence.thermal, node_boxes, gt,
                          out_dir / "tracking.gif", fps=sequence.config.fps, states=states)
    print("\n[demo] results on the embedded sequence (success AUC / precision@20px):")
    for name, values in metrics["runs"].items():
        print(f"  {name:42s} {values['success_auc']:.3f} / {values['precision_20']:.3f}")
    print(f"\n[demo] wrote {out_dir}/: results_node.txt, metrics.json, success_precision.png, "
          "tracking.gif, input_bag/, detections_bag/, node.log")
    return metrics
