"""First-frame data augmentation of DiMP: more initial training samples from one frame.

DiMP builds its initial filter from the annotated frame and transformed copies of it
(identity, horizontal flip, shifts, blurs, small rotations), with the target box
transformed alike. Each transform here acts on a square patch (S, S[, C]) and a patch box
x y w h; the border repeats the patch edge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """One transform: kind "identity", "flip", "shift" (dx, dy pixels), "blur" (sigma
    pixels) or "rotate" (degrees, counter-clockwise about the patch centre)."""

    kind: str
    value: Tuple[float, ...] = ()

    def image(self, patch: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """The transformed patch (None stays None)."""
        if patch is None or self.kind == "identity":
            return patch
        size = patch.shape[1], patch.shape[0]
        if self.kind == "flip":
            return np.ascontiguousarray(patch[:, ::-1])
        if self.kind == "blur":
            return cv2.GaussianBlur(patch, (0, 0), float(self.value[0]))
        matrix = self._matrix(size)
        out = cv2.warpAffine(patch, matrix, size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(patch.shape)

    def box(self, box: np.ndarray, patch_size: int) -> np.ndarray:
        """The target box in the transformed patch (rotations keep the box's size, as the
        target's extent changes little for small angles)."""
        x, y, w, h = (float(v) for v in box)
        if self.kind == "flip":
            return np.array([patch_size - x - w, y, w, h])
        if self.kind in ("shift", "rotate"):
            matrix = self._matrix((patch_size, patch_size))
            cx, cy = matrix @ np.array([x + w / 2, y + h / 2, 1.0])
            return np.array([cx - w / 2, cy - h / 2, w, h])
        return np.array([x, y, w, h])

    def _matrix(self, size: Tuple[int, int]) -> np.ndarray:
        if self.kind == "shift":
            return np.array([[1.0, 0.0, self.value[0]], [0.0, 1.0, self.value[1]]])
        centre = ((size[0] - 1) / 2.0, (size[1] - 1) / 2.0)
        return cv2.getRotationMatrix2D(centre, float(self.value[0]), 1.0)


def augmentations_from_params(params: Mapping[str, Any], target_size_px: Tuple[float, float]
                              ) -> List[Augmentation]:
    """The list of transforms of the preset's ``init_augmentation`` section.

    Keys: ``flip`` (bool), ``shift_fraction`` (shifts of this fraction of the target's
    size in the four diagonal directions, 0 = none), ``blur_sigmas`` (list, pixels),
    ``rotations`` (list, degrees). The identity always comes first.
    """
    out = [Augmentation("identity")]
    if params.get("flip", True):
        out.append(Augmentation("flip"))
    fraction = float(params.get("shift_fraction", 0.0))
    if fraction > 0:
        dx, dy = fraction * target_size_px[0], fraction * target_size_px[1]
        for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
            out.append(Augmentation("shift", (sx * dx, sy * dy)))
    for sigma in params.get("blur_sigmas", []) or []:
        out.append(Augmentation("blur", (float(sigma),)))
    for angle in params.get("rotations", []) or []:
        out.append(Augmentation("rotate", (float(angle),)))
    return out
