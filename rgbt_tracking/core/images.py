"""Validation and normalisation of the image pair handed to a tracker.

Contract (ARCHITECTURE.md): ``rgb`` is HxWx3 uint8 in RGB order; ``thermal`` is HxW uint8,
uint16 or float32 (an HxWx1 array is accepted and squeezed). Either may be None when that
modality is missing. When both are given they share one pixel geometry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

THERMAL_DTYPES = (np.uint8, np.uint16, np.float32)


@dataclass
class ImagePair:
    """A validated pair.

    Attributes:
        rgb: HxWx3 uint8 (RGB order) or None.
        thermal: HxW thermal in its own dtype (uint8, uint16 or float32) or None; it is not
            converted here, so that only the pixels a tracker samples pay for conversion.
        thermal_range: (low, high) values that map to 0 and 1 (see :func:`thermal_range`).
        size: (width, height) in pixels.
    """

    rgb: Optional[np.ndarray]
    thermal: Optional[np.ndarray]
    size: Tuple[int, int]
    thermal_range: Tuple[float, float] = (0.0, 255.0)

    def thermal_to_unit(self, values: np.ndarray) -> np.ndarray:
        """Map thermal values (the whole image or a patch of it) to float32 in [0, 1]."""
        low, high = self.thermal_range
        scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(1.0 / (high - low))
        return np.clip(scaled, 0.0, 1.0, out=scaled)


def thermal_range(thermal: np.ndarray, low_percentile: float = 1.0,
                  high_percentile: float = 99.0) -> Tuple[float, float]:
    """The values of a thermal image that map to 0 and 1.

    uint8 uses its full range (0, 255). uint16 (radiometric counts) and float32 (e.g.
    kelvin) have no fixed range, so they are stretched between the given percentiles of
    the frame (sampled on every 4th row and column), as a camera's automatic gain control
    would; the stretch keeps contrast when the scene's temperature range is narrow.

    Args:
        thermal: HxW uint8, uint16 or float32.

    Returns:
        (low, high) with high > low.
    """
    if thermal.dtype == np.uint8:
        return (0.0, 255.0)
    low, high = np.percentile(thermal[::4, ::4], [low_percentile, high_percentile])
    if high - low < 1e-6:
        high = low + 1.0
    return (float(low), float(high))


def normalise_thermal(thermal: np.ndarray) -> np.ndarray:
    """A whole thermal image as HxW float32 in [0, 1] (see :func:`thermal_range`)."""
    low, high = thermal_range(thermal)
    return ImagePair(None, thermal, (thermal.shape[1], thermal.shape[0]),
                     (low, high)).thermal_to_unit(thermal)


def thermal_to_255(thermal: np.ndarray) -> np.ndarray:
    """A whole HxW thermal image as float32 on the 0-255 scale of the networks' inputs:
    8-bit values as they are; 16-bit and float stretched by :func:`thermal_range` (the
    mapping of :func:`normalise_thermal`) times 255."""
    if thermal.dtype == np.uint8:
        return thermal.astype(np.float32)
    return normalise_thermal(thermal) * np.float32(255.0)


def validate_pair(rgb: Optional[np.ndarray], thermal: Optional[np.ndarray]) -> ImagePair:
    """Check an RGB/thermal pair against the contract and find the thermal value range.

    Raises:
        ValueError: both images missing, wrong type, shape or dtype, NaN/inf in a float
            thermal image, or the two images differ in size. The message names the image,
            what was expected and what was given.
    """
    if rgb is None and thermal is None:
        raise ValueError("both images are None: at least one modality is needed")
    size = None
    if rgb is not None:
        if not isinstance(rgb, np.ndarray):
            raise ValueError(f"rgb must be a numpy array, got {type(rgb).__name__}")
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"rgb must be HxWx3, got shape {rgb.shape}")
        if rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
        if rgb.shape[0] < 2 or rgb.shape[1] < 2:
            raise ValueError(f"rgb is too small: shape {rgb.shape}")
        size = (rgb.shape[1], rgb.shape[0])
    t_range = (0.0, 255.0)
    if thermal is not None:
        if not isinstance(thermal, np.ndarray):
            raise ValueError(f"thermal must be a numpy array, got {type(thermal).__name__}")
        if thermal.ndim == 3 and thermal.shape[2] == 1:
            thermal = thermal[:, :, 0]
        if thermal.ndim != 2:
            raise ValueError(
                f"thermal must be HxW (one channel), got shape {thermal.shape}; "
                "convert a 3-channel grey image with img[:, :, 0]")
        if thermal.dtype not in THERMAL_DTYPES:
            raise ValueError(f"thermal must be uint8, uint16 or float32, got {thermal.dtype}")
        if thermal.dtype == np.float32 and not np.isfinite(thermal).all():
            raise ValueError("thermal contains NaN or inf values")
        if thermal.shape[0] < 2 or thermal.shape[1] < 2:
            raise ValueError(f"thermal is too small: shape {thermal.shape}")
        thermal_size = (thermal.shape[1], thermal.shape[0])
        if size is not None and thermal_size != size:
            raise ValueError(
                f"rgb and thermal differ in size: rgb {size[0]}x{size[1]}, thermal "
                f"{thermal_size[0]}x{thermal_size[1]}; align them first (alignment_node)")
        size = thermal_size
        t_range = thermal_range(thermal)
    assert size is not None
    return ImagePair(rgb=rgb, thermal=thermal, size=size, thermal_range=t_range)
