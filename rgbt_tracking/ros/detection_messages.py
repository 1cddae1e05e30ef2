"""TrackResult <-> vision_msgs (4.x) conversions.

vision_msgs' BoundingBox2D is centre + size; the tracker API's boxes are (x, y, w, h)
top-left. Functions take message classes from the caller's import so that this module
imports no ROS package at load time.
"""
from __future__ import annotations

from typing import Any, Tuple

from rgbt_tracking.core.box import BoxTuple, box_center
from rgbt_tracking.core.result import TrackResult


def fill_bbox(bbox: Any, box: BoxTuple) -> None:
    """Write an (x, y, w, h) box into a vision_msgs/BoundingBox2D (centre, size_x, size_y)."""
    cx, cy = box_center(box)
    bbox.center.position.x = float(cx)
    bbox.center.position.y = float(cy)
    bbox.center.theta = 0.0
    bbox.size_x = float(box[2])
    bbox.size_y = float(box[3])


def bbox_to_box(bbox: Any) -> BoxTuple:
    """(x, y, w, h) of a vision_msgs/BoundingBox2D (centre + size, rotation ignored).

    Works on rclpy and rosbags messages, and on the 3.x layout (``center.x`` instead of
    ``center.position.x``).
    """
    w, h = float(bbox.size_x), float(bbox.size_y)
    centre = getattr(bbox.center, "position", bbox.center)
    return (float(centre.x) - w / 2.0, float(centre.y) - h / 2.0, w, h)


def result_to_detections(result: TrackResult | None, header: Any, array_type: type,
                         detection_type: type, hypothesis_type: type, class_id: str,
                         track_id: str) -> Any:
    """A Detection2DArray for one frame.

    Args:
        result: the tracker's output, or None (not tracking).
        header: std_msgs/Header of the RGB frame the result was computed from.
        array_type, detection_type, hypothesis_type: vision_msgs Detection2DArray,
            Detection2D and ObjectHypothesisWithPose classes.
        class_id: the target's class label.
        track_id: Detection2D.id.

    Returns:
        Detection2DArray with one detection while the state is "tracking" or "uncertain",
        and no detection when lost or not tracking.
    """
    array = array_type()
    array.header = header
    if result is None or result.state == "lost":
        return array
    detection = detection_type()
    detection.header = header
    detection.id = track_id
    fill_bbox(detection.bbox, result.box)
    hypothesis = hypothesis_type()
    hypothesis.hypothesis.class_id = class_id
    hypothesis.hypothesis.score = float(result.score)
    detection.results.append(hypothesis)
    array.detections.append(detection)
    return array


def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time -> float seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def stamp_to_nanoseconds(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def detection_box(detection: Any) -> Tuple[BoxTuple, float]:
    """(box, score) of a vision_msgs/Detection2D: the highest hypothesis score, 0.0 when it
    has none (4.x ``results[i].hypothesis.score``; 3.x ``results[i].score``)."""
    scores = [float(r.hypothesis.score) if hasattr(r, "hypothesis") else float(r.score)
              for r in detection.results]
    return bbox_to_box(detection.bbox), (max(scores) if scores else 0.0)
