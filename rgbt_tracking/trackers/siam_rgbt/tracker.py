"""Online procedure of ``siam_rgbt`` (SiamBAN's tracker on fused RGB-T features).

initialize: the template crop (side ``sqrt((w + p)(h + p))``, ``p = context_amount (w +
h)``) of each camera resized to ``template_size``; its fused, centre-cropped features are
kept for the whole sequence.

track, per frame (SiamBAN, Chen et al. CVPR 2020, Sec. 3.5):

1. search crops ``search_size / template_size`` times the template crop around the
   previous centre, resized to ``search_size``;
2. fused search features; head: foreground probability (softmax) and l, t, r, b per cell;
3. boxes decoded at SiamBAN's point grid, scale / aspect change penalty, cosine window
   (:mod:`~rgbt_tracking.trackers.siam_rgbt.postprocess`); the best cell gives the new
   centre, the size moves towards the predicted one by ``penalty * score *
   size_learning_rate``; the box is clipped to the image (size >= ``min_size``).

A missing camera: its features are zeros (the network was trained with both), and the
frame is reported "uncertain"; so is a frame whose chosen score is below
``uncertain_threshold``. The template is never updated (SiamBAN).

Subclasses change the fusion only (``gmmt``): :meth:`SiamRGBTTracker._fuse` and
:meth:`SiamRGBTTracker._start_sequence` are the hooks.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from rgbt_tracking.core.box import BoxTuple, box_from_center
from rgbt_tracking.core.images import ImagePair
from rgbt_tracking.core.result import TrackResult
from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.trackers.siam_rgbt.crops import crop_square
from rgbt_tracking.trackers.siam_rgbt.labels import score_points
from rgbt_tracking.trackers.siam_rgbt.model_loading import build_network
from rgbt_tracking.trackers.siam_rgbt.network import SiameseRGBTBase
from rgbt_tracking.trackers.siam_rgbt.postprocess import (
    context_side,
    cosine_window,
    decode_boxes,
    select_box,
)


class SiamRGBTTracker(Tracker):
    """The Siamese RGB-T baseline (``config/trackers/siam_rgbt.yaml``).

    Args:
        params: the preset merged with overrides.
        device: "cpu" or "cuda[:N]".
        network: use this (eval-mode) network instead of building one from the preset's
            weights keys; its patch sizes are the preset's.
    """

    name = "siam_rgbt"

    def __init__(self, params: Dict[str, Any], device: str = "cpu",
                 network: Optional[SiameseRGBTBase] = None) -> None:
        super().__init__(params, device)
        if network is None:
            network, self.weights_origin, model = self._build_network(self.params)
            self.params.update({k: model[k] for k in ("template_size", "search_size")
                                if k in model})
        else:
            self.weights_origin = "in-memory network"
        self.net = network.to(device).eval()
        p = self.params
        self.template_size = int(p["template_size"])
        self.search_size = int(p["search_size"])
        if not 0 < self.template_size < self.search_size:
            raise ValueError(f"template_size must be > 0 and < search_size, got "
                             f"{self.template_size} and {self.search_size}")
        self.center = (0.0, 0.0)
        self.size = (1.0, 1.0)
        self.template: Optional[torch.Tensor] = None
        self._grids: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}

    # -- hooks for subclasses ---------------------------------------------------------
    def _build_network(self, params: Dict[str, Any]
                       ) -> Tuple[SiameseRGBTBase, str, Dict[str, Any]]:
        return build_network(params)

    def _start_sequence(self) -> None:
        """Called at each initialize() before the template is fused."""

    def _fuse(self, f_rgb: torch.Tensor, f_thermal: torch.Tensor) -> torch.Tensor:
        return self.net.fuse(f_rgb, f_thermal)

    # -- helpers ----------------------------------------------------------------------
    def _patches(self, pair: ImagePair, side: float, size: int
                 ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor], np.ndarray]:
        """(rgb (1, 3, S, S) | None, thermal (1, 1, S, S) | None on 0-255, crop x0 y0 s s)."""
        rgb_t = thermal_t = None
        crop = np.zeros(4)
        if pair.rgb is not None:
            patch, crop = crop_square(pair.rgb, self.center, side, size)
            rgb_t = torch.from_numpy(patch.astype(np.float32)).permute(2, 0, 1)[None]
        if pair.thermal is not None:
            patch, crop = crop_square(pair.thermal, self.center, side, size)
            unit = pair.thermal_to_unit(patch) * np.float32(255.0)
            thermal_t = torch.from_numpy(unit)[None, None]
        device = self.device
        return (None if rgb_t is None else rgb_t.to(device),
                None if thermal_t is None else thermal_t.to(device), crop)

    def _grid(self, score_size: int) -> Tuple[np.ndarray, np.ndarray]:
        if score_size not in self._grids:
            self._grids[score_size] = (score_points(score_size, self.net.feature_stride),
                                       cosine_window(score_size))
        return self._grids[score_size]

    # -- online procedure -------------------------------------------------------------
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        x, y, w, h = box
        self.center = (x + w / 2.0, y + h / 2.0)
        self.size = (w, h)
        self._start_sequence()
        side = context_side(w, h, float(self.params["context_amount"]))
        rgb, thermal, _ = self._patches(pair, side, self.template_size)
        self.template = self._fuse(*self.net.extract_template(rgb, thermal))

    def _track(self, pair: ImagePair) -> TrackResult:
        p = self.params
        assert self.template is not None
        side_z = context_side(self.size[0], self.size[1], float(p["context_amount"]))
        side_x = side_z * self.search_size / self.template_size
        rgb, thermal, crop = self._patches(pair, side_x, self.search_size)
        search = self._fuse(*self.net.extract(rgb, thermal))
        cls, loc = self.net.head(self.template, search)
        score = torch.softmax(cls[0].float(), dim=0)[1].cpu().numpy().astype(np.float64)
        distances = loc[0].float().cpu().numpy().astype(np.float64)
        points, window = self._grid(score.shape[0])
        # patch pixels per image pixel of the window actually cut (crop_square rounds it)
        scale = self.search_size / float(crop[2])
        boxes = decode_boxes(points, distances)
        chosen = select_box(score, boxes, (self.size[0] * scale, self.size[1] * scale),
                            window, float(p["penalty_k"]), float(p["window_influence"]),
                            float(p["size_learning_rate"]))
        # the patch centre is the image point crop_xy + (s / 2); the box is relative to it
        patch_center = (crop[0] + crop[2] / 2.0, crop[1] + crop[3] / 2.0)
        cx = patch_center[0] + chosen.box[0] / scale
        cy = patch_center[1] + chosen.box[1] / scale
        rate = chosen.size_rate
        w = self.size[0] * (1.0 - rate) + chosen.box[2] / scale * rate
        h = self.size[1] * (1.0 - rate) + chosen.box[3] / scale * rate
        self._set_box(cx, cy, w, h, pair.size)
        uncertain = (pair.rgb is None or pair.thermal is None
                     or chosen.score < float(p["uncertain_threshold"]))
        info = {"penalty": chosen.penalty, "size_rate": rate,
                "peak_row": float(chosen.index[0]), "peak_col": float(chosen.index[1])}
        return TrackResult(box=box_from_center(*self.center, *self.size), score=chosen.score,
                           state="uncertain" if uncertain else "tracking",
                           response=score.astype(np.float32), info=info)

    def _set_box(self, cx: float, cy: float, w: float, h: float,
                 image_size: Tuple[int, int]) -> None:
        """SiamBAN's clip: centre inside the image, size in [min_size, image side]."""
        width, height = image_size
        low = float(self.params["min_size"])
        self.center = (float(np.clip(cx, 0.0, width)), float(np.clip(cy, 0.0, height)))
        self.size = (float(np.clip(w, low, max(low, width))),
                     float(np.clip(h, low, max(low, height))))
