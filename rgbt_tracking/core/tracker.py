"""The base every tracker derives from: input checks around an online procedure.

A tracker subclasses :class:`Tracker` and implements ``_initialize`` and ``_track`` on a
validated :class:`~rgbt_tracking.core.images.ImagePair`; the public ``initialize`` and
``track`` do the checks of ARCHITECTURE.md once for every tracker.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from rgbt_tracking.core.box import BoxTuple, validate_box
from rgbt_tracking.core.images import ImagePair, validate_pair
from rgbt_tracking.core.result import TrackResult


class Tracker(ABC):
    """Single-object RGB-T tracker.

    Args:
        params: the tracker's preset merged with overrides (see ``config/trackers``).
        device: torch device string, "cpu" or "cuda[:N]".
    """

    name: str = "tracker"
    #: True for trackers that take gradients online (IoU-Net box refinement): they run
    #: under ``torch.no_grad`` (which ``torch.enable_grad`` can lift) instead of
    #: ``torch.inference_mode``; their network parameters must not require gradients.
    online_autograd: bool = False

    def __init__(self, params: Dict[str, Any], device: str = "cpu") -> None:
        self.params = dict(params)
        self.device = device
        self._initialized = False
        self.frame_index = 0
        self.image_size = (0, 0)   # (width, height) of the images at initialisation

    @property
    def initialized(self) -> bool:
        """True once :meth:`initialize` has succeeded."""
        return self._initialized

    def reset(self) -> None:
        """Forget the target; :meth:`track` refuses to run until the next initialize()."""
        self._initialized = False

    def initialize(self, rgb: Optional[np.ndarray], thermal: Optional[np.ndarray],
                   box: Sequence[float]) -> None:
        """Start tracking the object inside ``box`` on this pair.

        Args:
            rgb: HxWx3 uint8 RGB, or None.
            thermal: HxW uint8/uint16/float32, or None.
            box: (x, y, w, h), top-left corner, pixels.

        Raises:
            ValueError: bad images or box (see :func:`validate_pair`, :func:`validate_box`).
        """
        pair = validate_pair(rgb, thermal)
        checked = validate_box(box, pair.size)
        with self._grad_mode():
            self._initialize(pair, checked)
        self.image_size = pair.size
        self._initialized = True
        self.frame_index = 0

    def track(self, rgb: Optional[np.ndarray], thermal: Optional[np.ndarray]) -> TrackResult:
        """Locate the target in the next pair.

        Raises:
            RuntimeError: called before :meth:`initialize`.
            ValueError: bad images, or a size other than at initialisation.
        """
        if not self._initialized:
            raise RuntimeError("track() called before initialize()")
        pair = validate_pair(rgb, thermal)
        if pair.size != self.image_size:
            raise ValueError(
                f"image size changed from {self.image_size[0]}x{self.image_size[1]} at "
                f"initialisation to {pair.size[0]}x{pair.size[1]}; initialise again")
        self.frame_index += 1
        with self._grad_mode():
            return self._track(pair)

    def _grad_mode(self) -> Any:
        return torch.no_grad() if self.online_autograd else torch.inference_mode()

    @abstractmethod
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        """Build the target model from a validated pair and box."""

    @abstractmethod
    def _track(self, pair: ImagePair) -> TrackResult:
        """Estimate the target in a validated pair."""
