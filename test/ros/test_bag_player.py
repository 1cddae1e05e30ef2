"""BagPlayer and TopicRecorder over DDS with a real mcap bag."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import Image

from rgbt_tracking.data.bag_io import read_bag_messages, write_rgbt_bag
from rgbt_tracking.ros.bag_player import BagPlayer, TopicRecorder, bag_topics, message_class

from ros_helpers import wait_for


def _random_bag(path, count: int, size: tuple, seed: int, prefix: str) -> list:
    """A bag of ``count`` random RGB + thermal frames 50 ms apart; returns the frames."""
    rng = np.random.default_rng(seed)
    frames = [(1_000_000_000 + i * 50_000_000, rng.integers(0, 255, size + (3,), np.uint8),
               rng.integers(0, 255, size, np.uint8)) for i in range(count)]
    write_rgbt_bag(path, frames, rgb_topic=f"{prefix}/rgb", thermal_topic=f"{prefix}/thermal")
    return frames


def test_play_into_a_recorder_keeps_every_message(tmp_path):
    source = tmp_path / "source"
    frames = _random_bag(source, 10, (48, 64), 0, "/bp")
    assert sorted(t for t, _, _ in bag_topics(source)) == ["/bp/rgb", "/bp/thermal"]

    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("bag_player_test", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    recorder = TopicRecorder(node, tmp_path / "copy", {"/bp/rgb": "sensor_msgs/msg/Image"})
    try:
        player = BagPlayer(node, source, rate=2.0)
        assert player.wait_for_subscribers(5.0) is False   # nobody listens to /bp/thermal
        assert player.play() == 20
        assert wait_for(lambda: recorder.count == 10, 5.0)
    finally:
        recorder.close()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
    copied = [msg for _, _, msg in read_bag_messages(tmp_path / "copy")]
    assert len(copied) == 10
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in copied] == \
        [f[0] for f in frames]
    assert bytes(copied[3].data) == frames[3][1].tobytes()


def test_before_publish_holds_the_playback_and_keeps_the_recorded_spacing(tmp_path):
    source = tmp_path / "source"
    frames = _random_bag(source, 6, (16, 16), 1, "/bh")
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("bag_hold_test", context=context)
    held, sent = [], []

    def hold(topic: str, record_ns: int) -> float:
        if record_ns == frames[1][0] and not held:   # before the second frame's first image
            time.sleep(0.4)
            held.append(record_ns)
            return 0.4
        return 0.0

    try:
        player = BagPlayer(node, source, rate=1.0)
        assert player.play(on_message=lambda topic, ns: sent.append((time.monotonic(), ns)),
                           before_publish=hold) == 12
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert held == [frames[1][0]]
    times = {ns: t for t, ns in sent}   # the last message of each frame
    gaps = np.diff([times[f[0]] for f in frames])
    assert gaps[0] >= 0.4                                   # the hold
    assert np.all(np.abs(gaps[1:] - 0.05) < 0.04), gaps    # then the recorded 50 ms again


def test_recorder_refuses_an_existing_bag_and_player_a_missing_one(tmp_path):
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node("bag_errors_test", context=context)
    try:
        (tmp_path / "taken").mkdir()
        with pytest.raises(FileExistsError, match="taken"):
            TopicRecorder(node, tmp_path / "taken", {"/x": "sensor_msgs/msg/Image"})
        with pytest.raises(FileNotFoundError, match="nowhere"):
            BagPlayer(node, tmp_path / "nowhere")
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_message_class_lookup():
    assert message_class("sensor_msgs/msg/Image") is Image
    with pytest.raises(ValueError, match="pkg/msg/Name"):
        message_class("sensor_msgs/Image")
    with pytest.raises(ValueError, match="not installed"):
        message_class("no_such_pkg/msg/Thing")
