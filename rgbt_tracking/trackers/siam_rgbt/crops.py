"""Square crops around a centre, shared by the online tracker and the training samples."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from rgbt_tracking.train.cropping import crop_around_box, crop_region


def square_box(center: Tuple[float, float], side: float) -> np.ndarray:
    """(4,) x y side side of the square of ``side`` pixels centred on ``center``."""
    return np.array([center[0] - side / 2.0, center[1] - side / 2.0, side, side])


def crop_square(image: np.ndarray, center: Tuple[float, float], side: float,
                output_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The square of ``side`` image pixels around ``center`` resized to ``output_size``
    (outside the image: the image's mean, as SiamFC pads).

    Returns:
        (patch output_size x output_size [x C] of the image's dtype, crop (4,) x0 y0 s s of
        the integer window actually cut: patch pixel p is image pixel x0 + p * s /
        output_size).
    """
    box = square_box(center, side)
    patch, _, _ = crop_around_box(image, box, 1.0, output_size)
    return patch, crop_region(box, 1.0)
