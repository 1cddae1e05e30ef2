"""SiamBAN's online post-processing: crop sizes, box decoding, penalties, cosine window.

Sizes follow SiamFC / SiamRPN: the template crop has side ``sqrt((w + p) (h + p))`` with
``p = context_amount * (w + h)`` image pixels, resized to ``template_size``; the search
crop is ``search_size / template_size`` times larger around the previous centre.

The chosen cell maximises ``(1 - window_influence) * penalty * score + window_influence *
window`` with SiamRPN's change penalty ``penalty = exp(-(r_c * s_c - 1) * penalty_k)``,
``s_c = max(s, 1/s)`` for the ratio s of the padded scale ``sqrt((w + p)(h + p))`` of the
predicted box to the current one, ``r_c`` the same for the aspect ratios; the size moves
to the predicted one by ``lr = penalty * score * learning_rate``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np


def context_side(width: float, height: float, context_amount: float = 0.5) -> float:
    """Side in image pixels of the template crop of a ``width`` x ``height`` target."""
    pad = context_amount * (width + height)
    return math.sqrt((width + pad) * (height + pad))


def cosine_window(size: int) -> np.ndarray:
    """(size, size) float64 outer product of two Hann windows (``numpy.hanning``)."""
    hann = np.hanning(size)
    return np.outer(hann, hann)


def decode_boxes(points: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Boxes of the (l, t, r, b) distances at every point.

    Args:
        points: (H, W, 2) x y (relative to the patch centre for the tracker).
        distances: (4, H, W) l, t, r, b.

    Returns:
        (4, H, W) cx, cy, w, h in the frame of ``points``.
    """
    left, top, right, bottom = distances
    x1, y1 = points[..., 0] - left, points[..., 1] - top
    x2, y2 = points[..., 0] + right, points[..., 1] + bottom
    return np.stack([(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1])


def _change(ratio: np.ndarray) -> np.ndarray:
    return np.maximum(ratio, 1.0 / ratio)


def _padded_scale(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def change_penalty(pred_w: np.ndarray, pred_h: np.ndarray, width: float, height: float,
                   penalty_k: float) -> np.ndarray:
    """``exp(-(r_c * s_c - 1) * penalty_k)`` (module docstring); 1 for an unchanged box.

    Args:
        pred_w, pred_h: predicted sizes (any shape), patch pixels.
        width, height: the current target size in the same pixels.
    """
    pred_w = np.maximum(pred_w, 1e-6)
    pred_h = np.maximum(pred_h, 1e-6)
    s_c = _change(_padded_scale(pred_w, pred_h) / _padded_scale(np.float64(width),
                                                                 np.float64(height)))
    r_c = _change((width / height) / (pred_w / pred_h))
    return np.exp(-(r_c * s_c - 1.0) * penalty_k)


@dataclass
class Selection:
    """The chosen cell of a score map.

    Attributes:
        index: (row, col).
        box: (cx, cy, w, h) relative to the patch centre, patch pixels.
        score: the foreground probability there.
        penalty: the change penalty there.
        size_rate: the size learning rate ``penalty * score * learning_rate``.
    """

    index: Tuple[int, int]
    box: Tuple[float, float, float, float]
    score: float
    penalty: float
    size_rate: float


def select_box(score: np.ndarray, boxes: np.ndarray, target_size: Tuple[float, float],
               window: np.ndarray, penalty_k: float, window_influence: float,
               learning_rate: float) -> Selection:
    """Pick the best cell after penalties and the cosine window (SiamBAN's tracker).

    Args:
        score: (H, W) foreground probability.
        boxes: (4, H, W) decoded cx, cy, w, h (:func:`decode_boxes`), patch pixels.
        target_size: current (w, h) in patch pixels.
        window: (H, W) :func:`cosine_window`.
    """
    if score.shape != window.shape or boxes.shape[1:] != score.shape:
        raise ValueError(f"score {score.shape}, boxes {boxes.shape} and window "
                         f"{window.shape} do not match")
    penalty = change_penalty(boxes[2], boxes[3], target_size[0], target_size[1], penalty_k)
    penalised = penalty * score
    ranked = penalised * (1.0 - window_influence) + window * window_influence
    flat = int(np.argmax(ranked))
    row, col = divmod(flat, score.shape[1])
    chosen = boxes[:, row, col]
    return Selection(index=(row, col), box=tuple(float(v) for v in chosen),  # type: ignore[arg-type]
                     score=float(score[row, col]), penalty=float(penalty[row, col]),
                     size_rate=float(penalised[row, col] * learning_rate))
