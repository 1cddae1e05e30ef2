"""The launch file's node graph in one process, without ``launch``/``launch_ros``.

``launch`` and ``launch_ros`` have no PyPI wheels, so where ROS 2 is not installed from apt
this module hosts the same nodes, driven by the same parameter file and remappings, on one
multi-threaded executor (``rgbt-track launch``). On a robot, ``ros2 launch rgbt_tracking
tracker.launch.py`` starts the same graph as separate processes.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rgbt_tracking.ros.environment import configure_transport

configure_transport()

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from rgbt_tracking.core.config import find_config_file  # noqa: E402
from rgbt_tracking.data.bag_io import DEFAULT_RGB_TOPIC, DEFAULT_THERMAL_TOPIC  # noqa: E402

DEFAULT_REMAPPINGS = {
    "rgb/image": DEFAULT_RGB_TOPIC,          # the launch file's rgb_topic default
    "thermal/image": DEFAULT_THERMAL_TOPIC,  # the launch file's thermal_topic default
}


def default_params_file() -> Path:
    """The package's ``config/tracker.yaml``."""
    return find_config_file("tracker.yaml")


def node_arguments(params_file: Optional[Path | str],
                   remappings: Mapping[str, str]) -> List[str]:
    """ROS command-line arguments for one node: parameter file and remappings."""
    args = ["--ros-args"]
    if params_file is not None:
        path = Path(params_file)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file not found: {path}")
        args += ["--params-file", str(path)]
    for source, target in remappings.items():
        args += ["-r", f"{source}:={target}"]
    return args


def parameter_overrides(values: Mapping[str, Any]) -> List[Parameter]:
    """rclpy Parameters from a plain mapping (lists of numbers become double arrays)."""
    overrides = []
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            value = [float(v) for v in value]
        overrides.append(Parameter(name, value=value))
    return overrides


class NodeGraph:
    """Nodes of tracker.launch.py hosted on one single-threaded executor.

    Args:
        params_file: ROS 2 parameter file (default: the package's config/tracker.yaml).
        remappings: topic remappings applied to every node (default: the camera topics of
            the launch file).
        tracker_overrides: parameters of tracker_node that replace the file's values.
        context: rclpy context (default: the global one; call ``rclpy.init`` first).
    """

    def __init__(self, params_file: Optional[Path | str] = None,
                 remappings: Optional[Mapping[str, str]] = None,
                 tracker_overrides: Optional[Mapping[str, Any]] = None,
                 context: Any = None, calibration_file: Optional[Path | str] = None,
                 alignment_overrides: Optional[Mapping[str, Any]] = None) -> None:
        from rgbt_tracking.ros.tracker_node import TrackerNode

        params = Path(params_file) if params_file is not None else default_params_file()
        remap = dict(DEFAULT_REMAPPINGS if remappings is None else remappings)
        self.nodes: List[Node] = []
        if calibration_file is not None:
            # As the launch file with use_alignment:=true: the alignment node reads the
            # thermal camera's topic and the tracker reads its output, "<topic>_aligned".
            from rgbt_tracking.ros.alignment_node import AlignmentNode

            raw = remap["thermal/image"]
            aligned = f"{raw}_aligned"
            alignment_remap = {"thermal/image_raw": raw, "thermal/image": aligned,
                               "rgb/image": remap["rgb/image"]}
            settings = {"calibration_file": str(calibration_file)}
            settings.update(alignment_overrides or {})
            self.nodes.append(AlignmentNode(
                "alignment_node", context=context,
                cli_args=node_arguments(params, alignment_remap),
                parameter_overrides=parameter_overrides(settings)))
            remap["thermal/image"] = aligned
        self.nodes.insert(0, TrackerNode(
            "tracker_node", context=context, cli_args=node_arguments(params, remap),
            parameter_overrides=parameter_overrides(tracker_overrides or {})))
        # One executor thread: each node's heavy work runs in its own worker thread, and
        # rclpy's multi-threaded executor costs more in Python overhead than it gains here
        # (measured: it lost a third of the 30 Hz image pairs that this one keeps).
        self.executor = SingleThreadedExecutor(context=context)
        for node in self.nodes:
            self.executor.add_node(node)
        self._thread: Optional[threading.Thread] = None

    @property
    def tracker_node(self) -> Node:
        """The hosted tracker_node."""
        return self.nodes[0]

    def add_node(self, node: Node) -> None:
        """Host one more node (a player or a recorder) on the same executor."""
        self.nodes.append(node)
        self.executor.add_node(node)

    def start(self) -> None:
        """Spin in a background thread."""
        self._thread = threading.Thread(target=self.executor.spin, name="graph_executor",
                                        daemon=True)
        self._thread.start()

    def spin(self) -> None:
        """Spin in the calling thread until shutdown."""
        self.executor.spin()

    def shutdown(self) -> None:
        """Stop spinning and destroy the nodes."""
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def parse_assignments(items: Sequence[str], what: str) -> Dict[str, str]:
    """``["a:=b", ...]`` -> {"a": "b"}; a clear error names a malformed item."""
    out: Dict[str, str] = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"{what} must look like NAME:=VALUE, got {item!r}")
        key, value = item.split(":=", 1)
        out[key] = value
    return out


def run(params_file: Optional[str] = None, remaps: Sequence[str] = (),
        sets: Sequence[str] = (), calibration_file: Optional[str] = None) -> None:
    """Host the graph until Ctrl-C (``rgbt-track launch``)."""
    import yaml

    remappings = dict(DEFAULT_REMAPPINGS)
    remappings.update(parse_assignments(remaps, "a remapping"))
    overrides = {}
    for key, text in parse_assignments(sets, "a parameter").items():
        value = yaml.safe_load(text)
        overrides[key] = text if isinstance(value, dict) else value  # tracker_params stays YAML text
    rclpy.init(args=[])  # the CLI's own arguments are not ROS arguments
    graph = NodeGraph(params_file, remappings, overrides, calibration_file=calibration_file)
    from rclpy.executors import ExternalShutdownException

    try:
        graph.spin()
    except (KeyboardInterrupt, ExternalShutdownException):   # Ctrl-C, or SIGTERM from a parent
        print("interrupted: shutting the node graph down", flush=True)
    finally:
        graph.shutdown()
        if rclpy.ok():
            rclpy.shutdown()
