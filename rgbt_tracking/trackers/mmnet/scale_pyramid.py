"""The scale pyramid of SiamFC (Bertinetto et al. 2016, Sec. 2.4), as MMNet uses it.

The search region is cropped at ``num_scales`` sizes ``s_x * step^k`` (k = -(n-1)/2 ..
(n-1)/2); the scale whose (penalised) similarity peak is highest wins. Non-central scales
are multiplied by ``penalty`` < 1 (SiamFC's ``scalePenalty``); we apply it to the peaks
shifted by the lowest value of all maps, so that the penalty lowers a peak whatever the
sign of the raw logits (SiamFC multiplies raw scores that are positive). The winning map is
upsampled bicubically by ``upsample`` (``responseUp``), normalised to sum 1, blended with a
Hann window of weight ``window_influence`` (``wInfluence``) and its arg-max gives the
displacement.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def scale_factors(num_scales: int, step: float) -> np.ndarray:
    """(n,) factors step^k for k = -(n-1)/2 .. (n-1)/2 (CFNet's tracker.m; n odd)."""
    if int(num_scales) != num_scales or num_scales < 1 or num_scales % 2 == 0:
        raise ValueError(f"num_scales must be an odd integer >= 1, got {num_scales!r}")
    if not step > 0:
        raise ValueError(f"scale step must be > 0, got {step}")
    half = int(num_scales) // 2
    return np.power(float(step), np.arange(-half, half + 1).astype(np.float64))


def select_scale(responses: np.ndarray, penalty: float) -> int:
    """Index of the scale with the highest penalised peak.

    Args:
        responses: (n, R, R) similarity maps, one per scale (ordered as :func:`scale_factors`,
            n odd: the middle one is the current scale).
        penalty: factor in (0, 1] on the peaks of the non-central scales.
    """
    maps = np.asarray(responses, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] % 2 == 0:
        raise ValueError(f"responses must be (n_scales, R, R) with n odd, got shape {maps.shape}")
    if not 0 < penalty <= 1:
        raise ValueError(f"scale penalty must be in (0, 1], got {penalty}")
    peaks = maps.reshape(maps.shape[0], -1).max(axis=1) - maps.min()
    centre = maps.shape[0] // 2
    factors = np.full(maps.shape[0], float(penalty))
    factors[centre] = 1.0
    return int(np.argmax(peaks * factors))


def hann_window(size: int) -> np.ndarray:
    """(size, size) outer product of Hann windows, normalised to sum 1 (SiamFC)."""
    window = np.outer(np.hanning(size), np.hanning(size))
    return window / window.sum()


def peak_displacement(response: np.ndarray, upsample: int, window_influence: float
                      ) -> Tuple[float, float]:
    """Displacement (dx, dy) of the peak from the map centre, in map cells.

    Args:
        response: (R, R) similarity map of the chosen scale.
        upsample: bicubic upsampling factor (>= 1).
        window_influence: weight in [0, 1] of the Hann window (cosine displacement penalty).
    """
    r = np.asarray(response, dtype=np.float32)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ValueError(f"response must be a square (R, R) map, got shape {r.shape}")
    if int(upsample) != upsample or upsample < 1:
        raise ValueError(f"upsample must be an integer >= 1, got {upsample!r}")
    if not 0 <= window_influence <= 1:
        raise ValueError(f"window_influence must be in [0, 1], got {window_influence}")
    size = r.shape[0] * int(upsample)
    up = cv2.resize(r, (size, size), interpolation=cv2.INTER_CUBIC) if upsample > 1 else r
    up = up.astype(np.float64) - up.min()
    total = up.sum()
    if total > 0:
        up /= total
    blended = (1.0 - window_influence) * up + window_influence * hann_window(size)
    row, col = np.unravel_index(int(np.argmax(blended)), blended.shape)
    centre = (size - 1) / 2.0
    return (float(col - centre) / upsample, float(row - centre) / upsample)
