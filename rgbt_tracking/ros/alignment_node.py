"""alignment_node: thermal images into the RGB camera's pixel geometry (see ARCHITECTURE.md).

Subscribes ``thermal/image_raw`` (sensor_msgs/Image), publishes ``thermal/image`` warped by
the calibration's thermal->RGB map, with the original stamp and the RGB camera's frame_id,
and ``/diagnostics``. The warp runs in the subscription callback (OpenCV on the CPU, torch
on a CUDA device); the optional online refinement of the map (``refine_online``) runs in a
worker thread on the newest RGB/thermal pair and replaces the map only when the new one
scores clearly better, so it never blocks the image path.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Optional, Sequence

from rgbt_tracking.ros.environment import configure_transport

configure_transport()  # before rclpy creates a DDS participant in this process

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from rgbt_tracking.alignment.calibration_file import Calibration, load_calibration  # noqa: E402
from rgbt_tracking.alignment.warp import ThermalWarper  # noqa: E402
from rgbt_tracking.ros.cause_counter import CauseCounter  # noqa: E402
from rgbt_tracking.ros.image_conversion import (  # noqa: E402
    ImageConversionError,
    image_to_numpy,
    numpy_to_image,
    to_rgb,
)
from rgbt_tracking.ros.diagnostics import diagnostic_array  # noqa: E402
from rgbt_tracking.ros.node_main import spin_node  # noqa: E402
from rgbt_tracking.ros.qos import qos_profile  # noqa: E402
from rgbt_tracking.ros.rate_meter import RateMeter  # noqa: E402

#: encodings that keep their meaning after a warp (radiometric values are interpolated)
PASS_THROUGH_ENCODINGS = {"mono8": "mono8", "8UC1": "mono8", "mono16": "mono16",
                          "16UC1": "mono16", "32FC1": "32FC1", "rgb8": "rgb8",
                          "bgr8": "bgr8", "8UC3": "rgb8"}


class AlignmentNode(Node):
    """The ROS shell around :class:`~rgbt_tracking.alignment.warp.ThermalWarper`."""

    def __init__(self, node_name: str = "alignment_node", **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        defaults = {"calibration_file": "", "output_width": 0, "output_height": 0,
                    "interpolation": "linear", "device": "cpu", "rgb_frame_id": "camera_rgb",
                    "input_qos": "reliable", "qos_depth": 5, "diagnostics_period": 1.0,
                    "refine_online": False, "refine_period": 30.0, "refine_margin": 0.05,
                    "refine_model": "affine"}
        for name, value in defaults.items():
            self.declare_parameter(name, value)
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        path = str(get("calibration_file"))
        if not path:
            raise ValueError("parameter 'calibration_file' is empty: give the YAML written "
                             "by `rgbt-track calibrate`")
        self.calibration: Calibration = load_calibration(path)
        size = (int(get("output_width")), int(get("output_height")))
        self.output_size = size if size[0] > 0 and size[1] > 0 else None
        self.interpolation = str(get("interpolation"))
        self.device = str(get("device"))
        self.rgb_frame_id = str(get("rgb_frame_id"))
        self._lock = threading.Lock()
        self._running = True
        self.warper = self._make_warper(self.calibration)
        self.errors = CauseCounter(lambda text: self.get_logger().warning(text))
        self.input_rate = RateMeter()
        self.last_warp_ms = 0.0
        self.published = 0
        self.refinements = 0
        self.current_score: Optional[float] = None

        depth = int(get("qos_depth"))
        self.create_subscription(Image, "thermal/image_raw", self._on_thermal,
                                 qos_profile(get("input_qos"), depth))
        self.publisher = self.create_publisher(Image, "thermal/image", depth)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(get("diagnostics_period")), self._publish_diagnostics)

        self.refine = bool(get("refine_online"))
        self._latest_rgb: Optional[np.ndarray] = None
        self._latest_thermal: Optional[np.ndarray] = None
        if self.refine:
            self.refine_period = float(get("refine_period"))
            self.refine_margin = float(get("refine_margin"))
            # One frame at a time pins the corners of a homography weakly (LLVIP pairs:
            # 8-11 px from identity at the corners, 2-3 px in the middle): affine by default.
            self.refine_model = str(get("refine_model"))
            if self.refine_model not in ("translation", "affine", "homography"):
                raise ValueError(f"parameter 'refine_model' must be translation, affine or "
                                 f"homography, got {self.refine_model!r}")
            self.create_subscription(Image, "rgb/image", self._on_rgb,
                                     qos_profile(get("input_qos"), depth))
            self._worker = threading.Thread(target=self._refine_loop, daemon=True,
                                            name="alignment_refinement")
            self._worker.start()
        self.get_logger().info(
            f"aligning thermal {self.calibration.thermal_size} -> RGB "
            f"{self.output_size or self.calibration.rgb_size} with {path} "
            f"({self.calibration.model}, {self.calibration.error_px:.2f} px)")

    def _make_warper(self, calibration: Calibration) -> ThermalWarper:
        return ThermalWarper(calibration, output_size=self.output_size,
                             interpolation=self.interpolation, device=self.device)

    # -- image path -----------------------------------------------------------------------
    def _on_thermal(self, msg: Image) -> None:
        self.input_rate.tick()
        try:
            image = image_to_numpy(msg)
        except ImageConversionError as exc:
            self.errors.record(f"thermal/image_raw: {exc}")
            return
        encoding = PASS_THROUGH_ENCODINGS.get(msg.encoding)
        if encoding is None:
            self.errors.record(f"thermal/image_raw: encoding '{msg.encoding}' is not warped; "
                               f"expected one of {sorted(PASS_THROUGH_ENCODINGS)}")
            return
        started = time.perf_counter()
        with self._lock:
            warper = self.warper
        try:
            warped = warper.warp(image)
        except ValueError as exc:
            self.errors.record(f"thermal/image_raw: {exc}")
            return
        self.last_warp_ms = (time.perf_counter() - started) * 1e3
        header = msg.header
        header.frame_id = self.rgb_frame_id
        self.publisher.publish(numpy_to_image(np.ascontiguousarray(warped), encoding,
                                              header=header))
        self.published += 1
        if self.refine:
            self._latest_thermal = image if image.ndim == 2 else image[:, :, 0]

    def _on_rgb(self, msg: Image) -> None:
        try:
            self._latest_rgb = to_rgb(image_to_numpy(msg), msg.encoding)
        except ImageConversionError as exc:
            self.errors.record(f"rgb/image: {exc}")

    # -- online refinement ----------------------------------------------------------------
    def _refine_loop(self) -> None:
        from rgbt_tracking.alignment.auto import estimate_alignment

        next_time = time.monotonic() + self.refine_period
        while self._running:
            time.sleep(0.2)
            if time.monotonic() < next_time:
                continue
            next_time = time.monotonic() + self.refine_period
            rgb, thermal = self._latest_rgb, self._latest_thermal
            if rgb is None or thermal is None:
                continue
            try:
                current = estimate_alignment(rgb, thermal, model=self.refine_model,
                                             initial=self.calibration.homography)
            except Exception as exc:  # noqa: BLE001 - refinement is optional; keep the map
                self.errors.record(f"refinement failed: {type(exc).__name__}: {exc}")
                continue
            if not self._running:   # the node was destroyed during the estimate
                break
            baseline = current.baseline_score   # the present map's score on this pair
            if (current.trusted and current.score > baseline + self.refine_margin):
                calibration = Calibration(
                    model="affine" if np.allclose(current.homography[2, :2], 0.0) else "homography",
                    homography=current.homography,
                    rgb_size=self.calibration.rgb_size,
                    thermal_size=self.calibration.thermal_size,
                    error_px=self.calibration.error_px, date=self.calibration.date,
                    method="auto-online", stereo=None,
                    extra={"refined_from": self.calibration.method})
                with self._lock:
                    self.warper = self._make_warper(calibration)
                    self.calibration = calibration
                self.refinements += 1
                self.current_score = current.score
                self.get_logger().info(f"alignment refined online: similarity {baseline:.3f} "
                                       f"-> {current.score:.3f}")

    # -- diagnostics ----------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        errors = self.errors.counts
        status = DiagnosticStatus()
        status.name = f"{self.get_name()}: alignment"
        status.hardware_id = "thermal"
        status.level = DiagnosticStatus.OK if not errors else DiagnosticStatus.WARN
        status.message = "aligning" if not errors else f"{sum(errors.values())} bad inputs"
        values = {
            "input_rate_hz": f"{self.input_rate.rate():.2f}",
            "images_received": str(self.input_rate.count),
            "images_published": str(self.published),
            "warp_time_ms": f"{self.last_warp_ms:.2f}",
            "model": self.calibration.model,
            "method": self.calibration.method,
            "calibration_error_px": f"{self.calibration.error_px:.3f}",
            "online_refinements": str(self.refinements),
            "bad_inputs": str(sum(errors.values())),
        }
        self.diagnostics_pub.publish(diagnostic_array(status, values, errors,
                                                      self.get_clock().now().to_msg()))

    def destroy_node(self) -> None:
        self._running = False
        worker = getattr(self, "_worker", None)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=30.0)   # an estimate in progress finishes (seconds), then stops
        super().destroy_node()


def main(args: Optional[Sequence[str]] = None) -> None:
    """Console script ``alignment_node``: run the node until Ctrl-C."""
    spin_node(AlignmentNode, "alignment_node", args)


if __name__ == "__main__":
    main()
