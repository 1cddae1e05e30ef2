"""Online procedure of ``mmnet`` (MMNet Sec. "Tracking process", on CFNet's tracker).

Initialisation: the exemplar crop (region side ``crop_context_factor * s_z`` with SiamFC's
context ``s_z = sqrt((w + p)(h + p))``, ``p = context_amount (w + h)``, resized to
``crop_size``) gives the two CF templates (discriminative on conv5, fine-grained on
FANet(conv3)); the classification branch is pruned (never run).

Per frame:

1. crop the search region around the previous centre at ``num_scales`` sizes (SiamFC's
   scale pyramid, :mod:`scale_pyramid`);
2. similarity maps f_dis + f_fin (Eq. 11) per scale; the scale with the highest penalised
   peak wins; its map is upsampled, blended with a Hann window, and its arg-max moves the
   target; the size follows the chosen scale with learning rate ``scale_lr``;
3. template update (CFNet): the templates of a new exemplar crop at the new position are
   blended in, ``w <- (1 - template_lr) w + template_lr w_new``.

Only the thermal image is used: an RGB image is ignored (logged once per tracker). A frame
without a thermal image returns the last box, state "lost", score 0, and changes nothing.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from rgbt_tracking.core.box import BoxTuple
from rgbt_tracking.core.images import ImagePair
from rgbt_tracking.core.result import TrackResult
from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.train.cropping import crop_around_box, crop_region
from rgbt_tracking.trackers.mmnet.model_loading import build_network
from rgbt_tracking.trackers.mmnet.network import MMNet, Templates
from rgbt_tracking.trackers.mmnet.scale_pyramid import (peak_displacement, scale_factors,
                                                        select_scale)

LOG = logging.getLogger("rgbt_tracking.trackers.mmnet")


def context_side(size: Tuple[float, float], context_amount: float) -> float:
    """SiamFC's exemplar side s_z = sqrt((w + p)(h + p)), p = context_amount (w + h)."""
    w, h = size
    pad = context_amount * (w + h)
    return math.sqrt((w + pad) * (h + pad))


def thermal_for_network(pair: ImagePair) -> np.ndarray:
    """The thermal image on the network's 0-255 scale: uint8 as is, 16-bit and float
    stretched by the pair's range (``normalise_thermal``'s mapping) times 255."""
    assert pair.thermal is not None
    if pair.thermal.dtype == np.uint8:
        return pair.thermal
    return pair.thermal_to_unit(pair.thermal) * np.float32(255.0)


def square_crop(image: np.ndarray, centre: Tuple[float, float], side: float, output: int,
                pad_value: float) -> Tuple[np.ndarray, np.ndarray]:
    """A square region of ``side`` image pixels around ``centre`` resized to ``output``.

    Returns:
        (patch output x output float32, region (4,) x y side side actually cut, pixels).
    """
    box = np.array([centre[0] - side / 2.0, centre[1] - side / 2.0, side, side])
    patch, _, _ = crop_around_box(image, box, 1.0, output, pad_value=pad_value)
    return patch.astype(np.float32, copy=False), crop_region(box, 1.0)


class MMNetTracker(Tracker):
    """MMNet on thermal images (preset ``config/trackers/mmnet.yaml``).

    Args:
        params: the ``mmnet`` preset merged with overrides.
        device: "cpu" or "cuda[:N]".
        network: use this (eval-mode, gradient-free) network instead of building one from
            the preset (evaluation during training).
    """

    name = "mmnet"

    def __init__(self, params: Dict[str, Any], device: str = "cpu",
                 network: Optional[MMNet] = None) -> None:
        super().__init__(params, device)
        p = self.params
        if network is None:
            self.net, self.weights_origin = build_network(p)
        else:
            self.net, self.weights_origin = network, "in-memory network"
        self.net.to(device).eval()
        self.scales = scale_factors(int(p["num_scales"]), float(p["scale_step"]))
        self.context_amount = float(p["context_amount"])
        self.crop_context_factor = float(p["crop_context_factor"])
        if not self.crop_context_factor > 0:
            raise ValueError(f"crop_context_factor must be > 0, got {self.crop_context_factor}")
        self.templates: Optional[Templates] = None
        self.center = (0.0, 0.0)
        self.target_size = (1.0, 1.0)
        self.initial_size = (1.0, 1.0)
        self._warned_rgb = False

    # -- helpers ------------------------------------------------------------------------
    def _note_rgb(self, pair: ImagePair) -> None:
        if pair.rgb is not None and not self._warned_rgb:
            LOG.info("mmnet tracks on the thermal image only; the RGB image is ignored")
            self._warned_rgb = True

    def _region_side(self) -> float:
        return self.crop_context_factor * context_side(self.target_size, self.context_amount)

    def _to_tensor(self, patches: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(patches)).unsqueeze(1).to(self.device)

    def _exemplar_templates(self, image: np.ndarray, pad: float) -> Templates:
        patch, _ = square_crop(image, self.center, self._region_side(), self.net.crop_size, pad)
        return self.net.templates(self._to_tensor(patch[None]))

    def _box(self) -> BoxTuple:
        (cx, cy), (w, h) = self.center, self.target_size
        return (cx - w / 2.0, cy - h / 2.0, w, h)

    # -- the Tracker interface ------------------------------------------------------------
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        if pair.thermal is None:
            raise ValueError("mmnet needs a thermal image at initialize(), got None (it "
                             "tracks on the thermal image only)")
        self._note_rgb(pair)
        x, y, w, h = box
        self.center = (x + w / 2.0, y + h / 2.0)
        self.target_size = (w, h)
        self.initial_size = (w, h)
        image = thermal_for_network(pair)
        self.templates = self._exemplar_templates(image, float(image.mean()))

    def _track(self, pair: ImagePair) -> TrackResult:
        if pair.thermal is None:
            return TrackResult(box=self._box(), score=0.0, state="lost", response=None,
                               info={"thermal_missing": 1.0})
        self._note_rgb(pair)
        assert self.templates is not None
        p = self.params
        image = thermal_for_network(pair)
        pad = float(image.mean())
        side = self._region_side()
        size = self.net.crop_size
        crops = [square_crop(image, self.center, side * float(s), size, pad)
                 for s in self.scales]
        search = self.net.search_features(self._to_tensor(np.stack([c[0] for c in crops])))
        f_dis, f_fin = self.net.similarities(self.templates, search)
        maps = (f_dis + f_fin)[:, 0].float().cpu().numpy()               # Eq. 11
        best = select_scale(maps, float(p["scale_penalty"]))
        dx, dy = peak_displacement(maps[best], int(p["response_upsample"]),
                                   float(p["window_influence"]))
        region = crops[best][1]
        pixels_per_cell = self.net.stride * region[2] / size
        cx = region[0] + region[2] / 2.0 + dx * pixels_per_cell
        cy = region[1] + region[3] / 2.0 + dy * pixels_per_cell
        width, height = pair.size
        self.center = (float(np.clip(cx, 0.0, width)), float(np.clip(cy, 0.0, height)))
        rate = float(p["scale_lr"])
        factor = (1.0 - rate) + rate * float(self.scales[best])
        lo, hi = float(p["min_scale_factor"]), float(p["max_scale_factor"])
        w0, h0 = self.initial_size
        self.target_size = (float(np.clip(self.target_size[0] * factor, lo * w0, hi * w0)),
                            float(np.clip(self.target_size[1] * factor, lo * h0, hi * h0)))
        template_lr = float(p["template_lr"])
        if template_lr > 0:
            new = self._exemplar_templates(image, pad)
            self.templates = tuple((1.0 - template_lr) * old + template_lr * fresh
                                   for old, fresh in zip(self.templates, new))  # type: ignore
        response = maps[best].astype(np.float32)
        score = float(response.max())
        return TrackResult(box=self._box(), score=score, state="tracking", response=response,
                           info={"scale_index": float(best),
                                 "scale": float(self.scales[best])})
