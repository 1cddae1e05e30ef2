"""SiamBAN's training targets: points of the score map, ellipse labels, box distances.

Score-map cell (i, j) stands for the search-patch point ``(x0 + stride * j, x0 + stride *
i)`` with ``x0 = search_size // 2 - (score_size // 2) * stride`` (SiamBAN's point grid:
31 for a 255-pixel patch and a 25x25 map at stride 8), so the centre cell lies on the
patch centre.

Labels (SiamBAN Sec. 3.3, "ellipse" assignment): with the ground-truth box centre
(gx, gy) and size (gw, gh), a point is positive inside the ellipse E2 with semi-axes
(gw/4, gh/4), negative outside the ellipse E1 with semi-axes (gw/2, gh/2), ignored in
between. As SiamBAN's public training, at most ``positive_count`` positives and
``total_count - positive_count`` negatives are kept (drawn at random), the rest ignored;
a negative pair (template and search of different objects) keeps ``negative_pair_count``
random negatives and no positive.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def score_points(score_size: int, stride: float, search_size: Optional[int] = None
                 ) -> np.ndarray:
    """(score_size, score_size, 2) float64 (x, y) of every score cell.

    Args:
        score_size: cells per side of the score map.
        stride: patch pixels per cell.
        search_size: side of the search patch: points in patch pixels; None: relative to
            the patch centre (the tracker's decoding).
    """
    if score_size < 1 or stride <= 0:
        raise ValueError(f"score_size must be >= 1 and stride > 0, got {score_size}, {stride}")
    origin = -(score_size // 2) * stride
    if search_size is not None:
        origin += search_size // 2
    coords = origin + stride * np.arange(score_size, dtype=np.float64)
    xs, ys = np.meshgrid(coords, coords)
    return np.stack([xs, ys], axis=-1)


def ellipse_labels(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Labels before sampling: 1 inside E2, 0 outside E1, -1 between (see module docstring).

    Args:
        box: (4,) x y w h of the ground truth in patch pixels.
        points: (H, W, 2) x y of the cells (:func:`score_points` with ``search_size``).

    Returns:
        (H, W) int64.
    """
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if w <= 0 or h <= 0:
        raise ValueError(f"ground-truth box must have positive size, got {w} x {h}")
    dx = points[..., 0] - (x + w / 2.0)
    dy = points[..., 1] - (y + h / 2.0)
    inner = dx ** 2 / (w / 4.0) ** 2 + dy ** 2 / (h / 4.0) ** 2
    outer = dx ** 2 / (w / 2.0) ** 2 + dy ** 2 / (h / 2.0) ** 2
    labels = np.full(points.shape[:2], IGNORE, dtype=np.int64)
    labels[outer > 1.0] = NEGATIVE
    labels[inner < 1.0] = POSITIVE
    return labels


def box_distances(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(4, H, W) float32 regression targets l, t, r, b: distances in patch pixels from each
    point to the left, top, right and bottom sides of ``box`` (x y w h)."""
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    px, py = points[..., 0], points[..., 1]
    return np.stack([px - x, py - y, x + w - px, y + h - py]).astype(np.float32)


def _keep_at_most(labels: np.ndarray, value: int, count: int, rng: np.random.Generator
                  ) -> None:
    where = np.flatnonzero(labels.reshape(-1) == value)
    if where.size > count:
        drop = rng.choice(where, size=where.size - count, replace=False)
        labels.reshape(-1)[drop] = IGNORE


def siamban_targets(box: np.ndarray, points: np.ndarray, rng: np.random.Generator,
                    positive_pair: bool = True, positive_count: int = 16,
                    total_count: int = 64, negative_pair_count: int = 16
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Sampled labels and box distances of one search patch.

    Args:
        box: (4,) ground truth x y w h in patch pixels.
        points: (H, W, 2) cell points in patch pixels.
        rng: draws which positives / negatives are kept.
        positive_pair: False for a negative pair (no positives at all).
        positive_count, total_count, negative_pair_count: the sampling budget (SiamBAN's
            POS_NUM 16, TOTAL_NUM 64, NEG_NUM 16).

    Returns:
        (labels (H, W) int64 in {1, 0, -1}, distances (4, H, W) float32).
    """
    labels = ellipse_labels(box, points)
    if positive_pair:
        _keep_at_most(labels, POSITIVE, positive_count, rng)
        _keep_at_most(labels, NEGATIVE, total_count - positive_count, rng)
    else:
        labels[labels == POSITIVE] = IGNORE    # the box is another object's
        _keep_at_most(labels, NEGATIVE, negative_pair_count, rng)
    return labels, box_distances(box, points)
