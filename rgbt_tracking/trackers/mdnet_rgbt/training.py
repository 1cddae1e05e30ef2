"""Multi-domain offline training of the RGB-T MDNets (``rgbt-track train m5l|cmi``).

MDNet (Nam & Han, CVPR 2016, Sec. 3.2) trains one fc6 branch per training sequence
("domain"): each minibatch comes from one domain and its loss reaches only that branch,
while the shared layers learn what separates targets from background in every sequence.
RT-MDNet (Jung et al., ECCV 2018) reads all samples of a frame from one convolutional pass
with RoIAlign and adds an instance embedding loss that makes a domain's positives score
low on the other domains' branches (Sec. 3.3, Eq. 2-3): the positive scores of every
branch go through a softmax over the domains, and the cross-entropy with the true domain is
added with weight ``loss.instance_weight`` (RT-MDNet: 0.1; cheap: one fc6 pass of every
branch on the positives).

A dataset item is one frame of one sequence (its domain index ``domain``):

* a square crop of ``data.crop_context`` target sizes around the target (the target
  scaled to ``model.target_px`` per side, as the tracker's crops; the crop centre moves by
  up to ``data.crop_jitter`` target sizes so the target is not always central);
* ``data.pos_per_frame`` positives (IoU in ``data.pos_iou``) and ``data.neg_per_frame``
  negatives (IoU in ``data.neg_iou``) drawn with MDNet's samplers (``data.pos_sampler``,
  ``data.neg_sampler``) around the ground truth; M5L Sec. IV-A: 64 and 196 per frame with
  IoU > 0.7 and < 0.5; the ground truth itself is the anchor (M5L's MMSL loss);
* boxes (1 + P + N, 4) in crop pixels: anchor, positives, negatives; counts are padded by
  repeating drawn boxes when a range yields fewer (rare), so items stack.

Per iteration ``trainer.batch_size`` frames (each of a random domain) go through one conv
pass per modality, the fusion and one RoIAlign of all their boxes; the classification loss
is the softmax cross-entropy of each sample on its domain's branch. Learning rates (M5L
Sec. IV-A): ``optim.lr_conv`` (1e-4) for the VGG-M layers, ``optim.lr_fc`` (1e-3) for the
fully connected layers and, our choice, the fusion / interaction and embedding modules
(new layers, trained from scratch like the FC layers).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from rgbt_tracking.core.images import thermal_to_255
from rgbt_tracking.train.sources import TrainingSequence, open_training_sources, valid_frames
from rgbt_tracking.train.task import Batch, TrainingTask
from rgbt_tracking.train.tracking_validation import score_tracker_on_sequences
from rgbt_tracking.trackers.mdnet_rgbt.candidates import generator_from_config, sample_by_overlap
from rgbt_tracking.trackers.mdnet_rgbt.model_loading import seeded_network
from rgbt_tracking.trackers.mdnet_rgbt.network import MDNetRGBT
from rgbt_tracking.trackers.mdnet_rgbt.online import PIXEL_OFFSET
from rgbt_tracking.trackers.mdnet_rgbt.scene import SceneCrop, boxes_to_rois, fixed_crop


def training_sequences(data: Mapping[str, Any]) -> List[TrainingSequence]:
    """The domains: every sequence of ``data.sources`` with at least one annotated frame.

    Raises:
        ValueError: no usable sequence.
    """
    opened = open_training_sources(list(data["sources"]), data.get("cache_dir") or None)
    usable = [sequence for sequence in opened if valid_frames(sequence).any()]
    if not usable:
        raise ValueError("mdnet_rgbt training: no training sequence has an annotated frame")
    return usable


def _fixed_count(boxes: np.ndarray, count: int, rng: np.random.Generator,
                 what: str) -> np.ndarray:
    """Exactly ``count`` rows: ``boxes`` padded with random repeats of its rows."""
    if len(boxes) == 0:
        raise ValueError(f"mdnet_rgbt training: no {what} box could be drawn; check "
                         f"data.{what}_sampler and data.{what}_iou")
    if len(boxes) >= count:
        return boxes[:count]
    extra = boxes[rng.integers(0, len(boxes), count - len(boxes))]
    return np.concatenate([boxes, extra], axis=0)


class DomainFrames(torch.utils.data.Dataset):
    """Frames of random domains with their sample boxes (see the module docstring).

    Items: ``rgb`` (3, S, S) and ``thermal`` (1, S, S) float crops minus 128 (zeros and
    ``rgb_present`` / ``thermal_present`` 0.0 when the frame lacks the image), ``boxes``
    (1 + P + N, 4) float32 x y w h in crop pixels (anchor, positives, negatives),
    ``domain`` int64. Item ``i``'s randomness derives from (seed, epoch, i).
    """

    def __init__(self, sequences: List[TrainingSequence], data: Mapping[str, Any],
                 target_px: float, length: int, seed: int) -> None:
        self.sequences = sequences
        self.valid = [np.flatnonzero(valid_frames(sequence)) for sequence in sequences]
        self.data = dict(data)
        self.target_px = float(target_px)
        self.side = int(round(float(data["crop_context"]) * self.target_px))
        self.pos_sampler = generator_from_config(data["pos_sampler"], "data.pos_sampler")
        self.neg_sampler = generator_from_config(data["neg_sampler"], "data.neg_sampler")
        self.length, self.seed, self.epoch = int(length), int(seed), 0

    def __len__(self) -> int:
        return self.length

    def _image(self, image: Optional[np.ndarray], crop: SceneCrop,
               channels: int) -> Tuple[torch.Tensor, float]:
        if image is None:
            return torch.zeros(channels, self.side, self.side), 0.0
        if channels == 1:
            image = thermal_to_255(image)
        patch = crop.cut(image) - np.float32(PIXEL_OFFSET)
        tensor = torch.from_numpy(np.ascontiguousarray(patch))
        return (tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor[None]), 1.0

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        d = self.data
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        domain = int(rng.integers(len(self.sequences)))     # MDNet: domains in turn, uniformly
        sequence = self.sequences[domain]
        frame = int(rng.choice(self.valid[domain]))
        box = np.asarray(sequence.boxes[frame], dtype=np.float64)
        rgb, thermal = sequence.frame(frame)
        reference = rgb if rgb is not None else thermal
        size = (reference.shape[1], reference.shape[0])
        pos = sample_by_overlap(self.pos_sampler, box, int(d["pos_per_frame"]),
                                tuple(d["pos_iou"]), size, rng)
        neg = sample_by_overlap(self.neg_sampler, box, int(d["neg_per_frame"]),
                                tuple(d["neg_iou"]), size, rng)
        pos = _fixed_count(pos, int(d["pos_per_frame"]), rng, "pos")
        neg = _fixed_count(neg, int(d["neg_per_frame"]), rng, "neg")
        jitter = float(d["crop_jitter"]) * box[2:] * rng.uniform(-1.0, 1.0, 2)
        centre = box[:2] + box[2:] / 2.0 + jitter
        crop = fixed_crop((centre[0], centre[1]), (box[2], box[3]), float(d["crop_context"]),
                          self.target_px)
        rgb_t, rgb_present = self._image(rgb, crop, 3)
        thermal_t, thermal_present = self._image(thermal, crop, 1)
        boxes = crop.boxes_to_crop(np.concatenate([box[None], pos, neg]))
        return {"rgb": rgb_t, "thermal": thermal_t,
                "rgb_present": torch.tensor(rgb_present),
                "thermal_present": torch.tensor(thermal_present),
                "boxes": torch.from_numpy(boxes.astype(np.float32)),
                "domain": torch.tensor(domain, dtype=torch.int64)}


def batch_rois(boxes: torch.Tensor, roi_padding: float) -> torch.Tensor:
    """(B, M, 4) crop boxes -> (B * M, 5) RoIs with batch indices (see :mod:`scene`)."""
    rows = [torch.from_numpy(boxes_to_rois(frame_boxes.detach().cpu().numpy(), roi_padding, b))
            for b, frame_boxes in enumerate(boxes)]
    return torch.cat(rows).to(boxes.device, torch.float32)


def instance_embedding_loss(all_logits: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
    """RT-MDNet's instance embedding loss (Eq. 2-3) on positives.

    Args:
        all_logits: (K, D, 2) fc6 logits of every branch for K positives.
        domains: (K,) the positives' own domains.

    Returns:
        Cross-entropy of softmax over the D domains of the positive scores (0 for D = 1).
    """
    if all_logits.shape[1] < 2:
        return all_logits.sum() * 0.0
    return nn.functional.cross_entropy(all_logits[:, :, 1], domains)


class MDNetRGBTTraining(TrainingTask):
    """Shared multi-domain training of the RGB-T MDNets; subclasses set :attr:`fusion`
    and may add losses in :meth:`extra_losses` (config: ``config/training/<name>.yaml``)."""

    name = "mdnet_rgbt"
    fusion = "concat"
    tracker_name = ""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._sequences: Optional[List[TrainingSequence]] = None

    @property
    def sequences(self) -> List[TrainingSequence]:
        if self._sequences is None:
            self._sequences = training_sequences(self.config["data"])
        return self._sequences

    def model_section(self) -> Dict[str, Any]:
        """The ``model`` section with this task's fusion."""
        model = dict(self.config["model"])
        if model.get("fusion", self.fusion) != self.fusion:
            raise ValueError(f"{self.name} training: model.fusion must be {self.fusion!r}, "
                             f"got {model['fusion']!r}")
        model["fusion"] = self.fusion
        return model

    # -- TrainingTask -----------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        init = self.config.get("init", {})
        return seeded_network(self.model_section(), int(self.config["trainer"].get("seed", 0)),
                              len(self.sequences), str(init.get("vggm_weights") or ""))

    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        trainer = self.config["trainer"]
        length = int(trainer["iterations_per_epoch"]) * int(trainer["batch_size"])
        return DomainFrames(self.sequences, self.config["data"],
                            float(self.config["model"]["target_px"]), max(length, 1),
                            int(trainer.get("seed", 0)) + (0 if split == "train" else 7919))

    def parameter_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """VGG-M layers at ``lr_conv``; everything else at ``lr_fc``."""
        optim = self.config["optim"]
        conv, rest = [], []
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                (conv if "backbone." in name else rest).append(parameter)
        return [{"params": conv, "lr": float(optim["lr_conv"])},
                {"params": rest, "lr": float(optim["lr_fc"])}]

    def build_optimizers(self, model: nn.Module) -> Dict[str, torch.optim.Optimizer]:
        """SGD with momentum and weight decay (MDNet), or Adam (short CPU runs)."""
        optim = self.config["optim"]
        groups = self.parameter_groups(model)
        kind = str(optim.get("optimizer", "sgd"))
        decay = float(optim.get("weight_decay", 0.0))
        if kind == "sgd":
            return {"main": torch.optim.SGD(groups, lr=float(optim["lr_fc"]), weight_decay=decay,
                                            momentum=float(optim.get("momentum", 0.9)))}
        if kind == "adam":
            return {"main": torch.optim.Adam(groups, lr=float(optim["lr_fc"]), weight_decay=decay)}
        raise ValueError(f"optim.optimizer must be 'sgd' or 'adam', got {kind!r}")

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        net: MDNetRGBT = getattr(model, "module", model)  # type: ignore[assignment]
        data = self.config["data"]
        positives, negatives = int(data["pos_per_frame"]), int(data["neg_per_frame"])
        rgb_map, thermal_map = net.conv_features(batch["rgb"], batch["thermal"])
        present = torch.stack([batch["rgb_present"], batch["thermal_present"]], dim=1)
        present = present.to(rgb_map.dtype)[:, :, None, None, None]               # (B, 2, 1, 1, 1)
        rgb_map, thermal_map = rgb_map * present[:, 0], thermal_map * present[:, 1]
        rois = batch_rois(batch["boxes"], float(self.config["model"]["roi_padding"]))
        frames, per_frame = batch["boxes"].shape[:2]
        fused = net.pool(net.fuse(rgb_map, thermal_map), rois).reshape(frames, per_frame, -1)
        samples = fused[:, 1:].reshape(frames * (per_frame - 1), -1)
        domains = batch["domain"].repeat_interleave(per_frame - 1)
        labels = torch.cat([torch.ones(positives, dtype=torch.long),
                            torch.zeros(negatives, dtype=torch.long)]).repeat(frames)
        labels = labels.to(samples.device)
        hidden = net.hidden(samples)
        every = net.all_branch_logits(hidden)                                       # (K, D, 2)
        logits = every[torch.arange(len(domains), device=every.device), domains]
        classification = nn.functional.cross_entropy(logits, labels)
        is_positive = labels == 1
        instance = instance_embedding_loss(every[is_positive], domains[is_positive])
        weight = float(self.config["loss"].get("instance_weight", 0.0))
        losses = {"classification": classification, "instance": instance,
                  "accuracy": ((logits[:, 1] > logits[:, 0]) == is_positive).float().mean()}
        total = classification + weight * instance
        for key, (value, factor) in self.extra_losses(net, rgb_map, thermal_map, rois,
                                                      (frames, per_frame)).items():
            losses[key] = value
            total = total + factor * value
        losses["total"] = total
        return losses

    def extra_losses(self, net: MDNetRGBT, rgb_map: torch.Tensor, thermal_map: torch.Tensor,
                     rois: torch.Tensor, shape: Tuple[int, int]
                     ) -> Dict[str, Tuple[torch.Tensor, float]]:
        """Further losses of a subclass: name -> (scalar, weight in the total); none here."""
        return {}

    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Tracking figures on held-out sequences (``validation.tracking_sources``)."""
        validation = self.config.get("validation", {})
        if not validation.get("tracking_sources"):
            return {}
        net: MDNetRGBT = getattr(model, "module", model)  # type: ignore[assignment]
        return self.evaluate_tracking(net, validation)

    def evaluate_tracking(self, net: MDNetRGBT, validation: Mapping[str, Any]) -> Dict[str, float]:
        """Run the online tracker with a frozen copy of ``net`` on held-out sequences
        (``validation.tracker``: preset overrides; ``validation.threads``: torch threads
        while tracking, 0 = unchanged)."""
        from rgbt_tracking.core.config import load_preset, merge_overrides
        from rgbt_tracking.core.registry import tracker_class

        params = merge_overrides(load_preset(self.tracker_name),
                                 dict(validation.get("tracker", {})), "validation.tracker")
        params.update({k: v for k, v in self.model_section().items() if k != "fusion"})
        frozen = copy.deepcopy(net).cpu().eval()
        for parameter in frozen.parameters():
            parameter.requires_grad_(False)
        sequences = open_training_sources(list(validation["tracking_sources"]),
                                          self.config["data"].get("cache_dir") or None)
        tracker_type = tracker_class(self.tracker_name)
        threads = int(validation.get("threads", 0))
        previous = torch.get_num_threads()
        if threads > 0:   # the online procedure's small ops: one thread is faster on busy cores
            torch.set_num_threads(threads)
        try:
            return score_tracker_on_sequences(lambda: tracker_type(params, network=frozen),
                                              sequences)
        finally:
            torch.set_num_threads(previous)

    def checkpoint_metadata(self) -> Dict[str, Any]:
        return {"tracker": self.tracker_name, "fusion": self.fusion,
                "domains": [sequence.name for sequence in self.sequences]}
