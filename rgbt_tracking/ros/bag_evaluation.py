"""Replay a recorded flight (a ROS 2 bag) into the live tracker node and score what it published.

The node runs in its own process (``rgbt-track launch``), exactly as on the robot; this
process publishes the bag's image topics at the recorded rate (or faster), sends ``~/init``
for the first frame, records ``~/detections`` into a bag, and measures per frame the
latency from publishing the pair to receiving its detections. The node tracks only the
newest complete pair, so on a slow machine some pairs are skipped: they are counted and
their frames hold the previous box when scored (what a user of the node would have had).
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from rgbt_tracking.data.bag_io import (
    DEFAULT_GT_TOPIC,
    DEFAULT_RGB_TOPIC,
    DEFAULT_THERMAL_TOPIC,
    read_bag_messages,
)
from rgbt_tracking.eval.metrics import evaluate_sequence
from rgbt_tracking.eval.results import fill_missing_frames
from rgbt_tracking.ros.detection_messages import detection_box, stamp_to_nanoseconds
from rgbt_tracking.ros.environment import configure_transport, subprocess_env

DETECTIONS_TOPIC = "/tracker_node/detections"
INIT_TOPIC = "/tracker_node/init"


@dataclass
class BagFrames:
    """What a bag holds for scoring.

    Attributes:
        stamps_ns: header stamps of the reference camera's images, in order.
        record_to_stamp: bag recording time -> header stamp, for the reference topic.
        ground_truth: header stamp -> (x, y, w, h), for the frames that have one.
    """

    stamps_ns: List[int]
    record_to_stamp: Dict[int, int]
    ground_truth: Dict[int, Tuple[float, float, float, float]]


@dataclass
class ReplayOutcome:
    """What the node did with a replayed bag.

    Attributes:
        detections: header stamp -> (box or None when lost, score, arrival time s).
        published: header stamp -> wall time (s, monotonic) its reference image was sent.
        diagnostics: the node's last diagnostics key/values.
        init_seconds: how long the playback was held for the node to initialise on the
            first pair (None: not held).
    """

    detections: Dict[int, Tuple[Optional[Tuple[float, ...]], float, float]]
    published: Dict[int, float]
    diagnostics: Dict[str, str] = field(default_factory=dict)
    init_seconds: Optional[float] = None

    def latencies(self) -> np.ndarray:
        """Seconds from publishing a frame to receiving its detections, per frame."""
        return np.array([arrival - self.published[s]
                         for s, (_, _, arrival) in self.detections.items()
                         if s in self.published], dtype=np.float64)


def read_bag_frames(bag: Path | str, reference_topic: str,
                    gt_topic: Optional[str] = DEFAULT_GT_TOPIC) -> BagFrames:
    """Frame stamps of ``reference_topic`` and the ground truth on ``gt_topic`` (if any).

    Raises:
        ValueError: the bag has no message on ``reference_topic``.
    """
    stamps, record_to_stamp, truth = [], {}, {}
    topics = [reference_topic] + ([gt_topic] if gt_topic else [])
    available = {t for t, _, _ in _topics(bag)}
    missing = [t for t in topics if t not in available]
    if reference_topic in missing:
        raise ValueError(f"bag {bag} has no topic {reference_topic}; it has "
                         f"{', '.join(sorted(available))}")
    for topic, record_ns, msg in read_bag_messages(bag, [t for t in topics
                                                         if t in available]):
        stamp = stamp_to_nanoseconds(msg.header.stamp)
        if topic == reference_topic:
            stamps.append(stamp)
            record_to_stamp[record_ns] = stamp
        else:
            box, _ = detection_box(msg)
            truth[stamp] = box
    return BagFrames(sorted(stamps), record_to_stamp, truth)


def _topics(bag: Path | str):
    from rgbt_tracking.ros.bag_player import bag_topics

    return list(bag_topics(bag))


def replay_into_node(bag: Path | str, out_dir: Path, frames: BagFrames,
                     init_box: Sequence[float], rgb_topic: Optional[str] = DEFAULT_RGB_TOPIC,
                     thermal_topic: Optional[str] = DEFAULT_THERMAL_TOPIC,
                     node_parameters: Optional[Dict[str, str]] = None, rate: float = 1.0,
                     startup_timeout: float = 60.0, quiet_timeout: float = 5.0,
                     log: Any = print, hold_for_init: bool = True,
                     init_timeout: float = 30.0) -> ReplayOutcome:
    """Start the node graph in a child process, replay the bag into it and record.

    The first pair is published, then (``hold_for_init``) the playback waits until the node
    has published that pair's detections, i.e. has initialised, and goes on at the recorded
    rate from there. A camera cannot wait, but a slow start would otherwise drop the next
    pairs as "busy" and start tracking 30+ frames later, far from the initial box (seen
    once on a freshly set-up machine: tracking started 1.2 s after the first pair was sent,
    0.1-0.26 s usually, although dcf's initialisation takes 24-58 ms); with the hold, the
    skipped share measures the tracking rate only.

    Args:
        bag: the bag to play.
        out_dir: receives ``node.log`` and ``detections_bag/``.
        frames: from :func:`read_bag_frames` (the reference topic's stamps).
        init_box: the first frame's box (x, y, w, h), sent on ``~/init`` with its stamp.
        rgb_topic, thermal_topic: the bag's image topics; None for a missing camera (the
            node then runs single-modality).
        node_parameters: tracker_node parameters as ``name -> value text``.
        rate: playback speed factor.
        hold_for_init: hold the playback after the first pair until the node has
            initialised (see above); False replays as a live start.
        init_timeout: the longest hold, seconds (then the playback goes on, logged).
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Detection2D

    from rgbt_tracking.ros.bag_player import BagPlayer, TopicRecorder
    from rgbt_tracking.ros.detection_messages import fill_bbox

    configure_transport()
    parameters = dict(node_parameters or {})
    if rgb_topic is None or thermal_topic is None:
        parameters.setdefault("modalities", "thermal" if rgb_topic is None else "rgb")
    command = [sys.executable, "-m", "rgbt_tracking.cli", "launch"]
    for name, value in parameters.items():
        command += ["-p", f"{name}:={value}"]
    if rgb_topic:
        command += ["-r", f"rgb/image:={rgb_topic}"]
    if thermal_topic:
        command += ["-r", f"thermal/image:={thermal_topic}"]
    topics = {t: t for t in (rgb_topic, thermal_topic) if t}
    node_log = out_dir / "node.log"
    with node_log.open("w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=subprocess_env())
        context = rclpy.Context()
        rclpy.init(args=[], context=context)
        node = rclpy.create_node("rgbt_bag_replay", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        recorder = None
        try:
            collector = _Collector(node)
            recorder = TopicRecorder(node, out_dir / "detections_bag",
                                     {DETECTIONS_TOPIC: "vision_msgs/msg/Detection2DArray"})
            player = BagPlayer(node, bag, topics=topics, rate=rate)
            init_pub = node.create_publisher(Detection2D, INIT_TOPIC, 10)
            log("waiting for tracker_node (separate process) to come up ...")
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"tracker node exited with code {process.returncode}; "
                                       f"see {node_log}")
                if (player.wait_for_subscribers(timeout=0.2)
                        and init_pub.get_subscription_count()
                        and node.count_publishers(DETECTIONS_TOPIC)):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"tracker_node was not discovered within "
                                       f"{startup_timeout} s; see {node_log}")
            time.sleep(0.5)  # let the matched endpoints finish their handshake
            init = Detection2D()
            first = frames.stamps_ns[0]
            init.header.stamp.sec, init.header.stamp.nanosec = divmod(first, 1_000_000_000)
            fill_bbox(init.bbox, tuple(float(v) for v in init_box))
            init_pub.publish(init)
            time.sleep(0.2)
            published: Dict[int, float] = {}
            reference = rgb_topic or thermal_topic

            def on_message(topic: str, record_ns: int) -> None:
                if topic == reference and record_ns in frames.record_to_stamp:
                    published[frames.record_to_stamp[record_ns]] = time.monotonic()

            span = max(1e-9, (frames.stamps_ns[-1] - frames.stamps_ns[0]) * 1e-9)
            log(f"replaying {Path(bag).name}: {len(frames.stamps_ns)} frames, "
                f"{len(frames.stamps_ns) / span:.0f} Hz recorded, rate x{rate:g} ...")
            hold = _InitHold(frames, reference_records(frames), collector, init_timeout, log,
                             reference) if hold_for_init else None
            started = time.monotonic()
            player.play(on_message=on_message, before_publish=hold)
            last = frames.stamps_ns[-1]
            quiet = time.monotonic() + quiet_timeout
            while last not in collector.detections and time.monotonic() < quiet:
                time.sleep(0.05)
            time.sleep(1.2)  # one more diagnostics period
            log(f"replay took {time.monotonic() - started:.1f} s; detections for "
                f"{len(collector.detections)} of {len(frames.stamps_ns)} frames")
            return ReplayOutcome(dict(collector.detections), published,
                                 dict(collector.diagnostics),
                                 None if hold is None else hold.held_seconds)
        finally:
            if recorder is not None:
                recorder.close()
            executor.shutdown(timeout_sec=2.0)
            node.destroy_node()
            rclpy.shutdown(context=context)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def reference_records(frames: BagFrames) -> List[int]:
    """Bag recording times of the reference topic's messages, sorted."""
    return sorted(frames.record_to_stamp)


class _InitHold:
    """``BagPlayer.play``'s ``before_publish`` hook: before the reference topic's second
    image, hold the playback until the node has published the first frame's detections
    (its initialisation). Everything recorded before that image (the first pair, whatever
    the order and spacing of the two cameras) is already out.

    ``held_seconds`` includes the node's pairing delay: when the two cameras' stamps
    differ, the synchroniser waits for the next image or for a short silence before it
    releases the first pair.
    """

    def __init__(self, frames: BagFrames, records: List[int], collector: "_Collector",
                 timeout: float, log: Any, reference_topic: str) -> None:
        self.first_stamp = frames.stamps_ns[0]
        self.first_record = records[0] if records else None
        self.reference_topic = reference_topic
        self.collector, self.timeout, self.log = collector, timeout, log
        self.held_seconds: Optional[float] = None

    def __call__(self, topic: str, record_ns: int) -> float:
        if (self.held_seconds is not None or topic != self.reference_topic
                or self.first_record is None or record_ns <= self.first_record):
            return 0.0
        started = time.monotonic()
        deadline = started + self.timeout
        while self.first_stamp not in self.collector.detections and time.monotonic() < deadline:
            time.sleep(0.01)
        self.held_seconds = time.monotonic() - started
        if self.first_stamp in self.collector.detections:
            self.log(f"tracker_node initialised on the first pair; playback held "
                     f"{self.held_seconds:.2f} s")
        else:
            self.log(f"no detections for the first pair after {self.timeout:.0f} s; "
                     f"playing on")
        return self.held_seconds


class _Collector:
    """~/detections by header stamp, with arrival times, and the node's diagnostics."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from vision_msgs.msg import Detection2DArray

        self.detections: Dict[int, Tuple[Optional[Tuple[float, ...]], float, float]] = {}
        self.diagnostics: Dict[str, str] = {}
        node.create_subscription(Detection2DArray, DETECTIONS_TOPIC, self._on_detections, 50)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg: Any) -> None:
        arrival = time.monotonic()
        stamp = stamp_to_nanoseconds(msg.header.stamp)
        if msg.detections:
            box, score = detection_box(msg.detections[0])
            self.detections[stamp] = (box, score, arrival)
        else:
            self.detections[stamp] = (None, 0.0, arrival)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith("tracker_node"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}


def per_frame_boxes(frames: BagFrames, outcome: ReplayOutcome,
                    init_box: Sequence[float]) -> Tuple[np.ndarray, List[str], int]:
    """One box per frame: the node's, or the previous one where it published none.

    Returns:
        ((N, 4) boxes, per-frame states "tracking" / "lost" / "skipped", frames without
        a detection message).
    """
    boxes: List[Optional[Sequence[float]]] = [tuple(init_box)]
    states = ["tracking"]
    for stamp in frames.stamps_ns[1:]:
        entry = outcome.detections.get(stamp)
        if entry is None:
            boxes.append(None)
            states.append("skipped")
        elif entry[0] is None:
            boxes.append(None)
            states.append("lost")
        else:
            boxes.append(entry[0])
            states.append("tracking")
    filled, _ = fill_missing_frames(boxes)
    return filled, states, states.count("skipped")


def score_replay(frames: BagFrames, outcome: ReplayOutcome,
                 init_box: Sequence[float]) -> Dict[str, Any]:
    """Accuracy on the frames with ground truth, latency and the share of skipped pairs."""
    boxes, states, skipped = per_frame_boxes(frames, outcome, init_box)
    report: Dict[str, Any] = {"frames": len(frames.stamps_ns), "frames_skipped": skipped,
                              "skipped_share": skipped / max(1, len(frames.stamps_ns) - 1),
                              "frames_lost": states.count("lost")}
    latencies = outcome.latencies()
    if latencies.size:
        report["latency_ms"] = {"median": float(np.median(latencies) * 1e3),
                                "p95": float(np.percentile(latencies, 95) * 1e3),
                                "max": float(latencies.max() * 1e3)}
    if frames.ground_truth:
        gt = np.array([frames.ground_truth.get(s, (np.nan,) * 4) for s in frames.stamps_ns],
                      dtype=np.float64)
        report["accuracy"] = evaluate_sequence(boxes, gt)
    report["node_diagnostics"] = outcome.diagnostics
    report["init_hold_s"] = outcome.init_seconds
    report["boxes"] = boxes.tolist()
    return report
