"""ROS 2 bag files (rosbag2, MCAP or SQLite 3) read and written with ``rosbags``, no rclpy.

What is here:

* :func:`write_rgbt_bag` records RGB / thermal image pairs as ``sensor_msgs/msg/Image``;
  :func:`read_image_topic` reads an image topic back as numpy arrays.
* :func:`write_messages` / :func:`read_bag_messages` write and read any topics. Messages
  may be rosbags messages, CDR bytes, or rclpy messages (converted field by field by duck
  typing against the typestore's definition, so this module needs no rclpy).
* vision_msgs (4.x) definitions registered into the typestore
  (:func:`typestore_with_vision_msgs`), :func:`make_detection_array` and
  :func:`detection_array_to_boxes` for the tracker's ``~/detections`` output.

Bags are written in rosbag2 format version 9 (what rosbags writes; readable by
``ros2 bag`` on Jazzy and later, and by rosbags anywhere).
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import (Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from rgbt_tracking.ros.detection_messages import detection_box, stamp_to_nanoseconds
from rgbt_tracking.ros.image_conversion import image_to_numpy, numpy_to_image

DEFAULT_RGB_TOPIC = "/camera/rgb/image"
DEFAULT_THERMAL_TOPIC = "/camera/thermal/image"
DEFAULT_GT_TOPIC = "/ground_truth"
DETECTION_TYPE = "vision_msgs/msg/Detection2D"
DETECTION_ARRAY_TYPE = "vision_msgs/msg/Detection2DArray"
IMAGE_TYPE = "sensor_msgs/msg/Image"

#: vision_msgs 4.x definitions (the subset used by 2-D detection), in .msg syntax.
VISION_MSGS_DEFINITIONS: Dict[str, str] = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D":
        "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose":
        "vision_msgs/ObjectHypothesis hypothesis\n"
        "geometry_msgs/PoseWithCovariance pose\n",
    "vision_msgs/msg/Detection2D":
        "std_msgs/Header header\n"
        "vision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\n"
        "string id\n",
    "vision_msgs/msg/Detection2DArray":
        "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}

_STORAGE = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_NUMPY_TYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8,
    "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
    "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "float32": np.float32,
    "float64": np.float64,
}
_THERMAL_ENCODINGS = {np.dtype(np.uint8): "mono8", np.dtype(np.uint16): "mono16",
                      np.dtype(np.float32): "32FC1"}

MessageSource = Union[Any, bytes, memoryview]


class MessageConversionError(ValueError):
    """An object that does not fit the message type it is converted to; names the field."""


class BoxRecord(NamedTuple):
    """One detection as a box: stamp (ns), top-left (x, y), size (w, h) in pixels, score."""

    stamp_ns: int
    x: float
    y: float
    w: float
    h: float
    score: float


class BagImage(NamedTuple):
    """One image read from a bag.

    Attributes:
        stamp_ns: header stamp, nanoseconds (the camera's time, not the recording time).
        image: HxW or HxWxC array in the encoding's dtype (see ``image_to_numpy``).
        encoding: e.g. "rgb8", "mono16".
        frame_id: header frame id.
    """

    stamp_ns: int
    image: np.ndarray
    encoding: str
    frame_id: str


# ---------------------------------------------------------------------------- typestore
def typestore_with_vision_msgs(store: Stores = Stores.ROS2_KILTED) -> Typestore:
    """A fresh typestore for ``store`` with the vision_msgs 4.x types registered.

    rosbags ships no vision_msgs; the definitions in :data:`VISION_MSGS_DEFINITIONS` are
    parsed and registered (field layout identical to vision_msgs 4.x on Humble to Kilted).
    """
    typestore = get_typestore(store)
    types: Dict[str, Any] = {}
    for name, text in VISION_MSGS_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def make_header(typestore: Typestore, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags ``std_msgs/msg/Header`` with the given stamp (ns) and frame id."""
    time_type = typestore.types["builtin_interfaces/msg/Time"]
    header_type = typestore.types["std_msgs/msg/Header"]
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header_type(stamp=time_type(sec=sec, nanosec=nanosec), frame_id=frame_id)


# ---------------------------------------------------------------------------- writing
@contextlib.contextmanager
def _bag_writer(path: Union[str, Path], storage: str, overwrite: bool) -> Iterator[Writer]:
    """Open a Writer at ``path``; refuse an existing path unless ``overwrite``.

    A bag whose writing raised is removed, so no half-written bag is left behind.
    """
    path = Path(path)
    if storage not in _STORAGE:
        raise ValueError(f"unknown bag storage {storage!r}; use one of {sorted(_STORAGE)}")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"bag path {path} already exists; choose another path or pass "
                "overwrite=True to replace it")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=_STORAGE[storage])
    try:
        with writer:
            yield writer
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def write_rgbt_bag(path: Union[str, Path],
                   frames: Iterable[Tuple[int, Optional[np.ndarray], Optional[np.ndarray]]],
                   rgb_topic: str = DEFAULT_RGB_TOPIC,
                   thermal_topic: str = DEFAULT_THERMAL_TOPIC,
                   rgb_frame_id: str = "camera_rgb",
                   thermal_frame_id: str = "camera_thermal",
                   storage: str = "mcap", overwrite: bool = False,
                   ground_truth: Optional[Sequence[Optional[Sequence[float]]]] = None,
                   gt_topic: str = DEFAULT_GT_TOPIC) -> int:
    """Record RGB-thermal image pairs as two ``sensor_msgs/msg/Image`` topics, and
    optionally the target's ground truth as ``vision_msgs/msg/Detection2D`` on ``gt_topic``.

    Both images of a frame get the frame's stamp as header stamp and as recording time;
    so does the frame's ground-truth detection (frame id of the RGB camera, or of the
    thermal one when the frame has no RGB image).

    Args:
        path: bag directory to create.
        frames: ``(stamp_ns, rgb, thermal)`` tuples; ``rgb`` HxWx3 uint8 in RGB order
            (written as rgb8), ``thermal`` HxW uint8 / uint16 / float32 (written as mono8 /
            mono16 / 32FC1). Either image may be None (not written for that frame).
        rgb_topic, thermal_topic: topic names.
        rgb_frame_id, thermal_frame_id: header frame ids.
        storage: "mcap" (default) or "sqlite3".
        overwrite: replace an existing ``path`` instead of refusing.
        ground_truth: per-frame ``(x, y, w, h)`` box (pixels), indexed like ``frames``; a
            frame whose entry is None, has NaN or an empty box gets no ground-truth message
            (unannotated or target absent).
        gt_topic: topic of the ground truth.

    Returns:
        The number of frames written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: an image of the wrong shape or dtype (the message names the frame);
            the partial bag is removed.
    """
    typestore = typestore_with_vision_msgs()
    image_type = typestore.types[IMAGE_TYPE]
    count = 0
    with _bag_writer(path, storage, overwrite) as writer:
        rgb_conn = writer.add_connection(rgb_topic, IMAGE_TYPE, typestore=typestore)
        thermal_conn = writer.add_connection(thermal_topic, IMAGE_TYPE, typestore=typestore)
        gt_conn = (writer.add_connection(gt_topic, DETECTION_TYPE, typestore=typestore)
                   if ground_truth is not None else None)
        for index, (stamp_ns, rgb, thermal) in enumerate(frames):
            stamp_ns = int(stamp_ns)
            if gt_conn is not None and index < len(ground_truth):
                box = ground_truth[index]
                if box is not None and np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0:
                    header = make_header(typestore, stamp_ns,
                                         rgb_frame_id if rgb is not None else thermal_frame_id)
                    writer.write(gt_conn, stamp_ns, typestore.serialize_cdr(
                        make_detection(typestore, header, box), DETECTION_TYPE))
            if rgb is not None:
                if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3
                        and rgb.dtype == np.uint8):
                    raise ValueError(
                        f"frame {index}: rgb must be an HxWx3 uint8 array, got "
                        f"{_describe(rgb)}")
                msg = numpy_to_image(rgb, "rgb8", make_header(typestore, stamp_ns,
                                                              rgb_frame_id), image_type)
                writer.write(rgb_conn, stamp_ns, typestore.serialize_cdr(msg, IMAGE_TYPE))
            if thermal is not None:
                encoding = (_THERMAL_ENCODINGS.get(thermal.dtype)
                            if isinstance(thermal, np.ndarray) and thermal.ndim == 2 else None)
                if encoding is None:
                    raise ValueError(
                        f"frame {index}: thermal must be an HxW uint8, uint16 or float32 "
                        f"array, got {_describe(thermal)}")
                msg = numpy_to_image(thermal, encoding, make_header(
                    typestore, stamp_ns, thermal_frame_id), image_type)
                writer.write(thermal_conn, stamp_ns,
                             typestore.serialize_cdr(msg, IMAGE_TYPE))
            count += 1
    return count


def write_messages(path: Union[str, Path],
                   messages: Iterable[Tuple[str, int, MessageSource]],
                   msgtypes: Optional[Mapping[str, str]] = None,
                   typestore: Optional[Typestore] = None,
                   storage: str = "mcap", overwrite: bool = False) -> int:
    """Write ``(topic, stamp_ns, message)`` records to a new bag.

    A topic's connection is created at its first record. Each message may be:

    * a rosbags message (has ``__msgtype__``): serialised with the typestore;
    * ``bytes`` / ``memoryview``: already CDR-serialised (e.g. by
      ``rclpy.serialization.serialize_message``); ``msgtypes[topic]`` must name its type;
    * any other object, e.g. an rclpy message: converted field by field (duck typing) to
      the typestore class of ``msgtypes[topic]``, or, if absent, of the type named by its
      class (``vision_msgs.msg.Detection2DArray`` -> ``vision_msgs/msg/Detection2DArray``).

    Args:
        path: bag directory to create.
        messages: records in any order of time (``stamp_ns`` is the recording time).
        msgtypes: topic -> type name ("vision_msgs/msg/Detection2DArray").
        typestore: default :func:`typestore_with_vision_msgs`.
        storage: "mcap" (default) or "sqlite3".
        overwrite: replace an existing ``path`` instead of refusing.

    Returns:
        The number of records written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: a type that cannot be determined or is unknown to the typestore, or a
            message that does not fit its type; the partial bag is removed.
    """
    typestore = typestore if typestore is not None else typestore_with_vision_msgs()
    msgtypes = dict(msgtypes or {})
    connections: Dict[str, Any] = {}
    count = 0
    with _bag_writer(path, storage, overwrite) as writer:
        for topic, stamp_ns, message in messages:
            msgtype = msgtypes.get(topic) or _message_type_name(message)
            if msgtype is None:
                raise ValueError(
                    f"cannot tell the message type of topic {topic!r} "
                    f"({type(message).__name__}); give it in msgtypes")
            if msgtype not in typestore.types:
                raise ValueError(f"type {msgtype} of topic {topic!r} is not in the typestore")
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype,
                                                           typestore=typestore)
                msgtypes[topic] = msgtype
            elif connections[topic].msgtype != msgtype:
                raise ValueError(f"topic {topic!r} has type {connections[topic].msgtype}, "
                                 f"got a {msgtype}")
            if isinstance(message, (bytes, bytearray, memoryview)):
                data = message
            else:
                if not hasattr(message, "__msgtype__"):
                    message = to_typestore_message(message, msgtype, typestore)
                data = typestore.serialize_cdr(message, msgtype)
            writer.write(connections[topic], int(stamp_ns), data)
            count += 1
    return count


def _message_type_name(message: Any) -> Optional[str]:
    """'pkg/msg/Name' of a rosbags message or of an rclpy message class, else None."""
    name = getattr(message, "__msgtype__", None)
    if name:
        return str(name)
    cls = type(message)
    parts = cls.__module__.split(".")
    if len(parts) >= 2 and parts[1] == "msg":
        return f"{parts[0]}/msg/{cls.__name__}"
    return None


def to_typestore_message(obj: Any, msgtype: str, typestore: Typestore) -> Any:
    """Convert any object with the fields of ``msgtype`` (e.g. an rclpy message) to rosbags.

    Fields are read with ``getattr`` following the typestore's definition; primitive
    arrays become numpy arrays, nested messages are converted recursively.

    Raises:
        MessageConversionError: a missing field or a value of the wrong kind, naming the
            field path (``Detection2DArray.detections[0].bbox.size_x``).
    """
    return _convert_message(obj, msgtype, typestore, msgtype.split("/")[-1])


def _convert_message(obj: Any, msgtype: str, typestore: Typestore, where: str) -> Any:
    _, fields = typestore.fielddefs[msgtype]
    values = {}
    for name, (nodetype, spec) in fields:
        try:
            value = getattr(obj, name)
        except AttributeError:
            raise MessageConversionError(
                f"{where}: {type(obj).__name__} has no field {name!r} required by "
                f"{msgtype}") from None
        values[name] = _convert_field(value, nodetype, spec, typestore, f"{where}.{name}")
    return typestore.types[msgtype](**values)


def _convert_field(value: Any, nodetype: Any, spec: Any, typestore: Typestore,
                   where: str) -> Any:
    try:
        if nodetype == Nodetype.BASE:
            typename = spec[0]
            if typename in ("string", "wstring"):
                return str(value)
            if isinstance(value, (bytes, bytearray)):  # rclpy 'byte' fields
                value = value[0]
            if typename in ("float32", "float64"):
                return float(value)
            if typename == "bool":
                return bool(value)
            return int(value)
        if nodetype == Nodetype.NAME:
            return _convert_message(value, spec, typestore, where)
        (sub_nodetype, sub_spec), _ = spec
        if sub_nodetype == Nodetype.BASE and sub_spec[0] not in ("string", "wstring"):
            return np.asarray(value, dtype=_NUMPY_TYPES[sub_spec[0]]).reshape(-1)
        return [_convert_field(item, sub_nodetype, sub_spec, typestore, f"{where}[{i}]")
                for i, item in enumerate(value)]
    except MessageConversionError:
        raise
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise MessageConversionError(
            f"{where}: cannot convert {_short_repr(value)}: {exc}") from exc


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"shape {value.shape} dtype {value.dtype}"
    return type(value).__name__


# ---------------------------------------------------------------------------- reading
def read_bag_messages(path: Union[str, Path], topics: Optional[Sequence[str]] = None,
                      typestore: Optional[Typestore] = None
                      ) -> Iterator[Tuple[str, int, Any]]:
    """Iterate over a bag's records as ``(topic, recording time in ns, message)``.

    Messages are deserialised rosbags dataclasses. Types missing from the typestore are
    registered from the definitions stored in the bag.

    Args:
        path: bag directory (or, for MCAP, the bag directory containing the .mcap file).
        topics: only these topics (default: all).
        typestore: default :func:`typestore_with_vision_msgs`.

    Raises (at the call, before iteration):
        FileNotFoundError: no bag at ``path``.
        KeyError: a requested topic is not in the bag (the message lists those that are).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no bag at {path}")
    if topics is not None:
        with Reader(path) as reader:
            available = {c.topic for c in reader.connections}
        missing = [t for t in topics if t not in available]
        if missing:
            raise KeyError(f"topics {missing} are not in bag {path}; it has "
                           f"{sorted(available)}")
    typestore = typestore if typestore is not None else typestore_with_vision_msgs()
    return _iterate_bag(path, None if topics is None else set(topics), typestore)


def _iterate_bag(path: Path, topics: Optional[set], typestore: Typestore
                 ) -> Iterator[Tuple[str, int, Any]]:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        _register_bag_types(connections, typestore)
        for connection, timestamp, rawdata in reader.messages(connections=connections):
            yield (connection.topic, int(timestamp),
                   typestore.deserialize_cdr(rawdata, connection.msgtype))


def _register_bag_types(connections: Sequence[Any], typestore: Typestore) -> None:
    """Register message types the typestore lacks from the bag's stored definitions."""
    types: Dict[str, Any] = {}
    for connection in connections:
        if connection.msgtype in typestore.types or connection.msgtype in types:
            continue
        msgdef = getattr(connection, "msgdef", None)
        text = getattr(msgdef, "data", None)
        if not text:
            raise ValueError(f"bag type {connection.msgtype} of topic {connection.topic} "
                             "is unknown and the bag stores no definition for it")
        types.update(get_types_from_msg(text, connection.msgtype))
    if types:
        typestore.register(types)


def read_image_topic(path: Union[str, Path], topic: str) -> Iterator[BagImage]:
    """Iterate over the images of one ``sensor_msgs/msg/Image`` topic, in recording order.

    Yields:
        :class:`BagImage` with the header stamp (ns) and a numpy array in the message's
        encoding (rgb8 -> HxWx3 uint8, mono16 -> HxW uint16, ...).

    Raises:
        FileNotFoundError / KeyError: as :func:`read_bag_messages`, at the call.
        ImageConversionError: a malformed image message, during iteration.
    """
    records = read_bag_messages(path, [topic])
    return (BagImage(stamp_ns=stamp_to_nanoseconds(msg.header.stamp), image=image_to_numpy(msg),
                     encoding=str(msg.encoding), frame_id=str(msg.header.frame_id))
            for _, _, msg in records)


# ---------------------------------------------------------------------------- detections
def make_detection_array(typestore: Typestore, stamp_ns: int, frame_id: str,
                         boxes: Sequence[Sequence[float]], class_id: str = "target",
                         ids: Optional[Sequence[str]] = None) -> Any:
    """A rosbags ``vision_msgs/msg/Detection2DArray`` holding ``boxes``.

    Args:
        typestore: from :func:`typestore_with_vision_msgs`.
        stamp_ns: header stamp of the array and of each detection, ns.
        frame_id: header frame id.
        boxes: ``(x, y, w, h, score)`` per detection; top-left corner and size in pixels.
        class_id: hypothesis class of every detection.
        ids: optional ``Detection2D.id`` per box (default "").
    """
    header = make_header(typestore, stamp_ns, frame_id)
    detections = [make_detection(typestore, header, box[:4], score=box[4], class_id=class_id,
                                 detection_id=str(ids[i]) if ids is not None else "")
                  for i, box in enumerate(boxes)]
    return typestore.types[DETECTION_ARRAY_TYPE](header=header, detections=detections)


def make_detection(typestore: Typestore, header: Any, box: Sequence[float],
                   score: float = 1.0, class_id: str = "target",
                   detection_id: str = "") -> Any:
    """A rosbags ``vision_msgs/msg/Detection2D`` for one ``(x, y, w, h)`` box (pixels)."""
    types = typestore.types
    x, y, w, h = (float(v) for v in box)
    point = types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0)
    quaternion = types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
    pose = types["geometry_msgs/msg/PoseWithCovariance"](
        pose=types["geometry_msgs/msg/Pose"](position=point, orientation=quaternion),
        covariance=np.zeros(36, dtype=np.float64))
    hypothesis = types["vision_msgs/msg/ObjectHypothesisWithPose"](
        hypothesis=types["vision_msgs/msg/ObjectHypothesis"](class_id=class_id,
                                                             score=float(score)),
        pose=pose)
    centre = types["vision_msgs/msg/Pose2D"](
        position=types["vision_msgs/msg/Point2D"](x=x + w / 2.0, y=y + h / 2.0), theta=0.0)
    bbox = types["vision_msgs/msg/BoundingBox2D"](center=centre, size_x=w, size_y=h)
    return types[DETECTION_TYPE](header=header, results=[hypothesis], bbox=bbox,
                                 id=detection_id)


def detection_array_to_boxes(msg: Any) -> List[BoxRecord]:
    """Boxes of a ``vision_msgs/Detection2DArray`` (rclpy or rosbags, by duck typing).

    The bbox centre and size become a top-left ``(x, y, w, h)``. The stamp is the
    detection's header stamp, or the array's when the detection's is zero. The score is the
    highest hypothesis score, 0.0 for a detection without results. Also accepts the
    vision_msgs 3.x layout (``bbox.center.x`` instead of ``bbox.center.position.x``).

    Returns:
        One :class:`BoxRecord` ``(stamp_ns, x, y, w, h, score)`` per detection, in order.
    """
    array_ns = stamp_to_nanoseconds(msg.header.stamp)
    boxes: List[BoxRecord] = []
    for detection in msg.detections:
        header = getattr(detection, "header", None)
        stamp_ns = stamp_to_nanoseconds(header.stamp) if header is not None else 0
        box, score = detection_box(detection)
        boxes.append(BoxRecord(stamp_ns or array_ns, *box, score=score))
    return boxes
