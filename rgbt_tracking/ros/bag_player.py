"""Replay of a ROS 2 bag into a live graph, and recording of live topics into a bag.

Messages travel as serialised CDR end to end: the player publishes the bag's bytes as they
are (rclpy publishes ``bytes`` without re-serialising) and the recorder subscribes raw and
writes the bytes, so nothing is converted on the way. Bags are read and written with
``rosbags`` (rosbag2 replaces it on a robot: ``ros2 bag play`` / ``ros2 bag record`` do
the same job there).
"""
from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from rgbt_tracking.data.bag_io import typestore_with_vision_msgs


def message_class(type_name: str) -> type:
    """The rclpy message class of ``pkg/msg/Name``.

    Raises:
        ValueError: malformed name or a package that is not installed.
    """
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"expected a message type 'pkg/msg/Name', got {type_name!r}")
    try:
        module = importlib.import_module(f"{parts[0]}.msg")
    except ImportError as exc:
        raise ValueError(f"message package '{parts[0]}' is not installed ({type_name})") from exc
    return getattr(module, parts[2])


class BagPlayer:
    """Publishes a bag's messages from ``node`` at their recorded rate.

    Args:
        node: the node that owns the publishers.
        bag: path of a rosbag2 folder (mcap or sqlite3).
        topics: topics to play (default: all); a mapping renames them on the way.
        rate: playback speed factor (1 = recorded rate).
        reliable: publish with reliable QoS (it reaches best-effort and reliable
            subscribers alike).
    """

    def __init__(self, node: Node, bag: Path | str, topics: Optional[Dict[str, str]] = None,
                 rate: float = 1.0, reliable: bool = True) -> None:
        self.node = node
        self.bag = Path(bag)
        if not self.bag.exists():
            raise FileNotFoundError(f"bag not found: {self.bag}")
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = float(rate)
        self.topics = topics
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        self.publishers: Dict[str, object] = {}
        with Reader(self.bag) as reader:
            for connection in reader.connections:
                if topics is not None and connection.topic not in topics:
                    continue
                out_topic = topics[connection.topic] if topics else connection.topic
                self.publishers[connection.topic] = node.create_publisher(
                    message_class(connection.msgtype), out_topic, qos)
        if not self.publishers:
            raise ValueError(f"bag {self.bag} has none of the topics {sorted(topics or [])}")
        self.published = 0

    def wait_for_subscribers(self, timeout: float = 10.0) -> bool:
        """Block until every publisher has at least one matched subscriber."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.publishers.values()):
                return True
            time.sleep(0.05)
        return False

    def play(self, on_message: Optional[Callable[[str, int], None]] = None,
             stop: Optional[threading.Event] = None,
             before_publish: Optional[Callable[[str, int], float]] = None) -> int:
        """Publish every message at its recorded time offset; returns how many.

        Args:
            on_message: called with (topic, bag timestamp ns) after each publish.
            stop: set it to end playback early.
            before_publish: called with (topic, bag timestamp ns) before each publish; it
                may block (hold the playback) and returns the seconds it held, by which
                the rest of the playback is shifted (recorded spacing kept).
        """
        start_wall: Optional[float] = None
        start_bag = 0
        with Reader(self.bag) as reader:
            connections = [c for c in reader.connections if c.topic in self.publishers]
            for connection, timestamp, raw in reader.messages(connections=connections):
                if stop is not None and stop.is_set():
                    break
                if start_wall is None:
                    start_wall, start_bag = time.monotonic(), timestamp
                if before_publish is not None:
                    start_wall += before_publish(connection.topic, timestamp)
                due = start_wall + (timestamp - start_bag) * 1e-9 / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.publishers[connection.topic].publish(bytes(raw))
                self.published += 1
                if on_message is not None:
                    on_message(connection.topic, timestamp)
        return self.published


class TopicRecorder:
    """Records topics of a live graph into a new bag (mcap), raw.

    Args:
        node: the node that owns the subscriptions.
        bag: output folder; it must not exist (nothing recorded is overwritten).
        topics: topic -> message type name ``pkg/msg/Name``.
    """

    def __init__(self, node: Node, bag: Path | str, topics: Dict[str, str]) -> None:
        self.path = Path(bag)
        if self.path.exists():
            raise FileExistsError(f"refusing to overwrite existing bag {self.path}")
        self.typestore = typestore_with_vision_msgs()
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self._lock = threading.Lock()
        self._closed = False
        self.count = 0
        self._connections = {}
        for topic, type_name in topics.items():
            self._connections[topic] = self.writer.add_connection(
                topic, type_name, typestore=self.typestore)
            node.create_subscription(message_class(type_name), topic,
                                     self._callback(topic), 50, raw=True)

    def _callback(self, topic: str) -> Callable[[bytes], None]:
        def receive(raw: bytes) -> None:
            now = time.time_ns()
            with self._lock:
                if self._closed:
                    return
                self.writer.write(self._connections[topic], now, raw)
                self.count += 1
        return receive

    def close(self) -> None:
        """Finish the bag file."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.writer.close()


def bag_topics(bag: Path | str) -> Iterable[Tuple[str, str, int]]:
    """(topic, type, message count) of each connection in a bag."""
    with Reader(Path(bag)) as reader:
        for connection in reader.connections:
            yield connection.topic, connection.msgtype, connection.msgcount
