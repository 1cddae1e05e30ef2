"""Helpers shared by the ROS tests: frames from real data, message builders, waiting."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, List, Tuple

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from rgbt_tracking.ros.image_conversion import numpy_to_image


def load_bus(shared_data: Path, scale: float = 0.5, step: int = 1,
             count: int = 101) -> Tuple[List[Tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """VTUAV bus frames resized by ``scale`` (RGB uint8, thermal uint8) and the 11 boxes."""
    root = shared_data / "vtuav_bus1"
    frames = []
    for index in range(0, count, step):
        bgr = cv2.imread(str(root / "rgb" / f"{index:06d}.jpg"), cv2.IMREAD_COLOR)
        ir = cv2.imread(str(root / "ir_gray" / f"{index:06d}.jpg"), cv2.IMREAD_GRAYSCALE)
        size = (int(bgr.shape[1] * scale), int(bgr.shape[0] * scale))
        frames.append((cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_BGR2RGB),
                       cv2.resize(ir, size, interpolation=cv2.INTER_AREA)))
    boxes = np.loadtxt(root / "rgb.txt") * scale
    return frames, boxes


def stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def header(ns: int, frame_id: str) -> Header:
    return Header(stamp=stamp(ns), frame_id=frame_id)


def image_msg(array: np.ndarray, encoding: str, ns: int, frame_id: str):
    return numpy_to_image(array, encoding, header=header(ns, frame_id))


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Collector:
    """Thread-safe list of received messages with arrival times."""

    def __init__(self) -> None:
        self.items: List[Tuple[float, object]] = []
        self._lock = threading.Lock()

    def __call__(self, msg: object) -> None:
        with self._lock:
            self.items.append((time.monotonic(), msg))

    def messages(self) -> List[object]:
        with self._lock:
            return [m for _, m in self.items]

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)
