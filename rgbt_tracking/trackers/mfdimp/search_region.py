"""The square image region DiMP samples around the target, and its patch <-> image maps.

DiMP samples a square of side ``sqrt(w * h) * search_area_scale`` image pixels centred on
the previous target centre and resizes it to ``image_sample_size`` pixels, so the target
keeps about the same size in the patch whatever its size in the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from rgbt_tracking.trackers.dcf.patches import sample_patch, window_bounds


@dataclass(frozen=True)
class SearchRegion:
    """An integer pixel window resized to ``output_size`` x ``output_size``.

    Attributes:
        x0, y0: top-left image pixel of the window.
        side: window side in image pixels (integer).
        output_size: patch side in pixels.
    """

    x0: int
    y0: int
    side: int
    output_size: int

    @classmethod
    def around(cls, center: Tuple[float, float], target_size: Tuple[float, float],
               search_area_scale: float, output_size: int) -> "SearchRegion":
        """The region for a target of (w, h) pixels centred at (cx, cy)."""
        side = math.sqrt(max(target_size[0] * target_size[1], 1.0)) * search_area_scale
        x0, y0, win, _ = window_bounds(center, (side, side))
        return cls(x0, y0, win, output_size)

    @property
    def scale(self) -> float:
        """Image pixels per patch pixel."""
        return self.side / self.output_size

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The patch (output_size, output_size[, C]) of an HxW[xC] image (border repeated)."""
        center = (self.x0 + self.side / 2.0, self.y0 + self.side / 2.0)
        return sample_patch(image, center, (self.side, self.side),
                            (self.output_size, self.output_size))

    def box_to_patch(self, box: Sequence[float]) -> np.ndarray:
        """Image box x y w h -> patch box x y w h."""
        s = 1.0 / self.scale
        return np.array([(box[0] - self.x0) * s, (box[1] - self.y0) * s, box[2] * s,
                         box[3] * s])

    def box_to_image(self, box: Sequence[float]) -> np.ndarray:
        """Patch box x y w h -> image box x y w h."""
        s = self.scale
        return np.array([box[0] * s + self.x0, box[1] * s + self.y0, box[2] * s, box[3] * s])

    def point_to_image(self, point: Tuple[float, float]) -> Tuple[float, float]:
        """Patch point (x, y) -> image point."""
        return point[0] * self.scale + self.x0, point[1] * self.scale + self.y0


def prepare_images(rgb: Optional[np.ndarray], thermal_unit: Optional[np.ndarray]
                   ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Images as float32 on the 0-255 scale the network expects.

    Args:
        rgb: HxWx3 uint8, or None.
        thermal_unit: HxW float in [0, 1] (the pair's thermal normalised by its range), or
            None.
    """
    rgb_f = None if rgb is None else rgb.astype(np.float32)
    thermal_f = None if thermal_unit is None else (np.clip(thermal_unit, 0.0, 1.0)
                                                   * 255.0).astype(np.float32)
    return rgb_f, thermal_f
