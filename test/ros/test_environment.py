"""The venv's ROS environment: rclpy and vision_msgs import, console scripts, child processes."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rgbt_tracking.ros.environment import (
    BOOTSTRAP_GUARD_VARIABLE,
    DEFAULT_TRANSPORTS,
    TRANSPORT_VARIABLE,
    configure_transport,
    subprocess_env,
)

IN_VENV = sys.prefix != sys.base_prefix
ROS_FROM_WHEELS = importlib.util.find_spec("ros_wheels_bootstrapper") is not None

pytestmark = pytest.mark.ros


def run_python(code: str, env: dict, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter (the one running the tests) with ``env``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_fresh_interpreter_imports_rclpy_and_vision_msgs() -> None:
    code = """
        import rclpy
        import vision_msgs.msg
        from rclpy.serialization import deserialize_message, serialize_message
        from vision_msgs.msg import Detection2D, Detection2DArray

        # Serialising goes through the generated C type support libraries.
        message = Detection2DArray(detections=[Detection2D(id="7")])
        message.detections[0].bbox.size_x = 4.5
        data = serialize_message(message)
        back = deserialize_message(data, Detection2DArray)
        assert back.detections[0].id == "7" and back.detections[0].bbox.size_x == 4.5, back
        print(vision_msgs.__file__)
    """
    result = run_python(code, subprocess_env())
    assert result.returncode == 0, result.stderr


def test_detection_messages_have_the_vision_msgs_4_fields() -> None:
    from geometry_msgs.msg import PoseWithCovariance
    from std_msgs.msg import Header
    from vision_msgs.msg import (
        BoundingBox2D,
        Detection2D,
        Detection2DArray,
        ObjectHypothesis,
        ObjectHypothesisWithPose,
        Point2D,
        Pose2D,
    )

    array = Detection2DArray()
    assert isinstance(array.header, Header)
    array.detections.append(Detection2D())
    detection = array.detections[0]
    assert isinstance(detection.header, Header)
    assert isinstance(detection.bbox, BoundingBox2D)
    assert isinstance(detection.bbox.center, Pose2D)
    assert isinstance(detection.bbox.center.position, Point2D)
    detection.bbox.center.position.x = 10.5
    detection.bbox.center.position.y = 20.25
    detection.bbox.center.theta = 0.5
    detection.bbox.size_x = 30.0
    detection.bbox.size_y = 40.0
    detection.id = "track-1"
    detection.results.append(ObjectHypothesisWithPose())
    hypothesis = detection.results[0]
    assert isinstance(hypothesis.hypothesis, ObjectHypothesis)
    assert isinstance(hypothesis.pose, PoseWithCovariance)
    hypothesis.hypothesis.class_id = "person"
    hypothesis.hypothesis.score = 0.75

    assert array.detections[0].bbox.center.position.x == 10.5
    assert array.detections[0].results[0].hypothesis.score == 0.75
    expected = {
        Point2D: {"x": "double", "y": "double"},
        Pose2D: {"position": "vision_msgs/Point2D", "theta": "double"},
        BoundingBox2D: {"center": "vision_msgs/Pose2D", "size_x": "double", "size_y": "double"},
        ObjectHypothesis: {"class_id": "string", "score": "double"},
        ObjectHypothesisWithPose: {
            "hypothesis": "vision_msgs/ObjectHypothesis",
            "pose": "geometry_msgs/PoseWithCovariance",
        },
        Detection2D: {
            "header": "std_msgs/Header",
            "results": "sequence<vision_msgs/ObjectHypothesisWithPose>",
            "bbox": "vision_msgs/BoundingBox2D",
            "id": "string",
        },
        Detection2DArray: {
            "header": "std_msgs/Header",
            "detections": "sequence<vision_msgs/Detection2D>",
        },
    }
    for message_type, fields in expected.items():
        assert message_type.get_fields_and_field_types() == fields, message_type.__name__


def test_publisher_and_subscriber_exchange_detections() -> None:
    code = """
        import os, time
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node("environment_test", context=context)
        topic = f"environment_test_{os.getpid()}"
        received = []
        node.create_subscription(Detection2DArray, topic, received.append, 10)
        publisher = node.create_publisher(Detection2DArray, topic, 10)
        message = Detection2DArray(detections=[Detection2D()])
        message.detections[0].bbox.center.position.x = 12.5
        message.detections[0].results.append(ObjectHypothesisWithPose())
        message.detections[0].results[0].hypothesis.score = 0.9
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 10.0
        while not received and time.monotonic() < deadline:
            publisher.publish(message)
            executor.spin_once(timeout_sec=0.05)
        assert received, "no message received"
        detection = received[0].detections[0]
        assert detection.bbox.center.position.x == 12.5
        assert abs(detection.results[0].hypothesis.score - 0.9) < 1e-12
        node.destroy_node()
        rclpy.shutdown(context=context)
    """
    result = run_python(code, subprocess_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not IN_VENV, reason="console scripts are checked in the development venv")
@pytest.mark.parametrize("script", ["rgbt-track", "tracker_node"])
def test_console_script_is_in_the_venv_bin(script: str) -> None:
    path = Path(sys.prefix, "bin", script)
    assert path.is_file(), f"{path} missing: run make setup"
    assert os.access(path, os.X_OK)


def test_subprocess_env_drops_the_bootstrap_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    own_lib = os.path.join(sys.prefix, "lib")
    monkeypatch.setenv(BOOTSTRAP_GUARD_VARIABLE, "1")
    library_path = ["/opt/user/lib", own_lib, "/opt/other/lib"]
    monkeypatch.setenv("LD_LIBRARY_PATH", os.pathsep.join(library_path))
    monkeypatch.setenv(TRANSPORT_VARIABLE, "LARGE_DATA")
    env = subprocess_env({"ROS_DOMAIN_ID": "42"})
    assert BOOTSTRAP_GUARD_VARIABLE not in env
    assert env["LD_LIBRARY_PATH"] == os.pathsep.join(["/opt/user/lib", "/opt/other/lib"])
    assert env[TRANSPORT_VARIABLE] == "LARGE_DATA"
    assert env["ROS_DOMAIN_ID"] == "42"
    assert os.environ[BOOTSTRAP_GUARD_VARIABLE] == "1"  # the process's own environment is untouched


def test_subprocess_env_drops_ld_library_path_made_only_by_the_bootstrapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BOOTSTRAP_GUARD_VARIABLE, "1")
    monkeypatch.setenv("LD_LIBRARY_PATH", os.path.join(sys.prefix, "lib"))
    assert "LD_LIBRARY_PATH" not in subprocess_env()


def test_subprocess_env_keeps_ld_library_path_without_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BOOTSTRAP_GUARD_VARIABLE, raising=False)
    value = os.pathsep.join([os.path.join(sys.prefix, "lib"), "/opt/user/lib"])
    monkeypatch.setenv("LD_LIBRARY_PATH", value)
    assert subprocess_env()["LD_LIBRARY_PATH"] == value


@pytest.mark.skipif(not ROS_FROM_WHEELS, reason="only the PyPI ROS wheels use the bootstrap guard")
def test_inherited_guard_without_library_path_breaks_rclpy() -> None:
    """Why subprocess_env() exists: the guard stops the child's bootstrapper."""
    env = subprocess_env()
    env.pop("LD_LIBRARY_PATH", None)
    env[BOOTSTRAP_GUARD_VARIABLE] = "1"
    result = run_python("import rclpy", env)
    assert result.returncode != 0
    assert "cannot open shared object file" in result.stderr


def test_configure_transport_sets_large_data_unless_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRANSPORT_VARIABLE, raising=False)
    assert configure_transport() == DEFAULT_TRANSPORTS
    assert os.environ[TRANSPORT_VARIABLE] == DEFAULT_TRANSPORTS
    monkeypatch.setenv(TRANSPORT_VARIABLE, "UDPv4")
    assert configure_transport() == "UDPv4"
    assert os.environ[TRANSPORT_VARIABLE] == "UDPv4"
