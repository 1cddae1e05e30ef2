"""MDNet's online procedure for the RGB-T networks of M5L and CMI (:class:`MDNetRGBTTracker`).

Nam & Han, "Learning Multi-Domain Convolutional Neural Networks for Visual Tracking"
(CVPR 2016), Sec. 3.3-3.5 and Algorithm 1, with RT-MDNet's one-pass feature extraction
(Jung et al., ECCV 2018). Every number is a preset key (``config/trackers/m5l.yaml``,
``cmi.yaml``).

Initialisation (first frame, box g):

1. ``n_pos_init`` positives (``pos_init`` sampler, IoU in ``pos_init_iou``), ``n_neg_init``
   negatives (``neg_init``, IoU in ``neg_init_iou``) and ``n_bbreg`` regression samples
   (``bbreg_sampler``, IoU in ``bbreg_iou``) are read from one crop (:mod:`scene`);
2. the bounding-box regressor is fitted on the regression samples (:mod:`bbox_regression`);
3. a fresh fc6 (2 outputs) is put on copies of the network's fc4 / fc5 and the three are
   fine-tuned for ``maxiter_init`` iterations (below); the positives and negatives start
   the long- and short-term memories.

Per frame:

1. ``n_samples`` candidates from the ``sampler`` ("gaussian") around the previous target,
   read from one crop (one conv pass per modality, one fusion, one RoIAlign of all boxes,
   one fc4-fc6 pass);
2. the target is the mean of the ``top_k`` best candidates (positive logit); the target
   score is the mean of their positive logits; success when it exceeds
   ``success_threshold`` (MDNet: 0);
3. success: the sampler's spread returns to its preset value, the box is refined by the
   regressor (mean of the top-k regressed boxes); failure: the spread grows by
   ``trans_growth`` up to ``trans_limit`` (search-region enlargement) and the box is not
   regressed;
4. success: ``n_pos_update`` positives (IoU in ``pos_update_iou``) and ``n_neg_update``
   negatives (IoU in ``neg_update_iou``) of the new box enter the memories; positives are
   kept for ``n_frames_long`` frames, negatives for ``n_frames_short``;
5. short-term update on failure (positives of the last ``n_frames_short`` frames), long-term
   update every ``long_interval`` frames (all positives in memory), both with every
   negative in memory, ``maxiter_update`` iterations.

Online training (MDNet's ``train``): per iteration ``batch_pos`` positives and
``batch_neg_cand`` negative candidates taken in turn from shuffled lists; hard negative
mining keeps the ``batch_neg`` negatives with the highest positive score (scored in eval
mode); softmax cross-entropy; SGD with momentum and weight decay, fc6 at
``lr_mult_fc6`` times the rate, gradient norm clipped at ``grad_clip``.

A missing modality: its conv3 features are zeros (the fused features of the other one still
score the candidates); the result is "uncertain" and nothing is learnt or memorised from
the frame. A failed frame is "uncertain" too (MDNet's box is still the best candidate).

Randomness (sampling, fc6 initialisation, shuffling, dropout) comes from ``seed``: the
generators are reseeded at every :meth:`initialize`, so a sequence replays identically; the
global torch generator is left untouched.
"""
from __future__ import annotations

import copy
from collections import deque
from typing import Any, Deque, Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from rgbt_tracking.core.box import BoxTuple, clip_box
from rgbt_tracking.core.images import ImagePair, thermal_to_255
from rgbt_tracking.core.result import TrackResult
from rgbt_tracking.core.tracker import Tracker
from rgbt_tracking.trackers.mdnet_rgbt.bbox_regression import BoxRegressor
from rgbt_tracking.trackers.mdnet_rgbt.candidates import generator_from_config, sample_by_overlap
from rgbt_tracking.trackers.mdnet_rgbt.model_loading import build_network, model_config
from rgbt_tracking.trackers.mdnet_rgbt.network import MDNetRGBT
from rgbt_tracking.trackers.mdnet_rgbt.scene import SceneCrop, boxes_to_rois, plan_crop

#: MDNet's input offset: pixel values 0-255 minus 128.
PIXEL_OFFSET = 128.0


def network_images(pair: ImagePair) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(rgb H x W x 3, thermal H x W) float32 on the 0-255 scale, None where missing
    (:func:`~rgbt_tracking.core.images.thermal_to_255` for the thermal image)."""
    rgb = None if pair.rgb is None else pair.rgb.astype(np.float32)
    thermal = None if pair.thermal is None else thermal_to_255(pair.thermal)
    return rgb, thermal


class OnlineClassifier(nn.Module):
    """fc4, fc5 (copies of the network's) and a fresh fc6 branch for one sequence."""

    def __init__(self, net: MDNetRGBT, generator: torch.Generator) -> None:
        super().__init__()
        self.fc4 = copy.deepcopy(net.fc4)
        self.fc5 = copy.deepcopy(net.fc5)
        dropout = float(net.branches[0][0].p)
        linear = nn.Linear(net.fc5[1].out_features, 2)
        with torch.no_grad():   # MDNet: fc6 weights N(0, 0.01^2), bias 0
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.01)
            linear.bias.zero_()
        self.fc6 = nn.Sequential(nn.Dropout(dropout), linear)
        for parameter in self.parameters():
            parameter.requires_grad_(True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(K, feature_dim) RoI features -> (K, 2) logits (column 1: target)."""
        return self.fc6(self.fc5(self.fc4(features)))


class MDNetRGBTTracker(Tracker):
    """MDNet's online procedure on an RGB-T network (see the module docstring).

    Subclasses set :attr:`fusion` ("m5l" or "cmi") and :attr:`task` (whose training
    checkpoints they read).

    Args:
        params: the tracker preset merged with overrides.
        device: "cpu" or "cuda[:N]".
        network: use this (eval-mode, gradient-free) network instead of building one from
            the preset (evaluation during training); its model keys are the preset's.
    """

    name = "mdnet_rgbt"
    fusion = "concat"
    task = ""
    online_autograd = True

    def __init__(self, params: Dict[str, Any], device: str = "cpu",
                 network: Optional[MDNetRGBT] = None) -> None:
        super().__init__(params, device)
        preset = dict(self.params)
        preset["fusion"] = self.fusion
        if network is None:
            network, model, self.weights_origin = build_network(preset, self.task)
        else:
            model, self.weights_origin = model_config(preset), "given network"
        if network.fusion_name != self.fusion:
            raise ValueError(f"{self.name}: the network fuses with {network.fusion_name!r}, "
                             f"this tracker needs {self.fusion!r}")
        self.net = network.to(device).eval()
        self.target_px = float(model.get("target_px", preset["target_px"]))
        self.roi_padding = float(model.get("roi_padding", preset["roi_padding"]))
        p = self.params
        self.sampler = generator_from_config(p["sampler"], "sampler")
        self.base_trans = self.sampler.trans
        self.head: Optional[OnlineClassifier] = None
        self.regressor = BoxRegressor(float(p["bbreg_alpha"]))
        self.target_box = np.zeros(4)
        self.image_size_now: Tuple[int, int] = (0, 0)
        self.positives: Deque[torch.Tensor] = deque(maxlen=int(p["n_frames_long"]))
        self.negatives: Deque[torch.Tensor] = deque(maxlen=int(p["n_frames_short"]))
        self.rng = np.random.default_rng(int(p.get("seed", 0)))
        self.torch_rng = torch.Generator().manual_seed(int(p.get("seed", 0)))

    # -- features ---------------------------------------------------------------------------
    def _crop_tensor(self, image: Optional[np.ndarray], crop: SceneCrop) -> Optional[torch.Tensor]:
        """(1, C, h, w) MDNet-scaled crop of an H x W (x 3) 0-255 image, or None."""
        if image is None:
            return None
        patch = crop.cut(image) - np.float32(PIXEL_OFFSET)
        tensor = torch.from_numpy(np.ascontiguousarray(patch))
        tensor = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor[None]
        return tensor[None].to(self.device)

    def features(self, images: Tuple[Optional[np.ndarray], Optional[np.ndarray]],
                 boxes: np.ndarray) -> torch.Tensor:
        """Fused RoI features (N, feature_dim) of (N, 4) x y w h image boxes: one crop
        around them (target at ``target_px``), one conv pass per modality, one fusion, one
        RoIAlign of all boxes."""
        size = (self.target_box[2], self.target_box[3])
        crop = plan_crop(boxes, size, self.target_px, self.roi_padding,
                         int(self.params["max_crop_px"]))
        rgb, thermal = self._crop_tensor(images[0], crop), self._crop_tensor(images[1], crop)
        rgb_map, thermal_map = self.net.conv_features(rgb, thermal)
        fused = self.net.fuse(rgb_map, thermal_map)
        rois = torch.from_numpy(boxes_to_rois(crop.boxes_to_crop(boxes), self.roi_padding))
        return self.net.pool(fused, rois.to(fused.dtype).to(self.device))

    def _draw(self, kind: str, box: np.ndarray, count: int) -> np.ndarray:
        p = self.params
        generator = generator_from_config(p[kind], kind)
        return sample_by_overlap(generator, box, int(count), tuple(p[f"{kind}_iou"]),
                                 self.image_size_now, self.rng)

    # -- Tracker ------------------------------------------------------------------------------
    def _initialize(self, pair: ImagePair, box: BoxTuple) -> None:
        p = self.params
        seed = int(p.get("seed", 0))
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        self.sampler = self.sampler.with_trans(self.base_trans)
        self.image_size_now = pair.size
        self.target_box = np.asarray(box, dtype=np.float64)
        images = network_images(pair)
        pos = self._draw("pos_init", self.target_box, p["n_pos_init"])
        neg = self._draw("neg_init", self.target_box, p["n_neg_init"])
        bbreg = self._draw("bbreg_sampler", self.target_box, p["n_bbreg"])
        if len(pos) == 0 or len(neg) == 0:
            raise ValueError(f"{self.name}: no positive or negative samples could be drawn "
                             f"around the box {tuple(box)} in a {pair.size} image")
        features = self.features(images, np.concatenate([pos, neg, bbreg]))
        pos_f, neg_f = features[:len(pos)], features[len(pos):len(pos) + len(neg)]
        if len(bbreg):
            self.regressor.fit(features[len(pos) + len(neg):], bbreg, self.target_box)
        self.head = OnlineClassifier(self.net, self.torch_rng).to(self.device)
        self._optimizers = {rate: self._optimizer(float(p[rate])) for rate in ("lr_init",
                                                                               "lr_update")}
        self._train(pos_f, neg_f, int(p["maxiter_init"]), self._optimizers["lr_init"])
        self.positives.clear()
        self.negatives.clear()
        count_pos, count_neg = int(p["n_pos_update"]), int(p["n_neg_update"])
        self.positives.append(pos_f[self._pick(len(pos_f), count_pos)])
        self.negatives.append(neg_f[self._pick(len(neg_f), count_neg)])

    def _pick(self, available: int, count: int) -> torch.Tensor:
        """Random indices of ``count`` of ``available`` rows (MDNet keeps a random subset of
        the first frame's samples in the memories)."""
        return torch.from_numpy(self.rng.permutation(available)[:count].copy())

    def _track(self, pair: ImagePair) -> TrackResult:
        assert self.head is not None
        p = self.params
        self.image_size_now = pair.size
        images = network_images(pair)
        missing = [name for name, image in zip(("rgb", "thermal"), images) if image is None]
        samples = self.sampler(self.target_box, int(p["n_samples"]), pair.size, self.rng)
        features = self.features(images, samples)
        self.head.eval()
        scores = self.head(features)[:, 1]
        top = torch.topk(scores, min(int(p["top_k"]), len(scores))).indices
        target_score = float(scores[top].mean())
        top_np = top.cpu().numpy()
        self.target_box = np.asarray(clip_box(samples[top_np].mean(axis=0), pair.size))
        success = target_score > float(p["success_threshold"])
        if success:
            self.sampler = self.sampler.with_trans(self.base_trans)
            result_box = self.regressor.predict(features[top], samples[top_np]).mean(axis=0) \
                if self.regressor.fitted else self.target_box
            result_box = np.asarray(clip_box(result_box, pair.size))
        else:
            grown = min(self.sampler.trans * float(p["trans_growth"]), float(p["trans_limit"]))
            self.sampler = self.sampler.with_trans(grown)
            result_box = self.target_box
        updated = "none"
        if not missing:
            updated = self._update(images, success)
        state = "tracking" if success and not missing else "uncertain"
        info = {"target_score": target_score, "search_trans": self.sampler.trans,
                "missing_rgb": float("rgb" in missing),
                "missing_thermal": float("thermal" in missing),
                "updated": {"none": 0.0, "short": 1.0, "long": 2.0}[updated]}
        return TrackResult(tuple(float(v) for v in result_box), target_score, state, None, info)

    def _update(self, images: Tuple[Optional[np.ndarray], Optional[np.ndarray]],
                success: bool) -> str:
        """Memorise the frame's samples (success) and run a short- or long-term update.

        Returns:
            "short", "long" or "none": the update that ran.
        """
        p = self.params
        if success:
            pos = self._draw("pos_update", self.target_box, p["n_pos_update"])
            neg = self._draw("neg_update", self.target_box, p["n_neg_update"])
            if len(pos) and len(neg):
                features = self.features(images, np.concatenate([pos, neg]))
                self.positives.append(features[:len(pos)])
                self.negatives.append(features[len(pos):])
        if not success:
            recent = list(self.positives)[-int(p["n_frames_short"]):]
            self._train(torch.cat(recent), torch.cat(list(self.negatives)),
                        int(p["maxiter_update"]), self._optimizers["lr_update"])
            return "short"
        if self.frame_index % int(p["long_interval"]) == 0:
            self._train(torch.cat(list(self.positives)), torch.cat(list(self.negatives)),
                        int(p["maxiter_update"]), self._optimizers["lr_update"])
            return "long"
        return "none"

    # -- online training ------------------------------------------------------------------
    def _optimizer(self, lr: float) -> torch.optim.Optimizer:
        assert self.head is not None
        p = self.params
        groups = [{"params": list(self.head.fc4.parameters()) + list(self.head.fc5.parameters()),
                   "lr": lr},
                  {"params": list(self.head.fc6.parameters()),
                   "lr": lr * float(p["lr_mult_fc6"])}]
        return torch.optim.SGD(groups, lr=lr, momentum=float(p["momentum"]),
                               weight_decay=float(p["weight_decay"]))

    def _train(self, positives: torch.Tensor, negatives: torch.Tensor, iterations: int,
               optimizer: torch.optim.Optimizer) -> None:
        """MDNet's ``train``: cycling minibatches, hard negative mining, cross-entropy."""
        assert self.head is not None
        p = self.params
        batch_pos, batch_neg = int(p["batch_pos"]), int(p["batch_neg"])
        batch_cand = max(int(p["batch_neg_cand"]), batch_neg)
        pos_order = _cycled_order(len(positives), batch_pos * iterations, self.torch_rng)
        neg_order = _cycled_order(len(negatives), batch_cand * iterations, self.torch_rng)
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=self.torch_rng))
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(seed)   # dropout draws, reproducible per sequence
            for it in range(iterations):
                pos = positives[pos_order[it * batch_pos:(it + 1) * batch_pos]]
                candidates = negatives[neg_order[it * batch_cand:(it + 1) * batch_cand]]
                self.head.eval()
                with torch.no_grad():
                    hardness = self.head(candidates)[:, 1]
                hard = candidates[torch.topk(hardness, min(batch_neg, len(candidates))).indices]
                self.head.train()
                logits = self.head(torch.cat([pos, hard]))
                labels = torch.cat([torch.ones(len(pos), dtype=torch.long),
                                    torch.zeros(len(hard), dtype=torch.long)]).to(logits.device)
                loss = nn.functional.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.head.parameters(), float(p["grad_clip"]))
                optimizer.step()
        self.head.eval()


def _cycled_order(available: int, needed: int, generator: torch.Generator) -> torch.Tensor:
    """``needed`` indices into ``available`` rows: concatenated random permutations (MDNet
    walks a shuffled list and reshuffles when it runs out)."""
    if available <= 0:
        raise ValueError("online training needs at least one positive and one negative")
    rounds = -(-needed // available)
    return torch.cat([torch.randperm(available, generator=generator)
                      for _ in range(max(rounds, 1))])[:needed]
