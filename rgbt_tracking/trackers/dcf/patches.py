"""Sampling of fixed-size patches around the target at several scales (OpenCV, CPU)."""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np


def window_bounds(center: Tuple[float, float], window: Tuple[float, float]
                  ) -> Tuple[int, int, int, int]:
    """The integer pixel window :func:`sample_patch` crops: (x0, y0, width, height).

    Patch pixel ``q`` then shows image point ``x0 + q * width / out_w`` (same in y).
    """
    win_w = max(2, int(round(window[0])))
    win_h = max(2, int(round(window[1])))
    x0 = int(math.floor(center[0] - win_w / 2.0 + 0.5))
    y0 = int(math.floor(center[1] - win_h / 2.0 + 0.5))
    return x0, y0, win_w, win_h


def sample_patch(image: np.ndarray, center: Tuple[float, float], window: Tuple[float, float],
                 output_size: Tuple[int, int]) -> np.ndarray:
    """Crop a window around ``center`` and resize it to ``output_size``.

    Pixels outside the image repeat the border (so a target near the edge keeps a full
    sample). Down-sampling uses area averaging, so large windows (a bus filling a 1920x1080
    frame) do not alias; up-sampling is bilinear.

    Args:
        image: HxW or HxWxC (uint8 or float32).
        center: (cx, cy) pixels.
        window: (width, height) of the window in image pixels.
        output_size: (width, height) of the patch in pixels.

    Returns:
        (out_h, out_w) or (out_h, out_w, C), same dtype as ``image``.
    """
    height, width = image.shape[:2]
    x0, y0, win_w, win_h = window_bounds(center, window)
    x1, y1 = x0 + win_w, y0 + win_h
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        # Window entirely outside: replicate the nearest border pixel.
        px = min(max(int(center[0]), 0), width - 1)
        py = min(max(int(center[1]), 0), height - 1)
        crop = image[py:py + 1, px:px + 1]
        crop = cv2.copyMakeBorder(crop, 0, win_h - 1, 0, win_w - 1, cv2.BORDER_REPLICATE)
    else:
        crop = image[cy0:cy1, cx0:cx1]
        pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
        if any(pads):
            crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    out_w, out_h = output_size
    interpolation = cv2.INTER_AREA if win_w > out_w else cv2.INTER_LINEAR
    patch = cv2.resize(crop, (out_w, out_h), interpolation=interpolation)
    if image.ndim == 3 and patch.ndim == 2:
        patch = patch[:, :, None]
    return patch


def sample_scales(image: np.ndarray, center: Tuple[float, float], window: Tuple[float, float],
                  scales: Sequence[float], output_size: Tuple[int, int]) -> np.ndarray:
    """Patches at several window scales, stacked.

    Returns:
        (S, out_h, out_w) or (S, out_h, out_w, C).
    """
    return np.stack([sample_patch(image, center, (window[0] * s, window[1] * s), output_size)
                     for s in scales])
