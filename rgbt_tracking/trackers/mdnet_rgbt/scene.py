"""The image region one convolutional pass reads, and boxes as RoIs of its conv3 map.

RT-MDNet (Jung et al., ECCV 2018, Sec. 3.2 and its tracking code) crops one region that
covers every box of interest (the 256 candidates, or the training samples of a frame),
resizes it so that the target measures ``target_px`` pixels on each side (RT-MDNet's
``img_size`` 107, an anisotropic resize), runs conv1-3 once and pools every box from the
conv3 map with RoIAlign. A box is first enlarged by ``roi_padding`` around its centre
(RT-MDNet's ``padding`` 1.2: context around the box); its RoI then spans the conv3 cells
whose receptive field (75 px, stride 8) lies inside the enlarged box, i.e. feature
coordinates ``x1 / 8 .. (x2 - 75) / 8`` (RT-MDNet subtracts the receptive field from the
far corner in the same way); RoIAlign's legacy rule keeps at least one cell.

The crop is capped at ``max_side`` pixels per side: a larger region is scaled down as a
whole (the target then measures less than ``target_px``; a choice of ours that bounds the
cost when a large box or wide negatives ask for a huge crop).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from rgbt_tracking.nn.vgg_m import RECEPTIVE_FIELD


@dataclass(frozen=True)
class SceneCrop:
    """An affine image -> crop mapping: ``crop = (image - origin) * scale``.

    Attributes:
        origin: (x0, y0) image pixels of the crop's top-left corner.
        scale: (sx, sy) crop pixels per image pixel.
        size: (width, height) of the crop in pixels.
    """

    origin: Tuple[float, float]
    scale: Tuple[float, float]
    size: Tuple[int, int]

    def boxes_to_crop(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) x y w h image boxes -> (N, 4) x y w h boxes in crop pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ox, oy = self.origin
        sx, sy = self.scale
        return np.stack([(boxes[:, 0] - ox) * sx, (boxes[:, 1] - oy) * sy,
                         boxes[:, 2] * sx, boxes[:, 3] * sy], axis=1)

    def cut(self, image: np.ndarray, fill: Optional[float] = None) -> np.ndarray:
        """The crop of an HxW or HxWxC image (bilinear; outside the image: ``fill``, by
        default the image mean), float32."""
        sx, sy = self.scale
        ox, oy = self.origin
        matrix = np.array([[sx, 0.0, -ox * sx], [0.0, sy, -oy * sy]], dtype=np.float64)
        source = image.astype(np.float32, copy=False)
        value = float(source.mean()) if fill is None else float(fill)
        channels = 1 if source.ndim == 2 else source.shape[2]
        return cv2.warpAffine(source, matrix, self.size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(value,) * max(channels, 4)
                              ).astype(np.float32, copy=False)


def plan_crop(boxes: np.ndarray, target_size: Tuple[float, float], target_px: float,
              roi_padding: float, max_side: int) -> SceneCrop:
    """The region covering ``boxes`` (x y w h, image pixels) and their RoI context.

    Args:
        boxes: (N, 4) boxes that must be read from the crop.
        target_size: (w, h) of the current target in image pixels.
        target_px: side the target gets in the crop (anisotropic scale).
        roi_padding: context factor around each box (see the module docstring).
        max_side: largest crop side in pixels.

    Raises:
        ValueError: no boxes, or a non-positive target size.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("plan_crop: no boxes to cover")
    w, h = float(target_size[0]), float(target_size[1])
    if not (w > 0 and h > 0):
        raise ValueError(f"plan_crop: target size must be positive, got {target_size!r}")
    grow = (roi_padding - 1.0) / 2.0
    x1 = boxes[:, 0] - grow * boxes[:, 2]
    y1 = boxes[:, 1] - grow * boxes[:, 3]
    x2 = boxes[:, 0] + (1.0 + grow) * boxes[:, 2]
    y2 = boxes[:, 1] + (1.0 + grow) * boxes[:, 3]
    sx, sy = target_px / w, target_px / h
    # at least one receptive field of crop around the union, so small regions still pass
    margin_x, margin_y = 0.5 * RECEPTIVE_FIELD / sx, 0.5 * RECEPTIVE_FIELD / sy
    left, top = x1.min() - margin_x, y1.min() - margin_y
    right, bottom = x2.max() + margin_x, y2.max() + margin_y
    width_px, height_px = (right - left) * sx, (bottom - top) * sy
    shrink = min(1.0, max_side / max(width_px, height_px))
    sx, sy = sx * shrink, sy * shrink
    size = (max(int(np.ceil((right - left) * sx)), RECEPTIVE_FIELD),
            max(int(np.ceil((bottom - top) * sy)), RECEPTIVE_FIELD))
    return SceneCrop((float(left), float(top)), (float(sx), float(sy)), size)


def fixed_crop(centre: Tuple[float, float], target_size: Tuple[float, float],
               context: float, target_px: float) -> SceneCrop:
    """A crop of ``context`` target sizes around ``centre`` with the target at
    ``target_px``: a fixed ``round(context * target_px)`` square (training batches)."""
    side = int(round(context * target_px))
    w, h = float(target_size[0]), float(target_size[1])
    sx, sy = target_px / w, target_px / h
    return SceneCrop((centre[0] - side / (2.0 * sx), centre[1] - side / (2.0 * sy)),
                     (sx, sy), (side, side))


def boxes_to_rois(crop_boxes: np.ndarray, roi_padding: float,
                  batch_index: int = 0) -> np.ndarray:
    """(N, 4) x y w h crop boxes -> (N, 5) RoIs [b, x1, y1, x2, y2] for RoIAlign with
    spatial scale 1/8 on the conv3 map (see the module docstring)."""
    boxes = np.asarray(crop_boxes, dtype=np.float64).reshape(-1, 4)
    grow = (roi_padding - 1.0) / 2.0
    x1 = boxes[:, 0] - grow * boxes[:, 2]
    y1 = boxes[:, 1] - grow * boxes[:, 3]
    x2 = boxes[:, 0] + (1.0 + grow) * boxes[:, 2] - RECEPTIVE_FIELD
    y2 = boxes[:, 1] + (1.0 + grow) * boxes[:, 3] - RECEPTIVE_FIELD
    index = np.full(len(boxes), float(batch_index))
    return np.stack([index, x1, y1, np.maximum(x2, x1), np.maximum(y2, y1)], axis=1)
