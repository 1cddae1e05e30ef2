"""Training of mfDiMP (``rgbt-track train mfdimp``): DiMP's regime on RGB-T sequences.

Samples (DiMP Sec. 4, mfDiMP Sec. 3): per sequence, ``num_train_frames`` training and
``num_test_frames`` test frames from a segment (train frames before test frames within
``max_gap``, :func:`~rgbt_tracking.train.frame_sampling.sample_frame_sets`); every frame
is cropped around a jittered copy of its box (``search_area_factor`` times the box's
geometric mean side, resized to ``output_size``), RGB and thermal alike, so the pair stays
aligned. Test frames also get ``num_proposals`` IoU-Net proposals drawn around the ground
truth with Gaussian noise of a randomly chosen scale from ``proposal_sigmas``.

Losses: the classification loss of mfDiMP Eq. (1) averaged over the optimiser iterates
f^(0..N), with DiMP's hinge for background (scores below zero on the background are not
penalised where the label is below ``hinge_threshold``), plus the IoU-Net's mean squared
error on the proposals' IoU.

Learning rates per component (DiMP's defaults, scaled by ``optim.lr_gain``); the thermal
backbone's rate is multiplied by ``optim.thermal_backbone_lr_factor`` (the paper's best
variant: x10).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from rgbt_tracking.core.box import iou as box_iou
from rgbt_tracking.core.images import thermal_to_255
from rgbt_tracking.train.cropping import crop_around_box, crop_region, jitter_box, \
    transform_box_to_crop
from rgbt_tracking.train.frame_sampling import pick_sequence, sample_frame_sets
from rgbt_tracking.train.sources import open_training_sources, valid_frames
from rgbt_tracking.train.task import Batch, TrainingTask
from rgbt_tracking.train.tracking_validation import score_tracker_on_sequences
from rgbt_tracking.trackers.mfdimp.classifier import box_centres_in_score_map, score_map_size
from rgbt_tracking.trackers.mfdimp.model_loading import network_from_config
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet


def sample_proposals(box: np.ndarray, rng: np.random.Generator, count: int,
                     sigmas: Sequence[float], min_iou: float = 0.1) -> np.ndarray:
    """``count`` boxes around ``box``: centre and size moved by Gaussian noise of a scale
    drawn from ``sigmas`` (relative to the box's geometric mean side / log size), kept
    when their IoU with ``box`` is at least ``min_iou`` (ATOM's proposal generation).

    Returns: (count, 4) x y w h.
    """
    out = []
    side = float(np.sqrt(box[2] * box[3]))
    centre = box[:2] + box[2:] / 2.0
    for _ in range(count):
        for _attempt in range(100):
            sigma = float(sigmas[rng.integers(len(sigmas))])
            c = centre + rng.standard_normal(2) * sigma * side
            size = box[2:] * np.exp(rng.standard_normal(2) * sigma)
            candidate = np.concatenate([c - size / 2.0, size])
            if float(box_iou(candidate, box)) >= min_iou:
                break
        out.append(candidate)
    return np.stack(out)


class MfDiMPSamples(torch.utils.data.Dataset):
    """Random DiMP training samples drawn from RGB-T sequences.

    Items (per sample): ``train_rgb`` (Ntr, 3, S, S) and ``test_rgb`` (Nte, 3, S, S) float
    0-255, ``train_thermal`` / ``test_thermal`` (N, 1, S, S), ``train_boxes`` (Ntr, 4),
    ``test_boxes`` (Nte, 4), ``test_proposals`` (Nte, M, 4), ``proposal_iou`` (Nte, M).
    The randomness of item ``i`` derives from (seed, epoch, i).
    """

    def __init__(self, sequences: List[Any], data: Mapping[str, Any], length: int,
                 seed: int) -> None:
        if not sequences:
            raise ValueError("mfdimp training: no training sequences")
        self.sequences = sequences
        self.valid = [valid_frames(s) for s in sequences]
        self.lengths = [int(v.sum()) for v in self.valid]
        self.data = dict(data)
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        d = self.data
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        for _attempt in range(50):
            k = pick_sequence(self.lengths, rng)
            frames = sample_frame_sets(self.valid[k], rng, int(d["num_train_frames"]),
                                       int(d["num_test_frames"]), int(d["max_gap"]))
            if frames is not None:
                break
        else:
            raise ValueError("mfdimp training: no sequence can supply "
                             f"{d['num_train_frames']}+{d['num_test_frames']} frames within "
                             f"max_gap {d['max_gap']}")
        sequence = self.sequences[k]
        train = [self._crop(sequence, f, rng, "train") for f in frames[0]]
        test = [self._crop(sequence, f, rng, "test") for f in frames[1]]
        proposals = [sample_proposals(t["box"], rng, int(d["num_proposals"]),
                                      d["proposal_sigmas"]) for t in test]
        ious = [box_iou(p, t["box"][None, :]) for p, t in zip(proposals, test)]

        def tensor(values: Any) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values), dtype=torch.float32)

        return {
            "train_rgb": tensor([t["rgb"] for t in train]).permute(0, 3, 1, 2),
            "train_thermal": tensor([t["thermal"] for t in train]).unsqueeze(1),
            "train_boxes": tensor([t["box"] for t in train]),
            "test_rgb": tensor([t["rgb"] for t in test]).permute(0, 3, 1, 2),
            "test_thermal": tensor([t["thermal"] for t in test]).unsqueeze(1),
            "test_boxes": tensor([t["box"] for t in test]),
            "test_proposals": tensor(proposals),
            "proposal_iou": tensor(ious),
        }

    def _crop(self, sequence: Any, frame: int, rng: np.random.Generator, kind: str
              ) -> Dict[str, np.ndarray]:
        d = self.data
        rgb, thermal = sequence.frame(frame)
        if rgb is None or thermal is None:
            raise ValueError(f"mfdimp training: sequence {getattr(sequence, 'name', '?')} "
                             f"frame {frame} lacks the "
                             f"{'RGB' if rgb is None else 'thermal'} image (RGB-only data "
                             "needs synthetic thermal: see rgbt_tracking.data.synthetic_thermal)")
        gt = np.asarray(sequence.boxes[frame], dtype=np.float64)
        jittered = jitter_box(gt, rng, float(d[f"{kind}_center_jitter"]),
                              float(d[f"{kind}_scale_jitter"]))
        size = int(d["output_size"])
        factor = float(d["search_area_factor"])
        rgb_patch, _, _ = crop_around_box(rgb.astype(np.float32), jittered, factor, size)
        thermal_patch, _, _ = crop_around_box(thermal_to_255(thermal), jittered, factor,
                                              size)
        box = transform_box_to_crop(gt, crop_region(jittered, factor), size)
        return {"rgb": rgb_patch, "thermal": thermal_patch, "box": box}


def gaussian_labels(boxes: torch.Tensor, score_size: Sequence[int], feature_stride: float,
                    filter_size: int, sigma: float) -> torch.Tensor:
    """Gaussian label z_c centred on each box's centre in score-map cells.

    Args: boxes (..., 4) patch pixels. Returns (..., H', W').
    """
    centres = box_centres_in_score_map(boxes, feature_stride, filter_size)
    ys = torch.arange(score_size[0], dtype=boxes.dtype, device=boxes.device)
    xs = torch.arange(score_size[1], dtype=boxes.dtype, device=boxes.device)
    dy = ys.reshape(*([1] * (boxes.dim() - 1)), -1, 1) - centres[..., 1, None, None]
    dx = xs.reshape(*([1] * (boxes.dim() - 1)), 1, -1) - centres[..., 0, None, None]
    return torch.exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma))


def hinge_classification_loss(scores: torch.Tensor, labels: torch.Tensor,
                              threshold: float) -> torch.Tensor:
    """DiMP's hinge-like squared loss: where the label is below ``threshold`` (background)
    the score enters as max(0, s); elsewhere as s. Mean over every element."""
    activated = torch.where(labels < threshold, torch.relu(scores), scores)
    return ((activated - labels) ** 2).mean()


class MfDiMPTraining(TrainingTask):
    """The shared loop's view of mfDiMP (config: ``config/training/mfdimp.yaml``)."""

    name = "mfdimp"

    def build_model(self) -> nn.Module:
        model_cfg = self.config["model"]
        net = network_from_config(model_cfg)
        imagenet = str(self.config.get("imagenet_weights") or "")
        if imagenet:
            from rgbt_tracking.nn.weights import load_imagenet_backbone

            for backbone in net.backbones.values():
                load_imagenet_backbone(backbone, imagenet)
        trainable = set(self.config["optim"].get("backbone_trainable_layers", []))
        for backbone in net.backbones.values():
            for name, parameter in backbone.named_parameters():
                parameter.requires_grad_(name.split(".")[0] in trainable)
        return net

    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        data = self.config["data"]
        trainer = self.config["trainer"]
        key = "sources" if split == "train" else "val_sources"
        sequences = open_training_sources(data[key], data.get("cache_dir") or None)
        if split == "train":
            length = int(trainer["iterations_per_epoch"]) * int(trainer["batch_size"])
        else:
            length = int(data.get("val_samples", 8))
        return MfDiMPSamples(sequences, data, length, int(trainer.get("seed", 0))
                             + (0 if split == "train" else 7919))

    def parameter_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        assert isinstance(model, MfDiMPNet)
        optim = self.config["optim"]
        gain = float(optim.get("lr_gain", 1.0))
        groups: List[Dict[str, Any]] = []

        def add(params: Any, lr: float) -> None:
            trainable = [p for p in params if p.requires_grad]
            if trainable:
                groups.append({"params": trainable, "lr": lr * gain})

        for name, backbone in model.backbones.items():
            factor = float(optim["thermal_backbone_lr_factor"]) if name == "thermal" else 1.0
            add(backbone.parameters(), float(optim["lr_backbone"]) * factor)
        for classifier in model.classifiers.values():
            add(classifier.feature_extractor.parameters(), float(optim["lr_classifier_features"]))
            add(classifier.filter_initializer.parameters(), float(optim["lr_initializer"]))
            add(classifier.filter_optimizer.parameters(), float(optim["lr_optimizer"]))
        add(model.iou_net.parameters(), float(optim["lr_iou_net"]))
        return groups

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        net = model
        spec: MfDiMPNet = getattr(model, "module", model)  # type: ignore[assignment]

        def seq_major(x: torch.Tensor) -> torch.Tensor:      # (B, N, ...) -> (N, B, ...)
            return x.transpose(0, 1).contiguous()

        uses = set(spec.fusion.modalities)
        out = net(seq_major(batch["train_rgb"]) if "rgb" in uses else None,
                  seq_major(batch["train_thermal"]) if "thermal" in uses else None,
                  seq_major(batch["test_rgb"]) if "rgb" in uses else None,
                  seq_major(batch["test_thermal"]) if "thermal" in uses else None,
                  seq_major(batch["train_boxes"]), seq_major(batch["test_proposals"]))
        loss_cfg = self.config["loss"]
        classifier = next(iter(spec.classifiers.values()))
        first = out["scores"][0]
        labels = gaussian_labels(seq_major(batch["test_boxes"]), first.shape[-2:],
                                 spec.feature_stride, classifier.filter_size,
                                 float(loss_cfg["label_sigma_cells"]))
        per_iterate = [hinge_classification_loss(s, labels, float(loss_cfg["hinge_threshold"]))
                       for s in out["scores"]]
        classification = torch.stack(per_iterate).mean()          # mfDiMP Eq. (1)
        iou = ((out["iou"] - seq_major(batch["proposal_iou"])) ** 2).mean()
        total = float(loss_cfg["weight_classification"]) * classification \
            + float(loss_cfg["weight_iou"]) * iou
        return {"total": total, "classification": classification,
                "classification_final": per_iterate[-1], "iou": iou}

    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Held-out losses, and tracking figures on held-out sequences when configured."""
        figures: Dict[str, float] = {}
        net: MfDiMPNet = getattr(model, "module", model)  # type: ignore[assignment]
        was_training = net.training
        net.eval()
        data = self.config["data"]
        if data.get("val_sources"):
            dataset = self.build_dataset("val")
            loader = torch.utils.data.DataLoader(dataset, batch_size=int(
                self.config["trainer"]["batch_size"]))
            sums: Dict[str, float] = {}
            count = 0
            device = next(net.parameters()).device
            with torch.no_grad():
                for batch in loader:
                    batch = {k: v.to(device) for k, v in batch.items()}
                    for key, value in self.compute_losses(net, batch).items():
                        sums[key] = sums.get(key, 0.0) + float(value)
                    count += 1
            figures.update({f"val_{k}": v / max(count, 1) for k, v in sums.items()})
        tracking = self.config.get("validation", {})
        if tracking.get("tracking_sources"):
            figures.update(evaluate_tracking(net, self.config, tracking))
        net.train(was_training)
        return figures

    def checkpoint_metadata(self) -> Dict[str, Any]:
        return {"tracker": "mfdimp", "fusion": str(self.config["model"].get("fusion"))}


def evaluate_tracking(net: MfDiMPNet, config: Mapping[str, Any],
                      validation: Mapping[str, Any]) -> Dict[str, float]:
    """Run the online tracker with (a copy of) ``net`` on held-out sequences.

    Returns ``track_auc`` (success AUC, percent) and ``track_precision`` (PR at 20 px,
    percent), pooled over the sequences' frames.
    """
    from rgbt_tracking.core.config import load_preset, merge_overrides
    from rgbt_tracking.trackers.mfdimp.tracker import MfDiMPTracker

    params = merge_overrides(load_preset("mfdimp"), dict(validation.get("tracker", {})),
                             "validation.tracker")
    params.update(config["model"])
    frozen = copy.deepcopy(net).cpu().eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    sequences = open_training_sources(validation["tracking_sources"],
                                      config["data"].get("cache_dir") or None)
    return score_tracker_on_sequences(lambda: MfDiMPTracker(params, network=frozen), sequences)
