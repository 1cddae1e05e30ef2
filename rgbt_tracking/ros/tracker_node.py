"""tracker_node: synchronised RGB + thermal images in, target box out (see ARCHITECTURE.md).

Subscribes ``rgb/image`` and ``thermal/image`` (sensor_msgs/Image) and ``~/init``
(vision_msgs/Detection2D); publishes ``~/detections`` (vision_msgs/Detection2DArray),
``~/response`` (32FC1), optionally ``~/debug_image`` (rgb8) and ``/diagnostics``; serves
``~/reset`` (std_srvs/Trigger).

Threading: subscription callbacks only pair messages and hand the newest pair to a worker
thread that converts and tracks it. Pairs that arrive while the tracker is busy replace the
waiting one (counted as ``pairs_skipped``), so latency stays bounded by one tracking step
when the tracker is slower than the cameras. Every output carries the header of the RGB
frame it was computed from (the thermal frame's in thermal-only mode).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np

from rgbt_tracking.ros.environment import configure_transport

configure_transport()  # before rclpy creates a DDS participant in this process

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.event_handler import SubscriptionEventCallbacks  # noqa: E402
from rcl_interfaces.msg import ParameterDescriptor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from rgbt_tracking.api import build_tracker  # noqa: E402
from rgbt_tracking.core.box import validate_box  # noqa: E402
from rgbt_tracking.core.config import parse_yaml_mapping  # noqa: E402
from rgbt_tracking.core.result import TrackResult  # noqa: E402
from rgbt_tracking.core.tracker import Tracker  # noqa: E402
from rgbt_tracking.ros.cause_counter import CauseCounter  # noqa: E402
from rgbt_tracking.ros.detection_messages import (  # noqa: E402
    bbox_to_box,
    result_to_detections,
    stamp_to_seconds,
)
from rgbt_tracking.ros.image_conversion import (  # noqa: E402
    ImageConversionError,
    image_to_numpy,
    numpy_to_image,
    to_rgb,
    to_thermal,
)
from rgbt_tracking.ros.diagnostics import diagnostic_array  # noqa: E402
from rgbt_tracking.ros.node_main import spin_node  # noqa: E402
from rgbt_tracking.ros.qos import qos_profile  # noqa: E402
from rgbt_tracking.ros.rate_meter import RateMeter  # noqa: E402
from rgbt_tracking.ros.synchronizer import (  # noqa: E402
    ApproximatePairSynchronizer,
    LatestPairSlot,
    PairHistory,
)

MODALITY_MODES = ("rgb_thermal", "rgb", "thermal")
STATE_LEVEL = {"tracking": DiagnosticStatus.OK, "uncertain": DiagnosticStatus.WARN,
               "lost": DiagnosticStatus.WARN, "idle": DiagnosticStatus.OK,
               "error": DiagnosticStatus.ERROR}


INIT_STAMP_TOLERANCE = 0.02   # s: a buffered pair this close to an ~/init stamp is that frame
INIT_WAIT = 2.0               # s: how long an ~/init request waits for its frame to arrive


@dataclass
class _InitRequest:
    box: Tuple[float, float, float, float]
    stamp: Optional[float]  # seconds; None: the next pair
    received: float = field(default_factory=time.monotonic)


class TrackerNode(Node):
    """The ROS shell around a :class:`~rgbt_tracking.core.tracker.Tracker`."""

    def __init__(self, node_name: str = "tracker_node", **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self._declare_parameters()
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        self.tracker_name: str = get("tracker")
        self.modality_mode: str = get("modalities")
        if self.modality_mode not in MODALITY_MODES:
            raise ValueError(f"parameter 'modalities' must be one of {MODALITY_MODES}, "
                             f"got {self.modality_mode!r}")
        overrides = parse_yaml_mapping(get("tracker_params"), "parameter 'tracker_params'")
        threads = int(get("cpu_threads"))
        if threads > 0:
            import torch

            # Small per-frame tensors: one intra-op thread avoids OpenMP workers competing
            # with the executor and the DDS threads for the cores of an onboard computer.
            torch.set_num_threads(threads)
        self.tracker: Tracker = build_tracker(self.tracker_name, device=get("device"),
                                              **overrides)
        self.class_id: str = get("class_id")
        self.publish_response: bool = get("publish_response")
        self.publish_debug: bool = get("publish_debug_image")

        self.errors = CauseCounter(lambda text: self.get_logger().warning(text))
        self.rgb_rate = RateMeter()
        self.thermal_rate = RateMeter()
        self.track_rate = RateMeter()
        self.slot = LatestPairSlot()
        self.history = PairHistory(int(get("init_history_size")))
        self._lock = threading.Lock()
        self._pending_init: Optional[_InitRequest] = None
        self._reset_requested = False
        try:
            init_box = [float(v) for v in (get("init_box") or [])]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parameter 'init_box' must be 4 numbers x y w h, got "
                             f"{get('init_box')!r}") from exc
        if len(init_box) not in (0, 4):
            raise ValueError(f"parameter 'init_box' must be 4 numbers x y w h, got "
                             f"{len(init_box)}: {init_box}")
        if len(init_box) == 4 and init_box[2] > 0 and init_box[3] > 0:
            self._pending_init = _InitRequest(tuple(init_box), None)  # type: ignore[arg-type]
        self._default_init = self._pending_init
        self.state = "idle"
        self.last_score = 0.0
        self.last_track_ms = 0.0
        self.last_result_stamp = 0.0
        self.frames_tracked = 0

        depth = int(get("qos_depth"))
        self.synchronizer: Optional[ApproximatePairSynchronizer] = None
        if self.modality_mode == "rgb_thermal":
            self.synchronizer = ApproximatePairSynchronizer(
                slop=float(get("sync_slop")), queue_size=int(get("sync_queue_size")),
                callback=self._on_pair)
        if self.modality_mode in ("rgb_thermal", "rgb"):
            self.create_subscription(Image, "rgb/image", self._on_rgb,
                                     qos_profile(get("rgb_qos"), depth),
                                     event_callbacks=self._qos_events("rgb/image"))
        if self.modality_mode in ("rgb_thermal", "thermal"):
            self.create_subscription(Image, "thermal/image", self._on_thermal,
                                     qos_profile(get("thermal_qos"), depth),
                                     event_callbacks=self._qos_events("thermal/image"))
        self.create_subscription(Detection2D, "~/init", self._on_init, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.detections_pub = self.create_publisher(Detection2DArray, "~/detections", 10)
        self.response_pub = self.create_publisher(Image, "~/response", 5)
        self.debug_pub = (self.create_publisher(Image, "~/debug_image", 5)
                          if self.publish_debug else None)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(get("diagnostics_period")), self._publish_diagnostics)
        self._last_arrival = time.monotonic()
        if self.synchronizer is not None:
            # A pair waits for the next frame to be sure it is the closest; when the streams
            # stop (end of a bag, a camera halt) nothing would come, so flush after silence.
            self.create_timer(0.1, self._flush_when_silent)

        self._running = True
        self._wake = threading.Event()
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"tracker '{self.tracker_name}' ready ({self.modality_mode})")

    # -- parameters -----------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        defaults = {
            "tracker": "dcf", "device": "cpu", "tracker_params": "{}",
            "modalities": "rgb_thermal", "sync_slop": 0.02, "sync_queue_size": 10,
            "init_box": [0.0, 0.0, 0.0, 0.0], "init_history_size": 30, "class_id": "target",
            "publish_response": True, "publish_debug_image": False,
            "rgb_qos": "reliable", "thermal_qos": "reliable", "qos_depth": 5,
            "diagnostics_period": 1.0, "cpu_threads": 1,
        }
        for name, value in defaults.items():
            if name == "init_box":
                # Dynamic typing: `-p init_box:=[10,20,30,40]` (integers) is accepted too.
                self.declare_parameter(name, value, ParameterDescriptor(dynamic_typing=True))
            else:
                self.declare_parameter(name, value)

    def _qos_events(self, topic: str) -> SubscriptionEventCallbacks:
        def incompatible(event: Any) -> None:
            self.errors.record(
                f"{topic}: a publisher with incompatible QoS was found "
                f"(policy {event.last_policy_kind}); set '{topic.split('/')[0]}_qos' to match",
            )
        return SubscriptionEventCallbacks(incompatible_qos=incompatible)

    # -- inputs ---------------------------------------------------------------------------
    def _valid_image(self, msg: Image, topic: str) -> bool:
        """Layout check at arrival (a zero-copy view: microseconds), so a malformed message
        never takes a partner's place in a pair."""
        try:
            image_to_numpy(msg)
        except ImageConversionError as exc:
            self.errors.record(f"{topic}: {exc}")
            return False
        return True

    def _flush_when_silent(self) -> None:
        if self.synchronizer is not None and time.monotonic() - self._last_arrival > 0.25:
            self.synchronizer.flush()

    def _on_rgb(self, msg: Image) -> None:
        self._last_arrival = time.monotonic()
        self.rgb_rate.tick()
        if not self._valid_image(msg, "rgb/image"):
            return
        if self.synchronizer is not None:
            self.synchronizer.add_a(msg, stamp_to_seconds(msg.header.stamp))
        else:
            self._on_pair(msg, None, None)

    def _on_thermal(self, msg: Image) -> None:
        self._last_arrival = time.monotonic()
        self.thermal_rate.tick()
        if not self._valid_image(msg, "thermal/image"):
            return
        if self.synchronizer is not None:
            self.synchronizer.add_b(msg, stamp_to_seconds(msg.header.stamp))
        else:
            self._on_pair(None, msg, None)

    def _on_pair(self, rgb_msg: Optional[Image], thermal_msg: Optional[Image],
                 info: Any) -> None:
        reference = rgb_msg if rgb_msg is not None else thermal_msg
        assert reference is not None
        if (rgb_msg is not None and thermal_msg is not None
                and (rgb_msg.width, rgb_msg.height) != (thermal_msg.width, thermal_msg.height)):
            self.errors.record(
                "pair skipped: rgb and thermal images differ in size",
                f"rgb {rgb_msg.width}x{rgb_msg.height}, thermal {thermal_msg.width}x"
                f"{thermal_msg.height}; run alignment_node or set the camera resolutions")
            return
        pair = (rgb_msg, thermal_msg)
        self.history.add(stamp_to_seconds(reference.header.stamp), pair)
        self.slot.put(pair)
        self._wake.set()

    def _on_init(self, msg: Detection2D) -> None:
        try:
            box = validate_box(bbox_to_box(msg.bbox), name="~/init bbox")
        except ValueError as exc:
            self.errors.record(f"~/init: invalid box: {exc}")
            return
        stamp = stamp_to_seconds(msg.header.stamp)
        with self._lock:
            self._pending_init = _InitRequest(box, stamp if stamp > 0 else None)
        self.get_logger().info(f"init request: box {tuple(round(v, 1) for v in box)}")
        self._wake.set()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self._pending_init = self._default_init
            self._reset_requested = True
        response.success = True
        response.message = ("tracker reset; waiting for ~/init" if self._default_init is None
                            else "tracker reset; re-initialising from init_box")
        self._wake.set()
        return response

    # -- worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            if not self._wake.wait(timeout=0.1):
                self._retry_waiting_init()
                continue
            self._wake.clear()
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the node must outlive any one frame
                # Anything the input checks did not foresee (a torch or OpenCV error, CUDA
                # out of memory): count it, report it, and carry on with the next pair.
                self.errors.record(f"tracker error: {type(exc).__name__}: {exc}")
                self.state = "error"

    def _step(self) -> None:
        with self._lock:
            init = self._pending_init
            reset = self._reset_requested
            self._reset_requested = False
        if reset:
            self.tracker.reset()
            self.state = "idle"
        pair = self.slot.take()
        if init is not None:
            self._initialize(init, pair)
            return
        if pair is None or not self.tracker.initialized:
            return
        self._track(pair)

    def _retry_waiting_init(self) -> None:
        """An init request waiting for its frame is settled once it has waited too long."""
        with self._lock:
            waiting = self._pending_init is not None and self._pending_init.stamp is not None
        if waiting:
            self._wake.set()

    def _convert(self, pair: Tuple[Optional[Image], Optional[Image]]
                 ) -> Optional[Tuple[Optional[np.ndarray], Optional[np.ndarray]]]:
        rgb_msg, thermal_msg = pair
        try:
            rgb = (to_rgb(image_to_numpy(rgb_msg), rgb_msg.encoding)
                   if rgb_msg is not None else None)
        except ImageConversionError as exc:
            self.errors.record(f"rgb/image: {exc}")
            return None
        try:
            thermal = (to_thermal(image_to_numpy(thermal_msg), thermal_msg.encoding)
                       if thermal_msg is not None else None)
        except ImageConversionError as exc:
            self.errors.record(f"thermal/image: {exc}")
            return None
        return rgb, thermal

    def _initialize(self, request: _InitRequest,
                    newest: Optional[Tuple[Optional[Image], Optional[Image]]]) -> None:
        """Start tracking on the pair the request refers to.

        A request with a stamp uses the buffered pair nearest to it when one is within
        ``INIT_STAMP_TOLERANCE``; a stamp newer than every buffered pair waits for its frame;
        after ``INIT_WAIT`` seconds the nearest pair is used (and a warning says so). A
        request without a stamp (or stamp 0) uses the next pair.
        """
        pair = newest
        if request.stamp is not None:
            found = self.history.nearest(request.stamp)
            newest_stamp = self.history.newest_stamp()
            waited = time.monotonic() - request.received
            if found is not None and abs(found[0] - request.stamp) <= INIT_STAMP_TOLERANCE:
                pair = found[1]
            elif (newest_stamp is None or request.stamp > newest_stamp) and waited < INIT_WAIT:
                return  # its frame has not arrived yet
            elif found is not None:
                self.errors.record(
                    "~/init: no buffered frame has the requested stamp; used the nearest",
                    f"requested {request.stamp:.3f} s, nearest {found[0]:.3f} s")
                pair = found[1]
        if pair is None:
            return  # keep the request until a pair arrives
        images = self._convert(pair)
        with self._lock:
            if self._pending_init is request:
                self._pending_init = None
        if images is None:
            return
        try:
            self.tracker.initialize(images[0], images[1], request.box)
        except ValueError as exc:
            self.errors.record(f"initialisation failed: {exc}")
            return
        self.state = "tracking"
        self.get_logger().info(f"tracking started at box {request.box}")
        # The initialisation frame's output is the given box (as benchmarks count frame 0).
        header = (pair[0] if pair[0] is not None else pair[1]).header  # type: ignore[union-attr]
        self._publish(TrackResult(box=request.box, score=1.0, state="tracking"), header, images)

    def _track(self, pair: Tuple[Optional[Image], Optional[Image]]) -> None:
        images = self._convert(pair)
        if images is None:
            return
        started = time.perf_counter()
        try:
            result = self.tracker.track(images[0], images[1])
        except ValueError as exc:
            self.errors.record(f"frame skipped: {exc}")
            return
        self.last_track_ms = (time.perf_counter() - started) * 1e3
        self.track_rate.tick()
        self.frames_tracked += 1
        self.state = result.state
        self.last_score = result.score
        header = (pair[0] if pair[0] is not None else pair[1]).header  # type: ignore[union-attr]
        self._publish(result, header, images)

    def _publish(self, result: TrackResult, header: Any,
                 images: Tuple[Optional[np.ndarray], Optional[np.ndarray]]) -> None:
        self.detections_pub.publish(result_to_detections(
            result, header, Detection2DArray, Detection2D, ObjectHypothesisWithPose,
            self.class_id, self.tracker_name))
        if self.publish_response and result.response is not None:
            self.response_pub.publish(numpy_to_image(
                np.ascontiguousarray(result.response, dtype=np.float32), "32FC1", header=header))
        if self.debug_pub is not None:
            self.debug_pub.publish(numpy_to_image(_draw_debug(images, result), "rgb8",
                                                  header=header))

    # -- diagnostics ----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: tracker"
        status.hardware_id = self.tracker_name
        errors = self.errors.counts
        status.level = STATE_LEVEL.get(self.state, DiagnosticStatus.WARN)
        status.message = self.state if not errors else f"{self.state}; {sum(errors.values())} bad inputs"
        sync = self.synchronizer.stats if self.synchronizer is not None else None
        values = {
            "tracker": self.tracker_name,
            "state": self.state,
            "score": f"{self.last_score:.3f}",
            "rgb_rate_hz": f"{self.rgb_rate.rate():.2f}",
            "thermal_rate_hz": f"{self.thermal_rate.rate():.2f}",
            "rgb_received": str(self.rgb_rate.count),
            "thermal_received": str(self.thermal_rate.count),
            "tracking_rate_hz": f"{self.track_rate.rate():.2f}",
            "track_time_ms": f"{self.last_track_ms:.2f}",
            "frames_tracked": str(self.frames_tracked),
            "worker_alive": str(self._worker.is_alive()),
            "pairs_skipped_busy": str(self.slot.overwritten),
            "bad_inputs": str(sum(errors.values())),
        }
        if sync is not None:
            values.update({
                "pairs_synchronised": str(sync.pairs),
                "sync_dropped_rgb": str(sync.dropped_a),
                "sync_dropped_thermal": str(sync.dropped_b),
                "sync_overflow_rgb": str(sync.overflow_a),
                "sync_overflow_thermal": str(sync.overflow_b),
                "sync_out_of_order_rgb": str(sync.out_of_order_a),
                "sync_out_of_order_thermal": str(sync.out_of_order_b),
                "sync_resets": str(sync.resets),
                "sync_offset_ms": _milliseconds(sync.last_offset),
                "sync_mean_abs_offset_ms": _milliseconds(sync.mean_abs_offset),
            })
        self.diagnostics_pub.publish(diagnostic_array(status, values, errors,
                                                      self.get_clock().now().to_msg()))

    def destroy_node(self) -> None:
        # Also called by rclpy's context clean-up on a node whose __init__ failed half-way.
        self._running = False
        wake = getattr(self, "_wake", None)
        worker = getattr(self, "_worker", None)
        if wake is not None:
            wake.set()
        if worker is not None and worker.is_alive():
            worker.join(timeout=2.0)
        super().destroy_node()


def _milliseconds(seconds: Optional[float]) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.2f}"


def _draw_debug(images: Tuple[Optional[np.ndarray], Optional[np.ndarray]],
                result: TrackResult) -> np.ndarray:
    rgb, thermal = images
    if rgb is not None:
        canvas = rgb.copy()
    else:
        assert thermal is not None
        grey = cv2.normalize(thermal, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        canvas = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    colour = {"tracking": (0, 255, 0), "uncertain": (255, 200, 0), "lost": (255, 0, 0)}
    x, y, w, h = (int(round(v)) for v in result.box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), colour[result.state], 2)
    cv2.putText(canvas, f"{result.state} {result.score:.2f}", (x, max(12, y - 4)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour[result.state], 1)
    return canvas


def main(args: Optional[Sequence[str]] = None) -> None:
    """Console script ``tracker_node``: run the node until Ctrl-C."""
    spin_node(TrackerNode, "tracker_node", args)


if __name__ == "__main__":
    main()
