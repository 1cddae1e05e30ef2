"""sensor_msgs/Image <-> numpy: round trips, padding, byte order, errors, speed."""
import time

import numpy as np
import pytest

from rgbt_tracking.ros.image_conversion import (ENCODINGS, ImageConversionError,
                                                image_to_numpy, numpy_to_image, to_rgb,
                                                to_thermal)

sensor_msgs = pytest.importorskip("sensor_msgs.msg")
std_msgs = pytest.importorskip("std_msgs.msg")
Image = sensor_msgs.Image

RNG = np.random.default_rng(0)


def _random_image(encoding, height=7, width=5):
    info = ENCODINGS[encoding]
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    if info.dtype == np.float32:
        return RNG.normal(300.0, 20.0, shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(info.dtype).max, shape, endpoint=True,
                        dtype=info.dtype)


def _raw_message(array, encoding, step, bigendian=False):
    """An rclpy Image whose rows are ``step`` bytes long (padding filled with 0xAB)."""
    height, width = array.shape[:2]
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(array, dtype=dtype).reshape(height, -1).view(np.uint8)
    padded = np.full((height, step), 0xAB, dtype=np.uint8)
    padded[:, :rows.shape[1]] = rows
    msg = Image()
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian, msg.step = int(bigendian), step
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_every_encoding(encoding):
    array = _random_image(encoding)
    header = std_msgs.Header(frame_id="camera_rgb")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = numpy_to_image(array, encoding, header=header)
    assert isinstance(msg, Image)
    assert msg.encoding == encoding and msg.is_bigendian == 0
    assert msg.height == array.shape[0] and msg.width == array.shape[1]
    assert msg.step == array.shape[1] * ENCODINGS[encoding].channels * array.itemsize
    assert len(msg.data) == msg.step * msg.height
    assert msg.header.frame_id == "camera_rgb" and msg.header.stamp.nanosec == 345
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_view_shares_memory_and_copy_does_not():
    array = _random_image("rgb8")
    msg = numpy_to_image(array, "rgb8")
    view = image_to_numpy(msg)
    owned = image_to_numpy(msg, copy=True)
    msg.data[0] = (int(msg.data[0]) + 1) % 256
    assert view[0, 0, 0] == msg.data[0]
    assert owned[0, 0, 0] == array[0, 0, 0]


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "mono16", "32FC1", "bgra8"])
def test_padded_step(encoding):
    array = _random_image(encoding, height=6, width=9)
    row = array.shape[1] * ENCODINGS[encoding].channels * array.itemsize
    msg = _raw_message(array, encoding, step=row + 12)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_padded_step_not_multiple_of_itemsize():
    array = _random_image("mono16", height=4, width=3)
    msg = _raw_message(array, "mono16", step=3 * 2 + 1)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_big_endian_mono16_becomes_native():
    array = np.arange(12, dtype=np.uint16).reshape(3, 4) * 4099
    msg = _raw_message(array, "mono16", step=8, bigendian=True)
    back = image_to_numpy(msg)
    assert back.dtype == np.uint16 and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_big_endian_float_with_padding():
    array = _random_image("32FC1", height=3, width=4)
    msg = _raw_message(array, "32FC1", step=4 * 4 + 8, bigendian=True)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_duck_typed_message_with_numpy_data():
    class Plain:  # what rosbags deserialises: data is a uint8 numpy array
        height, width, encoding, is_bigendian, step = 2, 3, "16UC1", 0, 6
        data = np.arange(12, dtype=np.uint8)

    np.testing.assert_array_equal(image_to_numpy(Plain()),
                                  np.arange(12, dtype=np.uint8).view("<u2").reshape(2, 3))


def test_error_step_too_small():
    msg = _raw_message(_random_image("rgb8", 4, 5), "rgb8", step=15)
    msg.step = 14
    with pytest.raises(ImageConversionError, match=r"step 14 is smaller than one row.*15"):
        image_to_numpy(msg)


def test_error_unknown_encoding_lists_supported():
    msg = _raw_message(_random_image("mono8"), "yuv422", step=5)
    with pytest.raises(ImageConversionError, match=r"'yuv422'.*rgb8.*32FC1"):
        image_to_numpy(msg)


def test_error_data_length_mismatch():
    msg = _raw_message(_random_image("mono8", 4, 5), "mono8", step=5)
    msg.data = bytes(19)
    with pytest.raises(ImageConversionError, match=r"data length 19 != step 5 x height 4"):
        image_to_numpy(msg)


def test_error_zero_size():
    msg = Image(height=0, width=5, encoding="mono8", step=5)
    with pytest.raises(ImageConversionError, match="zero size"):
        image_to_numpy(msg)


def test_encoding_case_insensitive_fallback():
    msg = _raw_message(_random_image("16UC1"), "16uc1", step=10)
    assert image_to_numpy(msg).dtype == np.uint16


@pytest.mark.parametrize("array, encoding, pattern", [
    (np.zeros((4, 4, 3), np.uint16), "rgb8", "needs dtype uint8"),
    (np.zeros((4, 4), np.uint8), "rgb8", r"HxWx3 array, got shape \(4, 4\)"),
    (np.zeros((4, 4, 2), np.uint16), "mono16", r"HxW array"),
    (np.zeros((0, 4), np.uint8), "mono8", "zero size"),
    (np.zeros((4, 4), np.float64), "32FC1", "needs dtype float32"),
])
def test_numpy_to_image_validates(array, encoding, pattern):
    with pytest.raises(ImageConversionError, match=pattern):
        numpy_to_image(array, encoding)


def test_numpy_to_image_accepts_hxwx1_noncontiguous_and_big_endian():
    base = np.arange(48, dtype=np.uint16).reshape(6, 8)
    msg = numpy_to_image(base[::2, ::2, None].astype(">u2"), "mono16")
    np.testing.assert_array_equal(image_to_numpy(msg), base[::2, ::2])
    assert msg.is_bigendian == 0


def test_numpy_to_image_rosbags_type():
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="f")
    array = _random_image("bgr8")
    msg = numpy_to_image(array, "bgr8", header, msg_type=types["sensor_msgs/msg/Image"])
    raw = store.serialize_cdr(msg, "sensor_msgs/msg/Image")
    back = store.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(image_to_numpy(back), array)
    with pytest.raises(ImageConversionError, match="header is required"):
        numpy_to_image(array, "bgr8", msg_type=types["sensor_msgs/msg/Image"])


def test_to_rgb():
    rgb = _random_image("rgb8")
    assert to_rgb(rgb, "rgb8") is rgb
    np.testing.assert_array_equal(to_rgb(rgb[:, :, ::-1], "bgr8"), rgb)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb(rgba, "rgba8"), rgb)
    np.testing.assert_array_equal(to_rgb(rgba[:, :, [2, 1, 0, 3]], "bgra8"), rgb)
    grey = rgb[:, :, 0]
    out = to_rgb(grey, "mono8")
    assert out.shape == rgb.shape and (out == grey[:, :, None]).all()
    with pytest.raises(ImageConversionError, match="not an 8-bit"):
        to_rgb(_random_image("mono16"), "mono16")


def test_to_thermal():
    counts = _random_image("mono16")
    assert to_thermal(counts, "16UC1").dtype == np.uint16
    kelvin = _random_image("32FC1")
    assert to_thermal(kelvin, "32FC1") is kelvin
    grey = _random_image("mono8")
    replicated = np.repeat(grey[:, :, None], 3, axis=2)
    out = to_thermal(replicated, "bgr8")
    assert out.shape == grey.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, grey)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[..., 0] = 255  # pure red: luminance 0.299 * 255 = 76.2 (fixed point: 77)
    red = to_thermal(colour, "rgb8")
    assert red.dtype == np.uint8 and np.abs(red.astype(int) - 76).max() <= 1
    np.testing.assert_array_equal(to_thermal(colour[:, :, ::-1], "bgr8"), red)
    with pytest.raises(ImageConversionError, match="needs dtype uint16"):
        to_thermal(grey, "mono16")


def test_full_hd_rgb_round_trip_is_exact_and_reading_copies_nothing():
    # Speed figures live in benchmarks/bench_image_conversion.py; here the behaviour behind
    # them: the message -> array direction is a view on the message's buffer.
    array = RNG.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    msg = numpy_to_image(array, "rgb8")
    back = image_to_numpy(msg)
    np.testing.assert_array_equal(back, array)
    assert np.shares_memory(back, np.frombuffer(msg.data, dtype=np.uint8))
