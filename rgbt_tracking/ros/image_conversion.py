"""sensor_msgs/Image <-> numpy, written with numpy alone (cv_bridge has no wheel).

No rclpy at module level: the functions take any object with the fields of
``sensor_msgs/msg/Image`` (``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``,
``data``), so they work on rclpy messages and on messages deserialised by ``rosbags`` alike.

Supported encodings (``sensor_msgs/image_encodings.hpp`` names):

========  ======  ========  ============================
encoding  dtype   channels  meaning
========  ======  ========  ============================
rgb8      uint8   3         colour, R G B
bgr8      uint8   3         colour, B G R
rgba8     uint8   4         colour + alpha
bgra8     uint8   4         colour + alpha
mono8     uint8   1         grey
mono16    uint16  1         grey / radiometric counts
8UC1      uint8   1         generic one-channel
8UC3      uint8   3         generic three-channel
16UC1     uint16  1         generic (thermal counts, depth mm)
32FC1     float32 1         generic (temperature, depth m)
========  ======  ========  ============================

Measured costs for 1920x1080 rgb8 on the development machine (median of 30):
``image_to_numpy`` is a zero-copy view (4 us; 0.2 ms with ``copy=True``; 0.1 ms to
byte-swap big-endian mono16); ``numpy_to_image`` copies the pixels once into an rclpy
message (0.4-0.7 ms) and not at all into a rosbags message; ``to_rgb`` on bgr8 2 ms.
"""
from __future__ import annotations

import array as pyarray
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np


class ImageConversionError(ValueError):
    """An Image message or array that cannot be converted; the message names the problem."""


class EncodingInfo(NamedTuple):
    """Pixel layout of one encoding: element ``dtype`` (native order) and ``channels``."""

    dtype: np.dtype
    channels: int


ENCODINGS: Dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(np.dtype(np.uint8), 3),
    "bgr8": EncodingInfo(np.dtype(np.uint8), 3),
    "rgba8": EncodingInfo(np.dtype(np.uint8), 4),
    "bgra8": EncodingInfo(np.dtype(np.uint8), 4),
    "mono8": EncodingInfo(np.dtype(np.uint8), 1),
    "mono16": EncodingInfo(np.dtype(np.uint16), 1),
    "8UC1": EncodingInfo(np.dtype(np.uint8), 1),
    "8UC3": EncodingInfo(np.dtype(np.uint8), 3),
    "16UC1": EncodingInfo(np.dtype(np.uint16), 1),
    "32FC1": EncodingInfo(np.dtype(np.float32), 1),
}

_BY_LOWER = {name.lower(): name for name in ENCODINGS}


def encoding_info(encoding: str) -> EncodingInfo:
    """Layout of ``encoding``; matching is exact, then case-insensitive ("8uc1" -> "8UC1").

    Raises:
        ImageConversionError: unknown encoding; the message lists the supported ones.
    """
    info = ENCODINGS.get(encoding)
    if info is None:
        canonical = _BY_LOWER.get(str(encoding).lower())
        if canonical is None:
            raise ImageConversionError(
                f"unsupported image encoding {encoding!r}; supported: "
                f"{', '.join(ENCODINGS)}")
        info = ENCODINGS[canonical]
    return info


def _byte_buffer(data: Any) -> np.ndarray:
    """View ``data`` (bytes, bytearray, array.array, memoryview, numpy array) as flat uint8.

    Zero-copy for anything exposing the buffer protocol; lists are copied.
    """
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8 and data.ndim == 1:
            return data
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_numpy(msg: Any, copy: bool = False) -> np.ndarray:
    """Convert a ``sensor_msgs/Image``-like message to a numpy array.

    Args:
        msg: object with ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``
            (bytes per row, >= width * channels * itemsize; larger means padded rows) and
            ``data`` (step * height bytes).
        copy: return an array that owns its memory. By default the result is a view of
            ``msg.data`` whenever possible (no padding issue: padded rows are skipped with
            strides), so it changes if the message buffer is modified and may be
            read-only (``bytes`` data).

    Returns:
        HxW (one channel) or HxWxC array with the encoding's dtype in native byte order:
        uint8 for *8 encodings, uint16 for mono16/16UC1, float32 for 32FC1. Channels stay
        in the encoding's order (bgr8 stays BGR; see :func:`to_rgb`). Big-endian data is
        byte-swapped (this copies).

    Raises:
        ImageConversionError: unknown encoding, zero width or height, ``step`` smaller than
            a row, or ``len(data) != step * height``.
    """
    encoding = str(msg.encoding)
    info = encoding_info(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            f"image has zero size: {width}x{height} (width x height), encoding {encoding}")
    itemsize = info.dtype.itemsize
    pixel_bytes = info.channels * itemsize
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than one row: width {width} x {info.channels} "
            f"channel(s) x {itemsize} byte(s) = {row_bytes} bytes ({encoding})")
    buffer = _byte_buffer(msg.data)
    if buffer.size != step * height:
        raise ImageConversionError(
            f"data length {buffer.size} != step {step} x height {height} = "
            f"{step * height} bytes ({width}x{height} {encoding})")
    dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    if itemsize == 1 or step % itemsize == 0:
        array = np.ndarray(shape=(height, width, info.channels), dtype=dtype, buffer=buffer,
                            strides=(step, pixel_bytes, itemsize))
    else:
        # Rows that do not start on an element boundary: gather the rows first.
        rows = buffer.reshape(height, step)[:, :row_bytes]
        array = np.ascontiguousarray(rows).view(dtype).reshape(height, width, info.channels)
    if not dtype.isnative:
        array = array.astype(info.dtype)  # byte swap; copies
    elif copy:
        array = array.copy()
    if info.channels == 1:
        array = array[:, :, 0]
    return array


def _default_image_type() -> type:
    from sensor_msgs.msg import Image  # lazy: keeps this module importable without ROS

    return Image


def numpy_to_image(array: np.ndarray, encoding: str, header: Any = None,
                   msg_type: Optional[type] = None) -> Any:
    """Build a ``sensor_msgs/Image`` from an array.

    Args:
        array: HxW or HxWx1 (one-channel encodings) or HxWxC array whose dtype matches the
            encoding: uint8 (rgb8, bgr8, rgba8, bgra8, mono8, 8UC1, 8UC3), uint16 (mono16,
            16UC1), float32 (32FC1). Any memory layout and byte order.
        encoding: one of :data:`ENCODINGS`.
        header: ``std_msgs/Header`` to put in the message (not copied). Required when
            ``msg_type`` is a rosbags type; default for rclpy is an empty header.
        msg_type: message class; default ``sensor_msgs.msg.Image`` (rclpy, imported here).
            A rosbags class (one with ``__msgtype__``, e.g. ``typestore.types[
            'sensor_msgs/msg/Image']``) is filled with a uint8 numpy ``data`` array that is
            a view of ``array`` when it is already contiguous little-endian.

    Returns:
        A message with height, width, encoding, ``is_bigendian = 0``,
        ``step = width * channels * itemsize`` (no padding) and the pixel bytes.

    Raises:
        ImageConversionError: not a numpy array, unknown encoding, dtype or shape that does
            not fit the encoding, zero size, missing header for a rosbags type.
    """
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(
            f"expected a numpy array, got {type(array).__name__}")
    info = encoding_info(encoding)
    encoding = encoding if encoding in ENCODINGS else _BY_LOWER[encoding.lower()]
    if array.dtype.newbyteorder("=") != info.dtype:
        raise ImageConversionError(
            f"encoding {encoding} needs dtype {info.dtype}, got {array.dtype}")
    if info.channels == 1 and array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    expected_ndim = 2 if info.channels == 1 else 3
    if array.ndim != expected_ndim or (expected_ndim == 3
                                        and array.shape[2] != info.channels):
        wanted = "HxW" if info.channels == 1 else f"HxWx{info.channels}"
        raise ImageConversionError(
            f"encoding {encoding} needs a {wanted} array, got shape {array.shape}")
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(f"array has zero size: shape {array.shape}")
    little = np.ascontiguousarray(array, dtype=info.dtype.newbyteorder("<"))
    flat = little.reshape(-1).view(np.uint8)
    step = width * info.channels * info.dtype.itemsize
    msg_type = msg_type if msg_type is not None else _default_image_type()
    if hasattr(msg_type, "__msgtype__"):  # rosbags dataclass: all fields at construction
        if header is None:
            raise ImageConversionError(
                "a header is required to build a rosbags Image message")
        return msg_type(header=header, height=height, width=width, encoding=encoding,
                        is_bigendian=0, step=step, data=flat)
    msg = msg_type()
    if header is not None:
        msg.header = header
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = step
    data = pyarray.array("B")
    data.frombytes(flat.data)  # one memcpy; rclpy accepts array('B') without checks
    msg.data = data
    return msg


def to_rgb(image: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an image array in ``encoding`` to the tracker's RGB layout.

    Args:
        image: array as returned by :func:`image_to_numpy` for ``encoding``.
        encoding: rgb8 / 8UC3 (returned as is), bgr8 (channels swapped), rgba8 / bgra8
            (alpha dropped), mono8 / 8UC1 (grey replicated to three channels). 16-bit and
            float encodings are not colour images and are refused.

    Returns:
        HxWx3 uint8 in R, G, B order; a view of ``image`` when no change is needed.

    Raises:
        ImageConversionError: an encoding that is not an 8-bit image, or an array whose
            shape or dtype does not fit the encoding.
    """
    info = encoding_info(encoding)
    name = encoding if encoding in ENCODINGS else _BY_LOWER[encoding.lower()]
    _check_layout(image, info, name)
    if name in ("rgb8", "8UC3"):
        return image
    if name in ("bgr8", "rgba8", "bgra8"):
        source = (2, 1, 0) if name.startswith("bgr") else (0, 1, 2)
        return _select_channels(image, source)
    if name in ("mono8", "8UC1"):
        grey = image if image.ndim == 2 else image[:, :, 0]
        return np.repeat(grey[:, :, None], 3, axis=2)
    raise ImageConversionError(
        f"encoding {name} is not an 8-bit colour or grey image; cannot use it as the RGB "
        "input (rgb8, bgr8, rgba8, bgra8, mono8, 8UC1, 8UC3 are accepted)")


def to_thermal(image: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an image array in ``encoding`` to the tracker's thermal layout.

    Thermal cameras publish one-channel images (mono8, mono16/16UC1 radiometric counts,
    32FC1 temperatures) or, through colour-oriented drivers, a grey image replicated in
    three channels. The tracker API takes HxW uint8, uint16 or float32.

    Args:
        image: array as returned by :func:`image_to_numpy` for ``encoding``.
        encoding: mono8 / 8UC1 / mono16 / 16UC1 / 32FC1 (returned as HxW, dtype kept);
            rgb8 / bgr8 / 8UC3 / rgba8 / bgra8: the ITU-R BT.601 luminance in 8-bit fixed
            point, ``(77 R + 150 G + 29 B + 128) >> 8``, which returns a replicated grey
            value exactly (about 2 ms for 640x512, 10 ms for 1920x1080).

    Returns:
        HxW uint8, uint16 or float32 (native byte order).

    Raises:
        ImageConversionError: shape or dtype that does not fit the encoding.
    """
    info = encoding_info(encoding)
    name = encoding if encoding in ENCODINGS else _BY_LOWER[encoding.lower()]
    _check_layout(image, info, name)
    if info.channels == 1:
        grey = image if image.ndim == 2 else image[:, :, 0]
        return grey.astype(info.dtype, copy=False)  # native byte order
    red, blue = (2, 0) if name.startswith("bgr") else (0, 2)
    weighted = np.multiply(image[:, :, red], 77, dtype=np.uint16)  # <= 255 * 256: no overflow
    weighted += np.multiply(image[:, :, 1], 150, dtype=np.uint16)
    weighted += np.multiply(image[:, :, blue], 29, dtype=np.uint16)
    weighted += 128
    weighted >>= 8
    return weighted.astype(np.uint8)


def _select_channels(image: np.ndarray, source: Tuple[int, int, int]) -> np.ndarray:
    """HxWx3 contiguous copy whose channel i is ``image[:, :, source[i]]``.

    One strided copy per channel: about 10x faster than ``ascontiguousarray`` on a
    reversed-channel view (1.8 ms instead of 14 ms for 1920x1080).
    """
    out = np.empty(image.shape[:2] + (3,), dtype=image.dtype)
    for target, channel in enumerate(source):
        out[:, :, target] = image[:, :, channel]
    return out


def _check_layout(image: np.ndarray, info: EncodingInfo, name: str) -> None:
    """Raise ImageConversionError unless ``image`` is an array laid out as ``name``."""
    if not isinstance(image, np.ndarray):
        raise ImageConversionError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype.newbyteorder("=") != info.dtype:
        raise ImageConversionError(
            f"encoding {name} needs dtype {info.dtype}, got {image.dtype}")
    ok = (image.ndim == 3 and image.shape[2] == info.channels) or (
        info.channels == 1 and image.ndim == 2)
    if not ok:
        wanted = "HxW" if info.channels == 1 else f"HxWx{info.channels}"
        raise ImageConversionError(
            f"encoding {name} needs a {wanted} array, got shape {image.shape}")
