"""Square training crops around a (jittered) box, as pytracking's processing does.

Coordinates are continuous pixel coordinates: pixel ``(i, j)`` covers ``[j, j+1) x
[i, i+1)``; boxes are ``(x, y, w, h)`` with ``(x, y)`` the top-left corner.

A crop (:func:`crop_region`) is the square of side ``ceil(sqrt(w*h) * search_area_factor)``
whose top-left corner is the box centre minus half the side, rounded to whole pixels (the
DiMP / ATOM ``sample_target`` convention). It is cut out of the image, padded where it
leaves the image, and resized to ``output_size x output_size`` (``cv2.INTER_AREA`` when
shrinking, ``cv2.INTER_LINEAR`` otherwise). Any box maps into the resized crop by
:func:`transform_box_to_crop`: ``x' = (x - crop_x) * output_size / crop_side``.
"""
from __future__ import annotations

import math
from typing import Tuple, Union

import cv2
import numpy as np

PadValue = Union[float, str]


def _box(box: np.ndarray, name: str = "box") -> np.ndarray:
    array = np.asarray(box, dtype=np.float64)
    if array.shape != (4,):
        raise ValueError(f"{name} must be (x, y, w, h), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or array[2] <= 0 or array[3] <= 0:
        raise ValueError(f"{name} must be finite with positive width and height, got "
                         f"{array.tolist()}")
    return array


def jitter_box(box: np.ndarray, rng: np.random.Generator, center_jitter_factor: float,
               scale_jitter_factor: float) -> np.ndarray:
    """A randomly moved and resized copy of ``box`` (pytracking's DiMP/ATOM processing).

    ``size' = size * exp(N(0, 1) * scale_jitter_factor)`` (each side drawn apart), then
    ``centre' = centre + U(-0.5, 0.5) * sqrt(w' * h') * center_jitter_factor`` (each axis
    drawn apart; the offset scales with the jittered size, as pytracking does).

    Args:
        box: (4,) x y w h, pixels.
        rng: the generator.
        center_jitter_factor, scale_jitter_factor: >= 0; 0 disables that jitter.

    Returns:
        (4,) float64 x y w h.
    """
    array = _box(box)
    if center_jitter_factor < 0 or scale_jitter_factor < 0:
        raise ValueError(f"jitter factors must be >= 0, got center {center_jitter_factor}, "
                         f"scale {scale_jitter_factor}")
    size = array[2:] * np.exp(rng.standard_normal(2) * scale_jitter_factor)
    max_offset = math.sqrt(size[0] * size[1]) * center_jitter_factor
    centre = array[:2] + 0.5 * array[2:] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([centre - 0.5 * size, size])


def crop_region(box: np.ndarray, search_area_factor: float) -> np.ndarray:
    """(4,) float64 ``x y side side`` of the square crop around ``box`` in image pixels.

    ``side = ceil(sqrt(w*h) * search_area_factor)``; top-left = round(centre - side/2).
    """
    array = _box(box)
    if not search_area_factor > 0:
        raise ValueError(f"search_area_factor must be > 0, got {search_area_factor}")
    side = max(1, math.ceil(math.sqrt(array[2] * array[3]) * search_area_factor))
    x0 = round(array[0] + 0.5 * array[2] - 0.5 * side)
    y0 = round(array[1] + 0.5 * array[3] - 0.5 * side)
    return np.array([x0, y0, side, side], dtype=np.float64)


def transform_box_to_crop(box: np.ndarray, crop_box: np.ndarray, output_size: int
                          ) -> np.ndarray:
    """Map an image box into a crop resized to ``output_size`` pixels.

    Args:
        box: (4,) x y w h in image pixels (need not lie inside the crop).
        crop_box: (4,) x y side side of the crop (:func:`crop_region`).
        output_size: side of the resized crop, pixels.

    Returns:
        (4,) float64 x y w h in crop pixels.
    """
    array = np.asarray(box, dtype=np.float64).reshape(4)
    crop = np.asarray(crop_box, dtype=np.float64).reshape(4)
    if crop[2] <= 0:
        raise ValueError(f"crop_box must have a positive side, got {crop.tolist()}")
    scale = output_size / crop[2]
    return np.array([(array[0] - crop[0]) * scale, (array[1] - crop[1]) * scale,
                     array[2] * scale, array[3] * scale])


def _fill_value(image: np.ndarray, pad_value: PadValue):
    if isinstance(pad_value, str):
        if pad_value != "mean":
            raise ValueError(f"pad_value must be a number or 'mean', got {pad_value!r}")
        mean = image.reshape(-1, image.shape[2] if image.ndim == 3 else 1).mean(axis=0)
        values = [float(v) for v in mean]
    else:
        values = [float(pad_value)] * (image.shape[2] if image.ndim == 3 else 1)
    return values if len(values) > 1 else values[0]


def crop_around_box(image: np.ndarray, box: np.ndarray, search_area_factor: float,
                    output_size: int, pad_value: PadValue = "mean",
                    border: str = "constant") -> Tuple[np.ndarray, np.ndarray, float]:
    """Cut the square search area around ``box`` and resize it to ``output_size``.

    Args:
        image: H x W or H x W x C (uint8, uint16 or float32; C <= 4 for OpenCV).
        box: (4,) x y w h, pixels, positive size.
        search_area_factor: crop side over ``sqrt(w*h)``.
        output_size: side of the returned patch, pixels.
        pad_value: fill of the part outside the image for ``border="constant"``: a
            number, or ``"mean"`` (the image's per-channel mean, as SiamFC pads).
        border: ``"constant"`` (``pad_value``) or ``"replicate"`` (edge pixels repeated).

    Returns:
        (patch, box_in_patch, scale): patch ``output_size x output_size [x C]`` of the
        image's dtype; ``box`` in patch pixels (:func:`transform_box_to_crop`); scale =
        ``output_size / crop side`` (patch pixels per image pixel). Map other boxes (the
        ground truth around a jittered box) with ``transform_box_to_crop(gt,
        crop_region(box, search_area_factor), output_size)``.
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("image must be a non-empty H x W or H x W x C array, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if int(output_size) != output_size or output_size < 1:
        raise ValueError(f"output_size must be an integer >= 1, got {output_size!r}")
    if border not in ("constant", "replicate"):
        raise ValueError(f"border must be 'constant' or 'replicate', got {border!r}")
    output_size = int(output_size)
    crop = crop_region(box, search_area_factor)
    x0, y0, side = int(crop[0]), int(crop[1]), int(crop[2])
    height, width = image.shape[:2]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + side - width), max(0, y0 + side - height)
    inside = image[max(0, y0):min(height, y0 + side), max(0, x0):min(width, x0 + side)]
    if inside.size == 0:    # the crop misses the image: all padding
        if border == "replicate":
            ys = np.clip(np.arange(y0, y0 + side), 0, height - 1)
            xs = np.clip(np.arange(x0, x0 + side), 0, width - 1)
            region = image[np.ix_(ys, xs)]
        else:
            region = np.empty((side, side) + image.shape[2:], dtype=image.dtype)
            region[...] = _fill_value(image, pad_value)
    elif left or top or right or bottom:
        if border == "replicate":
            region = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
        else:
            region = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                        value=_fill_value(image, pad_value))
    else:
        region = inside
    if region.ndim == 2 and image.ndim == 3:   # OpenCV drops a single channel
        region = region[:, :, None]
    interpolation = cv2.INTER_AREA if output_size < side else cv2.INTER_LINEAR
    patch = cv2.resize(np.ascontiguousarray(region), (output_size, output_size),
                       interpolation=interpolation)
    if patch.ndim == 2 and image.ndim == 3:
        patch = patch[:, :, None]
    return patch, transform_box_to_crop(box, crop, output_size), output_size / side
