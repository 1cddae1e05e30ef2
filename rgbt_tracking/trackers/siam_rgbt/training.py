"""Stage one of GMMT: training the Siamese RGB-T baseline (backbones, necks, fusion, head).

Samples (SiamBAN's training, Chen et al. CVPR 2020, Sec. 4.1): a template and a search
frame of one sequence at most ``max_gap`` frames apart (SiamFC's pairs), or with
probability ``negative_pair_probability`` a search frame of another sequence (a negative
pair: no positive label). The template crop is centred on the (slightly jittered) target
with the context side of the tracker; the search crop is ``search_size / template_size``
times larger, its centre shifted by up to ``search_shift`` patch pixels and its scale
jittered, so the target is found anywhere in the score map. Labels and box distances:
:mod:`~rgbt_tracking.trackers.siam_rgbt.labels`; losses:
:mod:`~rgbt_tracking.trackers.siam_rgbt.losses`, ``total = cls_weight * cls + loc_weight *
loc``.

Optimiser: SGD with momentum (SiamBAN, GMMT) or Adam (``optim.kind``); per-epoch learning
rate warmed up from ``lr_start`` to ``lr`` over ``warmup_epochs``, then decreasing
log-linearly to ``lr_end`` at the last epoch (GMMT: 0.001 -> 0.005 in 20 epochs, then down
to 0.00005 over 80; SiamBAN's "log" schedule with warm-up). The backbones' learning rate is
scaled by ``optim.backbone_lr_factor`` (SiamBAN: 0.1 for ImageNet-initialised backbones).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import nn

from rgbt_tracking.core.images import thermal_to_255
from rgbt_tracking.train.frame_sampling import pick_sequence, sample_pair
from rgbt_tracking.train.sources import open_training_sources, valid_frames
from rgbt_tracking.train.task import Batch, TrainingTask
from rgbt_tracking.train.cropping import transform_box_to_crop
from rgbt_tracking.train.tracking_validation import score_tracker_on_sequences
from rgbt_tracking.trackers.siam_rgbt.crops import crop_square
from rgbt_tracking.trackers.siam_rgbt.labels import score_points, siamban_targets
from rgbt_tracking.trackers.siam_rgbt.losses import iou_loss, select_cross_entropy_loss
from rgbt_tracking.trackers.siam_rgbt.model_loading import (
    load_imagenet_backbones,
    network_from_config,
)
from rgbt_tracking.trackers.siam_rgbt.network import (
    FEATURE_STRIDE,
    SiameseRGBTBase,
    SiamRGBTNet,
    score_map_size,
)
from rgbt_tracking.trackers.siam_rgbt.postprocess import context_side


class SiamRGBTSamples(torch.utils.data.Dataset):
    """Random template / search pairs with SiamBAN targets.

    Items: ``template_rgb`` (3, Z, Z) and ``search_rgb`` (3, X, X) float 0-255,
    ``template_thermal`` (1, Z, Z), ``search_thermal`` (1, X, X), ``labels`` (S, S) int64,
    ``distances`` (4, S, S) float32, ``search_box`` (4,) x y w h in search-patch pixels.
    The randomness of item ``i`` derives from (seed, epoch, i).

    Args:
        sequences: training sequences (:func:`open_training_sources`).
        data: the ``data`` section (jitter, sampling budget, max_gap...).
        model: the ``model`` section (template_size, search_size, template_feature_size).
        length: items per epoch.
        seed: base seed.
    """

    def __init__(self, sequences: List[Any], data: Mapping[str, Any],
                 model: Mapping[str, Any], length: int, seed: int) -> None:
        if not sequences:
            raise ValueError("siam_rgbt training: no training sequences")
        self.sequences = sequences
        self.valid = [valid_frames(s) for s in sequences]
        self.lengths = [int(v.sum()) for v in self.valid]
        self.data = dict(data)
        self.template_size = int(model["template_size"])
        self.search_size = int(model["search_size"])
        size = score_map_size(self.template_size, self.search_size,
                              int(model["template_feature_size"]))
        self.points = score_points(size, FEATURE_STRIDE, self.search_size)
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def _pair(self, rng: np.random.Generator) -> tuple:
        d = self.data
        for _attempt in range(50):
            k = pick_sequence(self.lengths, rng)
            frames = sample_pair(self.valid[k], rng, int(d["max_gap"]))
            if frames is not None:
                break
        else:
            raise ValueError(f"siam_rgbt training: no sequence has two valid frames within "
                             f"max_gap {d['max_gap']}")
        template = (self.sequences[k], frames[0])
        negative = (len(self.sequences) > 1
                    and rng.random() < float(d.get("negative_pair_probability", 0.0)))
        if negative:
            other = int(rng.choice([i for i in range(len(self.sequences))
                                    if i != k and self.lengths[i] > 0]))
            search = (self.sequences[other], int(rng.choice(np.flatnonzero(self.valid[other]))))
        else:
            search = (self.sequences[k], frames[1])
        return template, search, negative

    def _crop(self, sequence: Any, frame: int, rng: np.random.Generator, side_factor: float,
              size: int, shift: float, scale_jitter: float) -> Dict[str, np.ndarray]:
        rgb, thermal = sequence.frame(frame)
        if rgb is None or thermal is None:
            raise ValueError(f"siam_rgbt training: sequence {getattr(sequence, 'name', '?')} "
                             f"frame {frame} lacks the {'RGB' if rgb is None else 'thermal'} "
                             "image")
        gt = np.asarray(sequence.boxes[frame], dtype=np.float64)
        side = context_side(gt[2], gt[3], float(self.data["context_amount"])) * side_factor
        side *= float(np.exp(rng.standard_normal() * scale_jitter))
        offset = rng.uniform(-shift, shift, size=2) * side / size   # patch -> image pixels
        center = (gt[0] + gt[2] / 2.0 + offset[0], gt[1] + gt[3] / 2.0 + offset[1])
        rgb_patch, crop = crop_square(rgb.astype(np.float32), center, side, size)
        thermal_patch, _ = crop_square(thermal_to_255(thermal), center, side, size)
        return {"rgb": rgb_patch, "thermal": thermal_patch,
                "box": transform_box_to_crop(gt, crop, size)}

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        d = self.data
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        (z_seq, z_frame), (x_seq, x_frame), negative = self._pair(rng)
        template = self._crop(z_seq, z_frame, rng, 1.0, self.template_size,
                              float(d["template_shift"]), float(d["template_scale_jitter"]))
        search = self._crop(x_seq, x_frame, rng, self.search_size / self.template_size,
                            self.search_size, float(d["search_shift"]),
                            float(d["search_scale_jitter"]))
        labels, distances = siamban_targets(
            search["box"], self.points, rng, positive_pair=not negative,
            positive_count=int(d["positive_count"]), total_count=int(d["total_count"]),
            negative_pair_count=int(d["negative_pair_count"]))

        def image(array: np.ndarray) -> torch.Tensor:
            tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
            return tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor[None]

        return {"template_rgb": image(template["rgb"]),
                "template_thermal": image(template["thermal"]),
                "search_rgb": image(search["rgb"]), "search_thermal": image(search["thermal"]),
                "labels": torch.from_numpy(labels), "distances": torch.from_numpy(distances),
                "search_box": torch.from_numpy(search["box"].astype(np.float32))}


def tracking_loss(cls: torch.Tensor, loc: torch.Tensor, batch: Batch,
                  loss_config: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    """SiamBAN's loss of a head output on a batch: ``track`` = weighted sum, ``cls``, ``loc``."""
    cls_loss = select_cross_entropy_loss(cls, batch["labels"])
    loc_loss = iou_loss(loc, batch["distances"], batch["labels"])
    track = float(loss_config["cls_weight"]) * cls_loss + float(loss_config["loc_weight"]) * loc_loss
    return {"track": track, "cls": cls_loss, "loc": loc_loss}


def warmup_log_factor(epoch: int, optim: Mapping[str, Any], epochs: int) -> float:
    """Learning-rate factor (relative to ``optim.lr``) for the epoch after ``epoch``
    completed ones: linear warm-up from ``lr_start`` over ``warmup_epochs``, then
    log-linear towards ``lr_end`` reached at the last epoch (see the module docstring)."""
    peak = float(optim["lr"])
    start = float(optim.get("lr_start", peak))
    end = float(optim.get("lr_end", peak))
    warmup = int(optim.get("warmup_epochs", 0))
    if epoch < warmup:
        return (start + (peak - start) * epoch / warmup) / peak
    decay_epochs = max(1, epochs - warmup - 1)
    progress = min(1.0, (epoch - warmup) / decay_epochs)
    return math.exp(math.log(peak) + (math.log(end) - math.log(peak)) * progress) / peak


def build_optimizer(groups: List[Dict[str, Any]], optim: Mapping[str, Any]
                    ) -> torch.optim.Optimizer:
    """SGD (momentum ``optim.momentum``) or Adam over ``groups`` (``optim.kind``)."""
    kind = str(optim.get("kind", "sgd"))
    decay = float(optim.get("weight_decay", 0.0))
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=float(optim["lr"]),
                               momentum=float(optim.get("momentum", 0.9)), weight_decay=decay)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=float(optim["lr"]), weight_decay=decay)
    raise ValueError(f"optim.kind must be 'sgd' or 'adam', got {kind!r}")


def tracking_figures(make_tracker: Callable[[Dict[str, Any], nn.Module], Any],
                     preset: str, net: nn.Module, config: Mapping[str, Any]
                     ) -> Dict[str, float]:
    """Success AUC / precision of the online tracker with a frozen copy of ``net`` on
    ``validation.tracking_sources`` (preset ``preset`` with ``validation.tracker``
    overrides and the model's patch sizes)."""
    from rgbt_tracking.core.config import load_preset, merge_overrides

    validation = config["validation"]
    params = merge_overrides(load_preset(preset), dict(validation.get("tracker", {})),
                             "validation.tracker")
    params.update({k: config["model"][k] for k in ("template_size", "search_size")})
    frozen = copy.deepcopy(net).cpu().eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    sequences = open_training_sources(validation["tracking_sources"],
                                      config["data"].get("cache_dir") or None)
    return score_tracker_on_sequences(lambda: make_tracker(params, frozen), sequences)


class SiamRGBTTraining(TrainingTask):
    """The shared loop's view of the baseline (``config/training/siam_rgbt.yaml``)."""

    name = "siam_rgbt"

    def build_model(self) -> nn.Module:
        net = network_from_config(self.config["model"])
        imagenet = str(self.config.get("imagenet_weights") or "")
        if imagenet:
            load_imagenet_backbones(net, imagenet)
        return net

    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        data = self.config["data"]
        trainer = self.config["trainer"]
        sequences = open_training_sources(data["sources"], data.get("cache_dir") or None)
        length = int(trainer["iterations_per_epoch"]) * int(trainer["batch_size"])
        return SiamRGBTSamples(sequences, data, self.config["model"], length,
                               int(trainer.get("seed", 0)))

    def parameter_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        net: SiameseRGBTBase = getattr(model, "module", model)  # type: ignore[assignment]
        factor = float(self.config["optim"].get("backbone_lr_factor", 1.0))
        lr = float(self.config["optim"]["lr"])
        backbone_ids = {id(p) for b in (net.backbone_rgb, net.backbone_thermal)
                        for p in b.parameters()}
        trainable = [p for p in net.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if id(p) in backbone_ids], "lr": lr * factor},
                  {"params": [p for p in trainable if id(p) not in backbone_ids], "lr": lr}]
        return [g for g in groups if g["params"]]

    def build_optimizers(self, model: nn.Module) -> Dict[str, torch.optim.Optimizer]:
        return {"main": build_optimizer(self.parameter_groups(model), self.config["optim"])}

    def build_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer]
                         ) -> Dict[str, Any]:
        optim = self.config["optim"]
        epochs = int(self.config["trainer"]["epochs"])
        return {key: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda epoch: warmup_log_factor(epoch, optim, epochs))
            for key, opt in optimizers.items()}

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        out = model(batch["template_rgb"], batch["template_thermal"], batch["search_rgb"],
                    batch["search_thermal"])
        losses = tracking_loss(out["cls"], out["loc"], batch, self.config["loss"])
        return {"total": losses["track"], "cls": losses["cls"], "loc": losses["loc"]}

    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Tracking figures on held-out sequences when ``validation.tracking_sources`` is set."""
        if not self.config.get("validation", {}).get("tracking_sources"):
            return {}
        from rgbt_tracking.trackers.siam_rgbt.tracker import SiamRGBTTracker

        net = getattr(model, "module", model)
        return tracking_figures(lambda params, frozen: SiamRGBTTracker(params, network=frozen),
                                "siam_rgbt", net, self.config)

    def checkpoint_metadata(self) -> Dict[str, Any]:
        return {"tracker": "siam_rgbt"}


def stage_one_network(path: Optional[str]) -> Tuple[SiamRGBTNet, Dict[str, Any]]:
    """The trained baseline of a ``siam_rgbt`` checkpoint and its ``model`` section.

    Raises:
        FileNotFoundError: naming ``path`` (the stage-one checkpoint) when it is missing.
    """
    from pathlib import Path

    from rgbt_tracking.trackers.siam_rgbt.model_loading import read_task_checkpoint
    from rgbt_tracking.nn.weights import load_matching

    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"stage-one checkpoint {path!r} does not exist: train the "
                                "baseline first (rgbt-track train siam_rgbt) and set "
                                "stage_one_checkpoint to its checkpoint_eNNNN.pth")
    data = read_task_checkpoint(str(path), "siam_rgbt")
    net = network_from_config(data["config"]["model"])
    load_matching(net, data["model"], ignore=())
    return net, dict(data["config"]["model"])
