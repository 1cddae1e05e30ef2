"""Axis-aligned boxes in the benchmarks' convention: (x, y, w, h), top-left corner, pixels.

All helpers work on plain tuples or numpy arrays of shape (4,) or (N, 4).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

BoxTuple = Tuple[float, float, float, float]


def validate_box(box: Sequence[float], image_size: Tuple[int, int] | None = None,
                 name: str = "box") -> BoxTuple:
    """Check a box and return it as a float tuple.

    Args:
        box: (x, y, w, h), top-left corner, pixels.
        image_size: (width, height) of the image the box refers to; if given, the box must
            overlap the image.
        name: what to call the box in error messages.

    Raises:
        ValueError: wrong length, non-finite values, non-positive size, or no overlap with
            the image. The message names the problem and the values.
    """
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be 4 numbers (x, y, w, h), got {box!r}") from exc
    if len(values) != 4:
        raise ValueError(f"{name} must have 4 values (x, y, w, h), got {len(values)}: {box!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} has a non-finite value (NaN or inf): {values}")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ValueError(f"{name} is empty: width and height must be > 0, got w={w}, h={h}")
    if image_size is not None:
        width, height = image_size
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ValueError(
                f"{name} {tuple(values)} lies outside the {width}x{height} image")
    return (x, y, w, h)


def box_center(box: Sequence[float]) -> Tuple[float, float]:
    """Centre (cx, cy) in pixels of an (x, y, w, h) box."""
    x, y, w, h = box
    return (x + w / 2.0, y + h / 2.0)


def box_from_center(cx: float, cy: float, w: float, h: float) -> BoxTuple:
    """(x, y, w, h) from a centre and a size, all in pixels."""
    return (cx - w / 2.0, cy - h / 2.0, w, h)


def iou(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> np.ndarray:
    """Intersection over union of (x, y, w, h) boxes.

    Args:
        a, b: arrays of shape (4,) or (N, 4); broadcast against each other.

    Returns:
        IoU in [0, 1], shape () or (N,). A pair where either box has no area scores 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ax2, ay2 = a[..., 0] + a[..., 2], a[..., 1] + a[..., 3]
    bx2, by2 = b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[..., 2], 0, None) * np.clip(a[..., 3], 0, None)
    area_b = np.clip(b[..., 2], 0, None) * np.clip(b[..., 3], 0, None)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def clip_box(box: Sequence[float], image_size: Tuple[int, int], min_size: float = 1.0) -> BoxTuple:
    """Keep a box's centre inside the image and its size between ``min_size`` and the image.

    Args:
        box: (x, y, w, h) pixels.
        image_size: (width, height).
    """
    width, height = image_size
    cx, cy = box_center(box)
    w = float(np.clip(box[2], min_size, width))
    h = float(np.clip(box[3], min_size, height))
    cx = float(np.clip(cx, 0, width - 1))
    cy = float(np.clip(cy, 0, height - 1))
    return box_from_center(cx, cy, w, h)
