"""Bag I/O with rosbags: RGB-T image bags, generic records, vision_msgs detections."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rgbt_tracking.data.bag_io import (DEFAULT_RGB_TOPIC, DEFAULT_THERMAL_TOPIC,
                                       BoxRecord, MessageConversionError,
                                       detection_array_to_boxes, make_detection_array,
                                       read_bag_messages, read_image_topic,
                                       typestore_with_vision_msgs, write_messages,
                                       write_rgbt_bag)

cv2 = pytest.importorskip("cv2")

LLVIP = Path("/work/shared/data/llvip_pairs")
T0 = 1_700_000_000_000_000_000  # ns
FRAME_NS = 33_333_333


@pytest.fixture(scope="module")
def llvip_frames():
    """Five real RGB-T pairs, 320x256: (stamp_ns, rgb HxWx3 uint8 RGB, thermal HxW uint8)."""
    names = sorted(p.name for p in (LLVIP / "visible").glob("*.jpg"))[:5]
    if len(names) < 5:
        pytest.skip(f"LLVIP sample pairs not found under {LLVIP}")
    frames = []
    for i, name in enumerate(names):
        bgr = cv2.imread(str(LLVIP / "visible" / name), cv2.IMREAD_COLOR)
        ir = cv2.imread(str(LLVIP / "infrared" / name), cv2.IMREAD_GRAYSCALE)
        rgb = cv2.cvtColor(cv2.resize(bgr, (320, 256), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB)
        thermal = cv2.resize(ir, (320, 256), interpolation=cv2.INTER_AREA)
        frames.append((T0 + i * FRAME_NS, rgb, thermal))
    return frames


def test_rgbt_bag_round_trip_is_pixel_exact(tmp_path, llvip_frames):
    bag = tmp_path / "pairs"
    assert write_rgbt_bag(bag, llvip_frames) == 5
    assert list(bag.glob("*.mcap")) and (bag / "metadata.yaml").exists()

    rgb_back = list(read_image_topic(bag, DEFAULT_RGB_TOPIC))
    thermal_back = list(read_image_topic(bag, DEFAULT_THERMAL_TOPIC))
    assert len(rgb_back) == len(thermal_back) == 5
    for (stamp, rgb, thermal), got_rgb, got_thermal in zip(llvip_frames, rgb_back,
                                                           thermal_back):
        assert got_rgb.stamp_ns == got_thermal.stamp_ns == stamp
        assert (got_rgb.encoding, got_thermal.encoding) == ("rgb8", "mono8")
        assert (got_rgb.frame_id, got_thermal.frame_id) == ("camera_rgb", "camera_thermal")
        assert got_rgb.image.dtype == np.uint8 and got_rgb.image.shape == (256, 320, 3)
        np.testing.assert_array_equal(got_rgb.image, rgb)
        np.testing.assert_array_equal(got_thermal.image, thermal)

    records = list(read_bag_messages(bag))
    assert sorted(topic for topic, _, _ in records) == sorted(
        [DEFAULT_RGB_TOPIC] * 5 + [DEFAULT_THERMAL_TOPIC] * 5)
    assert sorted({stamp for _, stamp, _ in records}) == [s for s, _, _ in llvip_frames]


def test_uint16_and_float_thermal_and_sqlite_storage(tmp_path, llvip_frames):
    stamp, rgb, thermal = llvip_frames[0]
    counts = thermal.astype(np.uint16) * 257 + 3
    kelvin = thermal.astype(np.float32) / 10.0 + 273.15
    frames = [(stamp, rgb, counts), (stamp + FRAME_NS, None, kelvin)]
    bag = tmp_path / "sqlite_bag"
    write_rgbt_bag(bag, frames, rgb_topic="/rgb", thermal_topic="/ir", storage="sqlite3")
    back = list(read_image_topic(bag, "/ir"))
    assert [b.encoding for b in back] == ["mono16", "32FC1"]
    np.testing.assert_array_equal(back[0].image, counts)
    np.testing.assert_array_equal(back[1].image, kelvin)
    assert len(list(read_image_topic(bag, "/rgb"))) == 1


def test_refuses_to_overwrite_unless_asked(tmp_path, llvip_frames):
    bag = tmp_path / "existing"
    write_rgbt_bag(bag, llvip_frames[:1])
    with pytest.raises(FileExistsError, match=str(bag)):
        write_rgbt_bag(bag, llvip_frames)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_messages(bag, [])
    write_rgbt_bag(bag, llvip_frames[:2], overwrite=True)
    assert len(list(read_image_topic(bag, DEFAULT_RGB_TOPIC))) == 2


def test_bad_frame_raises_and_leaves_no_partial_bag(tmp_path, llvip_frames):
    stamp, rgb, _ = llvip_frames[0]
    bag = tmp_path / "bad"
    with pytest.raises(ValueError, match=r"frame 1: thermal must be an HxW .*float64"):
        write_rgbt_bag(bag, [llvip_frames[0], (stamp, rgb, np.zeros((4, 4)))])
    assert not bag.exists()


def test_reading_errors_name_the_problem(tmp_path, llvip_frames):
    with pytest.raises(FileNotFoundError, match="no bag at"):
        read_bag_messages(tmp_path / "missing")  # raised at the call, not when iterated
    bag = tmp_path / "pairs"
    write_rgbt_bag(bag, llvip_frames[:1])
    with pytest.raises(KeyError, match=r"/nope.*/camera/rgb/image"):
        read_image_topic(bag, "/nope")


def test_typestore_has_vision_msgs():
    typestore = typestore_with_vision_msgs()
    for name in ("Point2D", "Pose2D", "BoundingBox2D", "ObjectHypothesis",
                 "ObjectHypothesisWithPose", "Detection2D", "Detection2DArray"):
        assert f"vision_msgs/msg/{name}" in typestore.types
    _, fields = typestore.fielddefs["vision_msgs/msg/Detection2D"]
    assert [name for name, _ in fields] == ["header", "results", "bbox", "id"]


def test_detection_array_round_trip(tmp_path):
    typestore = typestore_with_vision_msgs()
    boxes = [(10.0, 20.0, 30.0, 40.0, 0.9), (100.5, 50.25, 8.0, 6.0, 0.25)]
    msg = make_detection_array(typestore, T0, "camera_rgb", boxes, ids=["1", "2"])
    records = [("/tracker_node/detections", T0 + k * FRAME_NS, msg) for k in range(3)]
    bag = tmp_path / "detections"
    assert write_messages(bag, records) == 3
    back = list(read_bag_messages(bag, ["/tracker_node/detections"]))
    assert [stamp for _, stamp, _ in back] == [T0, T0 + FRAME_NS, T0 + 2 * FRAME_NS]
    first = back[0][2]
    assert first.__msgtype__ == "vision_msgs/msg/Detection2DArray"
    assert first.header.frame_id == "camera_rgb"
    assert first.detections[1].id == "2"
    assert first.detections[0].results[0].hypothesis.class_id == "target"
    assert first.detections[0].bbox.center.position.x == pytest.approx(25.0)
    assert detection_array_to_boxes(first) == [BoxRecord(T0, *box) for box in boxes]


def _rclpy_like_detection_array(stamp_ns, x, y, w, h, score):
    """What an rclpy vision_msgs Detection2DArray looks like to duck typing."""
    def time(ns):
        return SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9)

    header = SimpleNamespace(stamp=time(stamp_ns), frame_id="camera_rgb")
    pose = SimpleNamespace(
        pose=SimpleNamespace(position=SimpleNamespace(x=0.0, y=0.0, z=0.0),
                             orientation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0)),
        covariance=[0.0] * 36)
    detection = SimpleNamespace(
        header=SimpleNamespace(stamp=time(0), frame_id=""),
        results=[SimpleNamespace(
            hypothesis=SimpleNamespace(class_id="target", score=score), pose=pose)],
        bbox=SimpleNamespace(center=SimpleNamespace(
            position=SimpleNamespace(x=x + w / 2, y=y + h / 2), theta=0.0),
            size_x=w, size_y=h),
        id="")
    return SimpleNamespace(header=header, detections=[detection])


def test_write_messages_converts_foreign_messages_by_duck_typing(tmp_path):
    live = [_rclpy_like_detection_array(T0 + k * FRAME_NS, 5.0 + k, 6.0, 7.0, 8.0, 0.5)
            for k in range(2)]
    bag = tmp_path / "live"
    write_messages(bag, [("/det", T0 + k * FRAME_NS, m) for k, m in enumerate(live)],
                   msgtypes={"/det": "vision_msgs/msg/Detection2DArray"})
    boxes = [detection_array_to_boxes(m)[0] for _, _, m in read_bag_messages(bag)]
    assert boxes == [BoxRecord(T0, 5.0, 6.0, 7.0, 8.0, 0.5),
                     BoxRecord(T0 + FRAME_NS, 6.0, 6.0, 7.0, 8.0, 0.5)]
    assert detection_array_to_boxes(live[1]) == boxes[1:]  # the same on the live message


def test_write_messages_type_errors(tmp_path):
    with pytest.raises(ValueError, match="give it in msgtypes"):
        write_messages(tmp_path / "a", [("/x", T0, SimpleNamespace())])
    broken = _rclpy_like_detection_array(T0, 1.0, 2.0, 3.0, 4.0, 0.5)
    del broken.detections[0].bbox.size_x
    with pytest.raises(MessageConversionError,
                       match=r"Detection2DArray\.detections\[0\]\.bbox.*size_x"):
        write_messages(tmp_path / "b", [("/det", T0, broken)],
                       msgtypes={"/det": "vision_msgs/msg/Detection2DArray"})
    assert not (tmp_path / "b").exists()


def test_write_messages_accepts_rclpy_messages_and_cdr_bytes(tmp_path):
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    serialization = pytest.importorskip("rclpy.serialization")
    from rgbt_tracking.ros.image_conversion import image_to_numpy, numpy_to_image

    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    msg = numpy_to_image(image, "rgb8")
    msg.header.frame_id = "camera_rgb"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 3, 4
    assert isinstance(msg, sensor_msgs.Image)
    bag = tmp_path / "rclpy"
    write_messages(bag, [("/image", T0, msg),
                         ("/image_cdr", T0 + 1, serialization.serialize_message(msg))],
                   msgtypes={"/image_cdr": "sensor_msgs/msg/Image"})
    back = {topic: m for topic, _, m in read_bag_messages(bag)}
    for topic in ("/image", "/image_cdr"):
        assert back[topic].header.frame_id == "camera_rgb"
        assert back[topic].header.stamp.nanosec == 4
        np.testing.assert_array_equal(image_to_numpy(back[topic]), image)
