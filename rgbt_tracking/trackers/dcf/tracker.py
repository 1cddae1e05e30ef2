"""Online procedure of ``dcf``: the training-free RGB-T correlation filter tracker.

Per frame: sample the search window around the previous centre at ``num_scales`` scales
for each modality, compute each branch's response (DSST Eq. 6), fuse (see ``fusion.py``),
take the best scale and the sub-cell peak, set the state from the fused response's
peak-to-sidelobe ratio, and on confident frames re-sample at the new box and blend it into
the filters (DSST Eq. 5). The preset is ``config/trackers/dcf.yaml``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from rgbt_tracking.core.box import BoxTuple, box_center, box_from_center
from rgbt_tracking.core.images import ImagePair
from rgbt_tracking.core.result import TrackResult
from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.features.feature_set import Patches, share_grey_gradient_histograms
from rgbt_tracking.trackers.dcf.correlation_filter import (
    CorrelationFilter,
    peak_to_sidelobe_ratio,
    subpixel_peak,
)
from rgbt_tracking.trackers.dcf.fusion import Branch, build_branches, reliability_weights
from rgbt_tracking.trackers.dcf.patches import sample_scales


class DCFTracker(Tracker):
    """Handcrafted-feature correlation filter for RGB, thermal or both.

    Args:
        params: the ``dcf`` preset (see ``config/trackers/dcf.yaml`` for every key).
        device: "cpu" or "cuda[:N]"; features, FFTs and responses run there, patch
            sampling stays on the CPU (OpenCV).
    """

    name = "dcf"

    def __init__(self, params: Dict[str, Any], device: str = "cpu") -> None:
        super().__init__(params, device)
        p = self.params
        self.fusion = str(p["fusion"])
        self.cell_size = int(p["cell_size"])
        if self.cell_size < 1:
            raise ValueError(f"cell_size must be >= 1, got {self.cell_size}")
        if int(p["num_scales"]) < 1 or int(p["num_scales"]) % 2 == 0:
            raise ValueError(f"num_scales must be odd and >= 1, got {p['num_scales']}")
        half = int(p["num_scales"]) // 2
        self.scale_factors = [float(p["scale_step"]) ** k for k in range(-half, half + 1)]
        self.scale_penalties = [1.0 if k == 0 else float(p["scale_penalty"]) ** abs(k)
                                for k in range(-half, half + 1)]
        # Build once to fail early on a bad fusion level or feature list.
        build_branches(self.fusion, ("rgb", "thermal"), p["features"], self.cell_size,
                       p["feature_weights"])
        self.branches: List[Branch] = []
        self.modalities: Tuple[str, ...] = ()
        self.center = (0.0, 0.0)
        self.velocity = (0.0, 0.0)   # pixels per frame
        self.frames_lost = 0
        self.base_target = (1.0, 1.0)
        self.base_window = (1.0, 1.0)
        self.scale = 1.0
        self.patch_size = (0, 0)
        self.image_size = (0, 0)

    # -- geometry -------------------------------------------------------------------------
    @property
    def target_size(self) -> Tuple[float, float]:
        """Current (w, h) of the box in pixels."""
        return (self.base_target[0] * self.scale, self.base_target[1] * self.scale)

    def _box(self) -> BoxTuple:
        return box_from_center(self.center[0], self.center[1], *self.target_size)

    def _plan_geometry(self, box: BoxTuple) -> None:
        padding = float(self.params["padding"])
        w, h = box[2], box[3]
        self.base_target = (w, h)
        self.base_window = (w * (1.0 + padding), h * (1.0 + padding))
        # Resample the window so that its area is model_size^2 pixels, keeping its aspect.
        model_size = float(self.params["model_size"])
        factor = model_size / math.sqrt(self.base_window[0] * self.base_window[1])
        cells_w = max(8, int(round(self.base_window[0] * factor / self.cell_size)))
        cells_h = max(8, int(round(self.base_window[1] * factor / self.cell_size)))
        self.patch_size = (cells_w * self.cell_size, cells_h * self.cell_size)
        self.grid_size = (cells_h, cells_w)
        target_cells = (w * factor / self.cell_size) * (h * factor / self.cell_size)
        self.sigma = math.sqrt(target_cells) * float(self.params["output_sigma_factor"])
        self.scale = 1.0

    def _clamp_scale(self, scale: float) -> float:
        width, height = self.image_size
        max_by_image = 2.0 * max(width / self.base_window[0], height / self.base_window[1])
        low = float(self.params["min_scale"])
        high = min(float(self.params["max_scale"]), max_by_image)
        return float(min(max(scale, low), high))

    # -- sampling -------------------------------------------------------------------------
    def _patches(self, pair: ImagePair, center: Tuple[float, float],
                 scales: List[float]) -> Dict[str, Optional[Patches]]:
        """Modality -> (S, C, H, W) float patches in [0, 1] on the tracker's device."""
        window = (self.base_window[0] * self.scale, self.base_window[1] * self.scale)
        out: Dict[str, Optional[torch.Tensor]] = {"rgb": None, "thermal": None}
        if pair.rgb is not None and "rgb" in self.modalities:
            stack = sample_scales(pair.rgb, center, window, scales, self.patch_size)
            tensor = torch.from_numpy(stack).to(self.device).permute(0, 3, 1, 2)
            out["rgb"] = Patches(tensor.float() * (1.0 / 255.0))
        if pair.thermal is not None and "thermal" in self.modalities:
            stack = sample_scales(pair.thermal, center, window, scales, self.patch_size)
            unit = pair.thermal_to_unit(stack)
            out["thermal"] = Patches(torch.from_numpy(unit).to(self.device).unsqueeze(1))
        share_grey_gradient_histograms([p for p in out.values() if p is not None],
                                       self.cell_size)
        return out

    # -- Tracker interface ----------------------------------------------------------------
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        self.image_size = pair.size
        self.modalities = tuple(m for m, image in (("rgb", pair.rgb), ("thermal", pair.thermal))
                                if image is not None)
        self.branches = build_branches(self.fusion, self.modalities, self.params["features"],
                                       self.cell_size, self.params["feature_weights"])
        self._plan_geometry(box)
        self.center = box_center(box)
        self.velocity = (0.0, 0.0)
        self.frames_lost = 0
        patches = self._patches(pair, self.center, [1.0])
        regularization = float(self.params["regularization"])
        for branch in self.branches:
            branch.filter = CorrelationFilter(self.grid_size, self.sigma, regularization,
                                              self.device)
            features = branch.features(patches)
            assert features is not None
            branch.filter.update(features[0], learning_rate=1.0)
        self.last_state = "tracking"
        # Reference for later peaks: the mean peak of the first confident frames (a filter's
        # peak on its own training sample is higher than on any later frame).
        self.mean_peak = 0.0
        self.peak_samples = 0
        self.confident_frames = 0

    def _track(self, pair: ImagePair) -> TrackResult:
        # Search where a constant-velocity model puts the target (image-plane motion of the
        # last confident frames), so fast targets and short occlusions stay in the window.
        previous = self.center
        width, height = self.image_size
        self.center = (min(max(self.center[0] + self.velocity[0], 0.0), width - 1.0),
                       min(max(self.center[1] + self.velocity[1], 0.0), height - 1.0))
        patches = self._patches(pair, self.center, self.scale_factors)
        responses: Dict[str, torch.Tensor] = {}
        psrs: Dict[str, float] = {}
        for branch in self.branches:
            features = branch.features(patches)
            if features is None:
                continue  # this branch's modality is missing in this frame
            assert branch.filter is not None
            response = branch.filter.respond(features)          # (S, h, w)
            responses[branch.name] = response
            best = int(torch.argmax(response.flatten(1).max(1).values))
            psrs[branch.name] = float(peak_to_sidelobe_ratio(response[best]))
        if not responses:
            return TrackResult(box=self._box(), score=0.0, state="lost", response=None,
                               info={"missing_modality": 1.0})
        weights = reliability_weights(psrs, float(self.params["reliability_floor"]))
        fused = sum(weights[name] * response for name, response in responses.items())
        assert isinstance(fused, torch.Tensor)
        peaks = fused.flatten(1).max(1).values
        penalties = torch.tensor(self.scale_penalties, dtype=peaks.dtype, device=peaks.device)
        best_scale = int(torch.argmax(peaks * penalties))
        best_response = fused[best_scale]
        psr = float(peak_to_sidelobe_ratio(best_response))
        dy, dx, peak = subpixel_peak(best_response)
        state = self._state_from_quality(psr, peak)
        degraded = self._missing_fused_modality(patches)
        if degraded and state == "tracking":
            state = "uncertain"

        window_scale = self.scale * self.scale_factors[best_scale]
        if state != "lost":
            pixels_per_cell_x = self.base_window[0] * window_scale / self.patch_size[0] * self.cell_size
            pixels_per_cell_y = self.base_window[1] * window_scale / self.patch_size[1] * self.cell_size
            cx = min(max(self.center[0] + dx * pixels_per_cell_x, 0.0), width - 1.0)
            cy = min(max(self.center[1] + dy * pixels_per_cell_y, 0.0), height - 1.0)
            self.center = (cx, cy)
        self._update_motion(state, previous)
        if state == "tracking":
            self.scale = self._clamp_scale(window_scale)
            self.peak_samples += 1
            momentum = max(float(self.params["peak_momentum"]), 1.0 / self.peak_samples)
            self.mean_peak = (1.0 - momentum) * self.mean_peak + momentum * peak
            self.confident_frames += 1
            if self.confident_frames % int(self.params["update_interval"]) == 0:
                self._update_model(pair, psrs)
        self.last_state = state
        info = {"psr": psr, "scale": self.scale, "peak_ratio": peak / max(self.mean_peak, 1e-9),
                "velocity_x": self.velocity[0], "velocity_y": self.velocity[1]}
        for name in responses:
            info[f"psr_{name}"] = psrs[name]
            info[f"weight_{name}"] = weights[name]
        display = torch.fft.fftshift(best_response).detach().to("cpu").numpy()
        return TrackResult(box=self._box(), score=float(peak), state=state,
                           response=display.astype(np.float32, copy=False), info=info)

    # -- helpers --------------------------------------------------------------------------
    def _state_from_quality(self, psr: float, peak: float) -> str:
        """State from the fused response: its peak-to-sidelobe ratio and its peak relative
        to the running mean peak of confident frames (a sharp but weak peak is a
        distractor as often as the target)."""
        p = self.params
        # Until a few confident frames have set the reference, judge by the PSR alone.
        ratio = peak / self.mean_peak if self.peak_samples >= int(p["peak_warmup"]) else 1.0
        if psr < float(p["psr_lost"]) or ratio < float(p["peak_ratio_lost"]):
            return "lost"
        if psr < float(p["psr_tracking"]) or ratio < float(p["peak_ratio_tracking"]):
            return "uncertain"
        return "tracking"

    def _update_motion(self, state: str, previous: Tuple[float, float]) -> None:
        """Constant-velocity model: learnt on confident frames, coasted (and decayed) while
        lost for at most ``max_coast_frames``, then the box is held."""
        if state == "tracking":
            rate = float(self.params["velocity_rate"])
            step = (self.center[0] - previous[0], self.center[1] - previous[1])
            self.velocity = ((1.0 - rate) * self.velocity[0] + rate * step[0],
                             (1.0 - rate) * self.velocity[1] + rate * step[1])
            self.frames_lost = 0
        elif state == "lost":
            self.frames_lost += 1
            decay = float(self.params["velocity_decay"])
            if self.frames_lost > int(self.params["max_coast_frames"]):
                decay = 0.0
            self.velocity = (self.velocity[0] * decay, self.velocity[1] * decay)

    def _missing_fused_modality(self, patches: Mapping[str, Optional[Patches]]) -> bool:
        """True when a pixel/feature branch ran with a modality replaced by zeros."""
        return any(len(b.modalities) > 1 and any(patches.get(m) is None for m in b.modalities)
                   for b in self.branches)

    def _update_model(self, pair: ImagePair, psrs: Mapping[str, float]) -> None:
        """Blend a sample at the new box into each confident branch's filter (DSST Eq. 5)."""
        patches = self._patches(pair, self.center, [1.0])
        # One update every `update_interval` confident frames (ECO's sparse updating,
        # Danelljan et al. CVPR 2017), with the rate compounded so that the model's memory
        # in frames stays that of `learning_rate` per frame.
        interval = int(self.params["update_interval"])
        learning_rate = 1.0 - (1.0 - float(self.params["learning_rate"])) ** interval
        threshold = float(self.params["branch_update_psr"])
        for branch in self.branches:
            if psrs.get(branch.name, 0.0) < threshold:
                continue  # this modality is unreliable now: keep its old model
            features = branch.features(patches)
            if features is None:
                continue
            assert branch.filter is not None
            branch.filter.update(features[0], learning_rate)
