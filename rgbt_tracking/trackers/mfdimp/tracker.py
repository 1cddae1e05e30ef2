"""Online procedure of ``mfdimp`` (DiMP's, with RGB-T inputs).

Per frame (DiMP, Bhat et al. 2019, Sec. 3.3-3.4 and its public tracker):

1. sample the search region around the previous centre (side ``sqrt(w h) *
   search_area_scale``, resized to ``image_sample_size``) from each camera;
2. backbone features per modality, fused as the preset's wiring says; classifier scores
   s = x * f per branch, summed at the response level (s^F = s^V + s^T);
3. localise: the peak of s; the target is "not found" when the peak is below
   ``target_not_found_threshold``; a second peak outside the target's neighbourhood above
   ``distractor_threshold`` times the first makes the frame ambiguous (the peak closer to
   the previous position wins, state "uncertain"), above ``hard_negative_threshold``
   it is a hard negative (immediate model update);
4. box estimation: IoU-Net gradient ascent from the previous size at the new centre and
   from jittered boxes around it; the mean of the ``iou_top_k`` best boxes;
5. update: the frame's classification features and box enter the sample memory (with
   replacement, decaying weights); every ``train_skipping`` frames, or at once after a
   hard negative, the filter is optimised further from its current value on the memory.

A missing camera: feature-level variants feed zeros for the absent modality's features
(documented default, ``missing_features: zeros``) and report "uncertain" without updating
the model; response-level variants drop that branch; a single-modality tracker without its
camera coasts ("lost").
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from rgbt_tracking.core.box import BoxTuple
from rgbt_tracking.core.images import ImagePair
from rgbt_tracking.core.result import TrackResult
from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.trackers.mfdimp.augmentation import augmentations_from_params
from rgbt_tracking.trackers.mfdimp.classifier import apply_filter, box_centres_in_score_map
from rgbt_tracking.trackers.mfdimp.iou_net import refine_boxes
from rgbt_tracking.trackers.mfdimp.model_loading import build_network
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet
from rgbt_tracking.trackers.mfdimp.sample_memory import SampleMemory
from rgbt_tracking.trackers.mfdimp.search_region import SearchRegion, prepare_images


class MfDiMPTracker(Tracker):
    """DiMP with RGB-T fusion at the level the preset chooses (``config/trackers/mfdimp.yaml``).

    Args:
        params: the ``mfdimp`` preset merged with overrides.
        device: "cpu" or "cuda[:N]".
        network: use this (eval-mode, gradient-free) network instead of building one
            from the preset's weights keys.
    """

    name = "mfdimp"
    online_autograd = True

    def __init__(self, params: Dict[str, Any], device: str = "cpu",
                 network: Optional[MfDiMPNet] = None) -> None:
        super().__init__(params, device)
        p = self.params
        if network is None:
            self.net, self.weights_origin = build_network(p)
        else:   # an in-memory network (evaluation during training)
            self.net, self.weights_origin = network, "in-memory network"
        self.net.to(device)
        self.spec = self.net.fusion
        if bool(p.get("half_precision", False)) and device.startswith("cuda"):
            self.net.half()
        self.dtype = next(self.net.parameters()).dtype
        self.sample_size = int(p["image_sample_size"])
        stride = int(self.net.feature_stride)
        if self.sample_size % stride:
            raise ValueError(f"image_sample_size must be a multiple of the feature stride "
                             f"{stride}, got {self.sample_size}")
        self.search_area_scale = float(p["search_area_scale"])
        self.generator = torch.Generator().manual_seed(int(p.get("seed", 0)))
        self.filters: Dict[str, torch.Tensor] = {}
        self.memories: Dict[str, SampleMemory] = {}
        self.modulation: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self.center = (0.0, 0.0)
        self.target_size = (1.0, 1.0)
        self.initial_size = (1.0, 1.0)
        self.frames_since_update = 0

    # -- helpers ----------------------------------------------------------------------
    def _patches(self, pair: ImagePair, region: SearchRegion
                 ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        thermal_unit = None if pair.thermal is None else pair.thermal_to_unit(pair.thermal)
        rgb, thermal = prepare_images(pair.rgb, thermal_unit)
        return (None if rgb is None else region.crop(rgb),
                None if thermal is None else region.crop(thermal))

    def _to_tensors(self, rgb: List[Optional[np.ndarray]], thermal: List[Optional[np.ndarray]]
                    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        def stack(items: List[Optional[np.ndarray]], channels: int) -> Optional[torch.Tensor]:
            if not items or items[0] is None:
                return None
            array = np.stack([i.reshape(i.shape[0], i.shape[1], channels) for i in items])
            return torch.from_numpy(array).permute(0, 3, 1, 2).to(self.device, self.dtype)
        return stack(rgb, 3), stack(thermal, 1)

    def _missing(self, pair: ImagePair) -> List[str]:
        present = {"rgb": pair.rgb is not None, "thermal": pair.thermal is not None}
        return [m for m in self.spec.modalities if not present[m]]

    # -- initialisation ---------------------------------------------------------------
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        x, y, w, h = box
        self.center = (x + w / 2.0, y + h / 2.0)
        self.target_size = (w, h)
        self.initial_size = (w, h)
        self.frames_since_update = 0
        region = SearchRegion.around(self.center, self.target_size, self.search_area_scale,
                                     self.sample_size)
        rgb, thermal = self._patches(pair, region)
        patch_box = region.box_to_patch(box)
        transforms = augmentations_from_params(self.params["init_augmentation"],
                                               (patch_box[2], patch_box[3]))
        rgb_list = [t.image(rgb) for t in transforms]
        thermal_list = [t.image(thermal) for t in transforms]
        boxes = torch.tensor(np.stack([t.box(patch_box, self.sample_size) for t in transforms]),
                             dtype=self.dtype, device=self.device)
        rgb_t, thermal_t = self._to_tensors(rgb_list, thermal_list)
        features = self.net.extract_backbone_features(rgb_t, thermal_t)
        clf = self.net.classification_features(features)
        self.filters, self.memories = {}, {}
        for name, x_train in clf.items():
            classifier = self.net.classifiers[name]
            filt, _ = classifier.predict_filter(x_train.unsqueeze(1), boxes.unsqueeze(1),
                                                int(self.params["num_init_iter"]))
            self.filters[name] = filt
            memory = SampleMemory(int(self.params["sample_memory_size"]),
                                  float(self.params["init_samples_minimum_weight"]))
            memory.initialise(x_train, boxes)
            self.memories[name] = memory
        iou_features = self.net.iou_features(features)
        self.modulation = None
        if iou_features is not None:
            first = tuple(f[:1] for f in iou_features)
            self.modulation = self.net.iou_net.modulation(first, boxes[:1])

    # -- tracking ---------------------------------------------------------------------
    def _track(self, pair: ImagePair) -> TrackResult:
        p = self.params
        region = SearchRegion.around(self.center, self.target_size, self.search_area_scale,
                                     self.sample_size)
        rgb, thermal = self._patches(pair, region)
        rgb_t, thermal_t = self._to_tensors([rgb], [thermal])
        features = self.net.extract_backbone_features(rgb_t, thermal_t)
        clf = self.net.classification_features(features)
        missing = self._missing(pair)
        branches = [n for n in clf if n in self.filters]
        if not branches:
            return self._coast("no classifier input (camera missing)")
        scores = sum(apply_filter(clf[n].unsqueeze(1), self.filters[n])[0, 0] for n in branches)
        assert isinstance(scores, torch.Tensor)
        flag, peak, max_score = self._localize(scores.float(), region)
        k = self.net.classifiers[branches[0]].filter_size
        stride = self.net.feature_stride
        offset = ((k + 1) % 2) / 2.0
        patch_centre = ((peak[1] - offset) * stride, (peak[0] - offset) * stride)
        state = "tracking"
        if flag == "not_found":
            state = "lost"
        elif flag == "uncertain" or (missing and self.spec.level in ("feature", "pixel")):
            state = "uncertain"
        if flag != "not_found":
            new_box = self._estimate_box(features, region, patch_centre)
            self._set_box(region.box_to_image(new_box), pair.size)
        if state == "tracking":
            self._update(clf, region, flag == "hard_negative")
        response = scores.float().cpu().numpy().astype(np.float32)
        info = {"peak": max_score, "branches": float(len(branches)),
                "hard_negative": float(flag == "hard_negative")}
        return TrackResult(box=self._box(), score=max_score, state=state,  # type: ignore[arg-type]
                           response=response, info=info)

    def _coast(self, _reason: str) -> TrackResult:
        return TrackResult(box=self._box(), score=0.0, state="lost", response=None)

    def _box(self) -> BoxTuple:
        cx, cy = self.center
        w, h = self.target_size
        return (cx - w / 2.0, cy - h / 2.0, w, h)

    def _set_box(self, box: np.ndarray, image_size: Tuple[int, int]) -> None:
        width, height = image_size
        lo = float(self.params["min_scale_factor"])
        hi = float(self.params["max_scale_factor"])
        w0, h0 = self.initial_size
        w = float(np.clip(box[2], max(lo * w0, 2.0), min(hi * w0, width)))
        h = float(np.clip(box[3], max(lo * h0, 2.0), min(hi * h0, height)))
        cx = float(np.clip(box[0] + box[2] / 2.0, 0.0, width))
        cy = float(np.clip(box[1] + box[3] / 2.0, 0.0, height))
        self.center, self.target_size = (cx, cy), (w, h)

    def _localize(self, scores: torch.Tensor, region: SearchRegion
                  ) -> Tuple[str, Tuple[int, int], float]:
        """DiMP's peak analysis. Returns (flag, (row, col) of the chosen peak, its score)."""
        p = self.params
        height, width = scores.shape
        flat = int(torch.argmax(scores))
        peak1 = (flat // width, flat % width)
        max1 = float(scores[peak1])
        if not math.isfinite(max1) or max1 < float(p["target_not_found_threshold"]):
            return "not_found", peak1, max1 if math.isfinite(max1) else 0.0
        cells_w = self.target_size[0] / region.scale / self.net.feature_stride
        cells_h = self.target_size[1] / region.scale / self.net.feature_stride
        radius_x = float(p["target_neighborhood_scale"]) * cells_w / 2.0
        radius_y = float(p["target_neighborhood_scale"]) * cells_h / 2.0
        rows = torch.arange(height).reshape(-1, 1)
        cols = torch.arange(width).reshape(1, -1)
        near = ((rows - peak1[0]).abs() <= radius_y) & ((cols - peak1[1]).abs() <= radius_x)
        masked = scores.masked_fill(near, float("-inf"))
        flat2 = int(torch.argmax(masked))
        peak2 = (flat2 // width, flat2 % width)
        max2 = float(masked[peak2])
        if not math.isfinite(max2):
            return "normal", peak1, max1
        if max2 > float(p["distractor_threshold"]) * max1 and \
                max2 > float(p["target_not_found_threshold"]):
            k = self.net.classifiers[next(iter(self.filters))].filter_size
            centre = box_centres_in_score_map(
                torch.tensor([self.sample_size / 2.0, self.sample_size / 2.0, 0.0, 0.0]),
                self.net.feature_stride, k)
            d1 = math.hypot(peak1[1] - float(centre[0]), peak1[0] - float(centre[1]))
            d2 = math.hypot(peak2[1] - float(centre[0]), peak2[0] - float(centre[1]))
            if d2 < d1:
                return "uncertain", peak2, max2
            return "uncertain", peak1, max1
        if max2 > float(p["hard_negative_threshold"]) * max1 and \
                max2 > float(p["target_not_found_threshold"]):
            return "hard_negative", peak1, max1
        return "normal", peak1, max1

    def _estimate_box(self, features: Dict[str, Dict[str, torch.Tensor]],
                      region: SearchRegion, patch_centre: Tuple[float, float]) -> np.ndarray:
        """IoU-Net refinement around the new centre; returns a patch box x y w h."""
        w = self.target_size[0] / region.scale
        h = self.target_size[1] / region.scale
        start = np.array([patch_centre[0] - w / 2.0, patch_centre[1] - h / 2.0, w, h])
        refine = self.params["box_refinement"]
        iou_features = self.net.iou_features(features)
        if not refine.get("enabled", True) or self.modulation is None or iou_features is None:
            return start
        n = int(refine["num_random_boxes"])
        base = torch.tensor(start, dtype=torch.float32)
        jitter_pos = float(refine["box_jitter_pos"]) * math.sqrt(w * h)
        centre = base[:2] + base[2:] / 2.0
        noise = torch.rand(n, 4, generator=self.generator) * 2.0 - 1.0
        centres = centre + noise[:, :2] * jitter_pos
        sizes = base[2:] * torch.exp(noise[:, 2:] * float(refine["box_jitter_size"]))
        jittered = torch.cat([centres - sizes / 2.0, sizes], dim=1)
        boxes = torch.cat([base.reshape(1, 4), jittered]).unsqueeze(0)
        boxes = boxes.to(self.device, self.dtype)
        test = self.net.iou_net.test_features(iou_features)
        step = float(refine["step_length"])
        refined, iou = refine_boxes(self.net.iou_net, self.modulation, test, boxes,
                                    steps=int(refine["steps"]),
                                    step_length=(step, step, step, step),
                                    decay=float(refine["step_decay"]))
        refined, iou = refined[0].float().cpu(), iou[0].float().cpu()
        aspect = refined[:, 2] / refined[:, 3].clamp(min=1e-6)
        max_aspect = float(refine["max_aspect_ratio"])
        keep = (aspect < max_aspect) & (aspect > 1.0 / max_aspect) & torch.isfinite(iou)
        if not bool(keep.any()):
            return start
        refined, iou = refined[keep], iou[keep]
        top = torch.topk(iou, min(int(refine["top_k"]), len(iou))).indices
        chosen = refined[top].mean(dim=0).numpy().astype(np.float64)
        return chosen

    def _update(self, clf: Dict[str, torch.Tensor], region: SearchRegion,
                hard_negative: bool) -> None:
        """Add this frame to each branch's memory and optimise when due (DiMP Sec. 3.4)."""
        p = self.params
        box = torch.tensor(region.box_to_patch(self._box()), dtype=self.dtype,
                           device=self.device)
        rate = float(p["hard_negative_learning_rate"] if hard_negative else p["learning_rate"])
        for name, memory in self.memories.items():
            if name in clf:
                memory.add(clf[name][0], box, rate)
        self.frames_since_update += 1
        if hard_negative:
            steps = int(p["hard_negative_iter"])
        elif self.frames_since_update >= int(p["train_skipping"]):
            steps = int(p["update_iter"])
        else:
            return
        self.frames_since_update = 0
        for name, memory in self.memories.items():
            x, boxes, weights = memory.samples()
            optimizer = self.net.classifiers[name].filter_optimizer
            self.filters[name], _, _ = optimizer(self.filters[name], x.unsqueeze(1),
                                                 boxes.unsqueeze(1), steps,
                                                 sample_weights=weights.reshape(-1, 1))
