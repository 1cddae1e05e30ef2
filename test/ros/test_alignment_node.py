"""alignment_node over DDS: thermal warped into the RGB geometry with the original stamp and
the RGB frame id; bad input counted; the graph with alignment in front of the tracker."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from rgbt_tracking.alignment.calibration_file import Calibration, save_calibration
from rgbt_tracking.ros.detection_messages import stamp_to_nanoseconds
from rgbt_tracking.ros.graph import parameter_overrides
from rgbt_tracking.ros.image_conversion import image_to_numpy

from ros_helpers import Collector, image_msg, wait_for


@contextmanager
def alignment_node_running(remaps, params, io_name):
    """An AlignmentNode and a test I/O node spinning in a private context; yields both."""
    from rgbt_tracking.ros.alignment_node import AlignmentNode

    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = AlignmentNode("alignment_node", context=context,
                         cli_args=["--ros-args"] + [w for r in remaps for w in ("-r", r)],
                         parameter_overrides=parameter_overrides(params))
    io = rclpy.create_node(io_name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(io)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        yield node, io
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        io.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture
def shifted_calibration(tmp_path):
    """Thermal 320x256 -> RGB 640x512: scale 2 and a shift of (+10, -6) RGB pixels."""
    homography = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, -6.0], [0.0, 0.0, 1.0]])
    path = tmp_path / "calibration.yaml"
    save_calibration(Calibration(model="homography", homography=homography,
                                 rgb_size=(640, 512), thermal_size=(320, 256), error_px=0.3,
                                 date="2026-11-22T00:00:00", method="test"), path)
    return path


def test_thermal_is_warped_into_the_rgb_geometry(shifted_calibration):
    with alignment_node_running(["__ns:=/align", "thermal/image_raw:=/align/raw",
                                 "thermal/image:=/align/aligned"],
                                {"calibration_file": str(shifted_calibration),
                                 "diagnostics_period": 0.2}, "align_io") as (node, io):
        publisher = io.create_publisher(Image, "/align/raw",
                                        QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
        aligned, diagnostics = Collector(), Collector()
        io.create_subscription(Image, "/align/aligned", aligned, 10)
        io.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, 10)
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 5.0)
        thermal = np.zeros((256, 320), np.uint8)
        thermal[100:120, 50:80] = 255                     # a warm block
        stamp = 1_800_000_000_123_000_000
        publisher.publish(image_msg(thermal, "mono8", stamp, "camera_thermal"))
        assert wait_for(lambda: len(aligned) >= 1, 5.0)
        out = aligned.messages()[0]
        assert stamp_to_nanoseconds(out.header.stamp) == stamp
        assert out.header.frame_id == "camera_rgb"
        assert (out.width, out.height, out.encoding) == (640, 512, "mono8")
        image = image_to_numpy(out)
        ys, xs = np.nonzero(image > 128)
        # Thermal block x 50..79, y 100..119 -> RGB x 2*50+10 .. , y 2*100-6 ..
        assert abs(xs.min() - 110) <= 2 and abs(ys.min() - 194) <= 2
        assert abs(xs.max() - 169) <= 2 and abs(ys.max() - 233) <= 2
        # Wrong size: logged once, counted, and the node goes on.
        publisher.publish(image_msg(np.zeros((100, 100), np.uint8), "mono8", stamp + 1,
                                    "camera_thermal"))
        publisher.publish(image_msg(thermal, "mono8", stamp + 2, "camera_thermal"))
        assert wait_for(lambda: len(aligned) >= 2, 5.0)

        def bad_inputs() -> int:
            for msg in reversed(diagnostics.messages()):
                for status in msg.status:
                    if status.name.startswith("alignment_node"):
                        return int({kv.key: kv.value for kv in status.values}["bad_inputs"])
            return 0

        assert wait_for(lambda: bad_inputs() == 1, 3.0)


def test_missing_calibration_is_a_clear_error(tmp_path):
    from rgbt_tracking.ros.alignment_node import AlignmentNode

    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    try:
        with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
            AlignmentNode("alignment_node", context=context, parameter_overrides=parameter_overrides(
                {"calibration_file": str(tmp_path / "nowhere.yaml")}))
    finally:
        rclpy.shutdown(context=context)


def test_graph_with_alignment_in_front_of_the_tracker(tmp_path):
    """`rgbt-track launch --alignment`: a thermal camera at half the RGB resolution is warped
    into the RGB geometry and the tracker follows the target on the aligned pair."""
    import cv2

    from rgbt_tracking.core.box import iou
    from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence
    from rgbt_tracking.ros.detection_messages import detection_box
    from rgbt_tracking.ros.graph import NodeGraph
    from vision_msgs.msg import Detection2DArray

    calibration = tmp_path / "half.yaml"
    save_calibration(Calibration(model="homography", homography=np.diag([2.0, 2.0, 1.0]),
                                 rgb_size=(640, 512), thermal_size=(320, 256), error_px=0.0,
                                 date="2026-11-22T00:00:00", method="test"), calibration)
    sequence = generate_sequence(SyntheticConfig(num_frames=50, seed=8))
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    graph = NodeGraph(remappings={"rgb/image": "/g/rgb", "thermal/image": "/g/thermal"},
                      tracker_overrides={"init_box": [float(v) for v in sequence.boxes[0]]},
                      context=context, calibration_file=calibration)
    io = rclpy.create_node("graph_io", context=context)
    graph.add_node(io)
    graph.start()
    try:
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        rgb_pub = io.create_publisher(Image, "/g/rgb", qos)
        raw_pub = io.create_publisher(Image, "/g/thermal", qos)
        detections = Collector()
        io.create_subscription(Detection2DArray, "/tracker_node/detections", detections, 50)
        assert wait_for(lambda: rgb_pub.get_subscription_count() > 0
                        and raw_pub.get_subscription_count() > 0, 5.0)
        for index in range(40):
            stamp = 1_000_000_000 + index * 33_333_333
            small = cv2.resize(sequence.thermal[index], (320, 256), interpolation=cv2.INTER_AREA)
            raw_pub.publish(image_msg(small, "mono8", stamp, "camera_thermal"))
            rgb_pub.publish(image_msg(sequence.rgb[index], "rgb8", stamp, "camera_rgb"))
            wait_for(lambda: any(stamp_to_nanoseconds(m.header.stamp) == stamp
                                 for m in detections.messages()), 1.0)
        last = max(detections.messages(), key=lambda m: stamp_to_nanoseconds(m.header.stamp))
        index = (stamp_to_nanoseconds(last.header.stamp) - 1_000_000_000) // 33_333_333
        box, _ = detection_box(last.detections[0])
        assert index >= 30 and float(iou(box, sequence.boxes[index])) > 0.5
    finally:
        graph.shutdown()

        rclpy.shutdown(context=context)


def _llvip_pair(shared_data, name: str, size=(640, 512)):
    import cv2

    root = shared_data / "llvip_pairs"
    bgr = cv2.imread(str(root / "visible" / f"{name}.jpg"), cv2.IMREAD_COLOR)
    ir = cv2.imread(str(root / "infrared" / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE)
    assert bgr is not None and ir is not None, f"LLVIP pair {name} missing in {root}"
    rgb = cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return rgb, cv2.resize(ir, size, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("replaced", [True, False])
def test_online_refinement_replaces_only_a_clearly_worse_map(tmp_path, shared_data, replaced):
    """Live stream of a real LLVIP pair (published as aligned, 640x512 here): a map that is
    12/-8 px off is replaced by the refined one within a few periods; the pair's own
    estimate is kept (a refinement must beat it by ``refine_margin``). Identity is not
    "right" here: the pair keeps a residual offset of a few pixels, and a refinement from
    identity improves the similarity by more than the margin (measured 0.26 -> 0.32)."""
    from rgbt_tracking.alignment.auto import estimate_alignment, mean_corner_error

    rgb, thermal = _llvip_pair(shared_data, "190001")
    if replaced:
        start = np.array([[1.0, 0.0, 12.0], [0.0, 1.0, -8.0], [0.0, 0.0, 1.0]])
    else:
        start = estimate_alignment(rgb, thermal).homography
    path = tmp_path / "start.yaml"
    save_calibration(Calibration(model="homography", homography=start, rgb_size=(640, 512),
                                 thermal_size=(640, 512), error_px=0.5,
                                 date="2026-11-22T00:00:00", method="target"), path)
    with alignment_node_running(["thermal/image_raw:=/refine/raw",
                                 "thermal/image:=/refine/aligned", "rgb/image:=/refine/rgb"],
                                {"calibration_file": str(path), "refine_online": True,
                                 "refine_period": 0.5, "refine_margin": 0.05},
                                "refine_io") as (node, io):
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        rgb_pub = io.create_publisher(Image, "/refine/rgb", qos)
        raw_pub = io.create_publisher(Image, "/refine/raw", qos)
        aligned = Collector()
        io.create_subscription(Image, "/refine/aligned", aligned, 10)
        assert wait_for(lambda: rgb_pub.get_subscription_count() > 0
                        and raw_pub.get_subscription_count() > 0, 5.0)
        stamp = 1_900_000_000_000_000_000

        def stream_until(condition, seconds: float) -> bool:
            nonlocal stamp
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                stamp += 100_000_000
                rgb_pub.publish(image_msg(rgb, "rgb8", stamp, "camera_rgb"))
                raw_pub.publish(image_msg(thermal, "mono8", stamp, "camera_thermal"))
                if condition():
                    return True
                time.sleep(0.1)
            return condition()

        if replaced:
            assert stream_until(lambda: node.refinements >= 1, 60.0), "map never refined"
            assert node.calibration.method == "auto-online"
            refined = node.calibration.homography
            # The pair's own residual offset is ~2 px at this size; the start map was 14 px off.
            assert mean_corner_error(refined, np.eye(3), (640, 512)) < 4.0
            assert mean_corner_error(start, np.eye(3), (640, 512)) > 14.0
            # The images published from now on use the refined map, not the start map.
            import cv2

            before = len(aligned)
            assert stream_until(lambda: len(aligned) > before + 2, 5.0)
            latest = image_to_numpy(aligned.messages()[-1]).astype(np.float32)

            def difference(homography):
                expected = cv2.warpPerspective(thermal, homography, (640, 512))
                return float(np.abs(latest - expected.astype(np.float32)).mean())

            assert difference(refined) < 0.5 < difference(start)
        else:
            # Several refinement periods with the right map: it stays.
            stream_until(lambda: False, 4.0)
            assert node.refinements == 0 and node.calibration.method == "target"
            assert len(aligned) > 0
