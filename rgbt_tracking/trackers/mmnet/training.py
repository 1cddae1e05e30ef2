"""Training of MMNet (``rgbt-track train mmnet``): the multi-task loss and the paper's
multi-domain strategies on the shared loop (:func:`rgbt_tracking.train.loop.run_training`).

Samples (SiamFC / CFNet): an exemplar and a search frame of one sequence at most
``max_gap`` frames apart (:func:`~rgbt_tracking.train.frame_sampling.sample_pair`), each
cropped as the tracker crops (region ``crop_context_factor * s_z`` resized to the model's
``crop_size``): the exemplar around its ground truth, the search region around a jittered
copy of it (:func:`~rgbt_tracking.train.cropping.jitter_box`), so the target lies off the
centre by a known offset in cells. Images are thermal, or, for grayscale-domain sources,
the RGB frame converted to gray (``cv2.COLOR_RGB2GRAY``) and used as if thermal.

Loss (Eq. 10): ``l1 L_dis + l2 L_cls + l3 L_fin`` with the logistic loss of Eq. 2 on both
similarity maps (labels +1 within ``positive_radius_px`` of the target, balanced weights as
CFNet) and the cross-entropy of Eq. 3 on the exemplar's class.

Sources (``data.sources``): the entries of :func:`~rgbt_tracking.train.sources.open_training_sources`
plus two MMNet keys stripped before opening them:

``domain``: ``thermal`` (default) or ``grayscale``;
``class``: the class of every sequence of the entry (a name of ``data.classes``), ``null``
    for none (no classification loss on its samples), or absent: each sequence's name up to
    its first ``_`` (LSOTB-TIR names such as ``car_S_003``).

Multi-domain strategies (``multi_domain.strategy``, paper Sec. "Multi-domain aggregation"):

``scratch``: train every part from the initialisation (single-domain training, and the
    first stage, on grayscale VID data, of re-training and fine-tuning);
``retrain``: start from ``multi_domain.init_checkpoint`` and train everything;
``finetune``: start from it, freeze conv1-3 and the fine-grained branch (FANet and its
    score calibration; their batch-norm statistics too) and train the rest, usually with a
    smaller learning rate;
``mix``: from the initialisation on grayscale and thermal samples mixed with
    ``multi_domain.grayscale_fraction``, with the classification branch frozen.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import nn

from rgbt_tracking.core.images import validate_pair
from rgbt_tracking.train.cropping import jitter_box
from rgbt_tracking.train.frame_sampling import pick_sequence, sample_pair
from rgbt_tracking.train.sources import TrainingSequence, open_training_sources, valid_frames
from rgbt_tracking.train.task import Batch, TrainingTask
from rgbt_tracking.train.tracking_validation import score_tracker_on_sequences
from rgbt_tracking.trackers.mmnet.backbone import TOTAL_STRIDE
from rgbt_tracking.trackers.mmnet.losses import (classification_loss, logistic_loss,
                                                 multitask_loss, response_labels)
from rgbt_tracking.trackers.mmnet.model_loading import network_from_config
from rgbt_tracking.trackers.mmnet.network import MMNet
from rgbt_tracking.trackers.mmnet.tracker import context_side, square_crop, thermal_for_network

STRATEGIES = ("scratch", "retrain", "finetune", "mix")
DOMAINS = ("thermal", "grayscale")
#: parameter-name prefixes frozen by each strategy.
FROZEN_PARTS: Dict[str, Tuple[str, ...]] = {
    "scratch": (), "retrain": (),
    "finetune": ("backbone.conv1.", "backbone.conv2.", "backbone.conv3.", "fanet.",
                 "adjust_fin."),
    "mix": ("classifier.",),
}
_MMNET_SOURCE_KEYS = ("class", "domain")


def sequence_class(name: str) -> str:
    """Class of a benchmark sequence: its name up to the first '_' (``car_S_003`` -> car)."""
    return name.split("_", 1)[0]


def open_labelled_sources(specs: Sequence[Mapping[str, Any]], classes: Sequence[str],
                          cache_dir: Optional[str] = None
                          ) -> List[Tuple[TrainingSequence, str, int]]:
    """Open MMNet source entries: (sequence, domain, class index or -1) per sequence.

    Raises:
        ValueError: an unknown domain, or a class that is not in ``classes`` (naming the
            sequence and where its class came from).
    """
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"data.sources must be a non-empty list, got {specs!r}")
    index = {name: i for i, name in enumerate(classes)}
    out: List[Tuple[TrainingSequence, str, int]] = []
    for position, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise ValueError(f"training source #{position}: expected a mapping, got {spec!r}")
        domain = str(spec.get("domain", "thermal"))
        if domain not in DOMAINS:
            raise ValueError(f"training source #{position}: domain must be one of "
                             f"{', '.join(DOMAINS)}, got {domain!r}")
        plain = {k: v for k, v in spec.items() if k not in _MMNET_SOURCE_KEYS}
        for sequence in open_training_sources([plain], cache_dir):
            if "class" in spec and spec["class"] is None:
                out.append((sequence, domain, -1))
                continue
            given = "class" in spec
            name = str(spec["class"]) if given else sequence_class(sequence.name)
            if name not in index:
                origin = "source entry's 'class'" if given else "name prefix"
                raise ValueError(f"mmnet training: sequence {sequence.name!r} has class "
                                 f"{name!r} (from its {origin}), which is not in "
                                 f"data.classes {list(classes)}")
            out.append((sequence, domain, index[name]))
    return out


def frame_image(sequence: TrainingSequence, frame: int, domain: str) -> np.ndarray:
    """The network's 0-255 single-channel image of a frame: thermal, or gray from RGB."""
    rgb, thermal = sequence.frame(frame)
    if domain == "grayscale":
        if rgb is None:
            raise ValueError(f"mmnet training: grayscale source sequence {sequence.name!r} "
                             f"frame {frame} has no RGB image")
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if thermal is None:
        raise ValueError(f"mmnet training: thermal source sequence {sequence.name!r} frame "
                         f"{frame} has no thermal image (use domain: grayscale for RGB data)")
    return thermal_for_network(validate_pair(None, thermal))


class MMNetPairs(torch.utils.data.Dataset):
    """Random exemplar / search pairs (see the module docstring).

    Items: ``exemplar`` and ``search`` (1, S, S) float 0-255, ``target_offset`` (2,) the
    target centre (dx, dy) from the search crop centre in cells, ``class`` int64 (-1: none),
    ``grayscale`` 1.0 for grayscale-domain samples. Item ``i``'s randomness derives from
    (seed, epoch, i).
    """

    def __init__(self, labelled: List[Tuple[TrainingSequence, str, int]],
                 data: Mapping[str, Any], model: Mapping[str, Any], grayscale_fraction: float,
                 length: int, seed: int) -> None:
        self.domains: Dict[str, List[Tuple[TrainingSequence, int, np.ndarray]]] = {
            d: [] for d in DOMAINS}
        for sequence, domain, cls in labelled:
            valid = valid_frames(sequence)
            if valid.sum() >= 2:
                self.domains[domain].append((sequence, cls, valid))
        fraction = float(grayscale_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"multi_domain.grayscale_fraction must be in [0, 1], got {fraction}")
        for domain, needed in (("grayscale", fraction > 0), ("thermal", fraction < 1)):
            if needed and not self.domains[domain]:
                raise ValueError(f"mmnet training: grayscale_fraction {fraction} draws "
                                 f"{domain} samples, but no {domain} source has a sequence "
                                 "with two annotated frames")
        self.fraction = fraction
        self.data = dict(data)
        self.crop_size = int(model["crop_size"])
        self.stride = TOTAL_STRIDE
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def _crop(self, image: np.ndarray, box: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        side = float(self.data["crop_context_factor"]) * context_side(
            (box[2], box[3]), float(self.data["context_amount"]))
        centre = (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
        return square_crop(image, centre, side, self.crop_size, float(image.mean()))

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        d = self.data
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        domain = "grayscale" if rng.random() < self.fraction else "thermal"
        pool = self.domains[domain]
        for _attempt in range(50):
            k = pick_sequence([int(v.sum()) for _, _, v in pool], rng)
            pair = sample_pair(pool[k][2], rng, int(d["max_gap"]))
            if pair is not None:
                break
        else:
            raise ValueError(f"mmnet training: no {domain} sequence has two annotated frames "
                             f"within max_gap {d['max_gap']}")
        sequence, cls, _ = pool[k]
        z_box = np.asarray(sequence.boxes[pair[0]], dtype=np.float64)
        x_box = np.asarray(sequence.boxes[pair[1]], dtype=np.float64)
        exemplar, _ = self._crop(frame_image(sequence, pair[0], domain), z_box)
        moved = jitter_box(x_box, rng, float(d["search_center_jitter"]),
                           float(d["search_scale_jitter"]))
        search, region = self._crop(frame_image(sequence, pair[1], domain), moved)
        scale = self.crop_size / region[2]
        centre_px = ((x_box[:2] + x_box[2:] / 2.0) - region[:2]) * scale
        offset = (centre_px - self.crop_size / 2.0) / self.stride
        return {"exemplar": torch.from_numpy(exemplar).unsqueeze(0),
                "search": torch.from_numpy(search).unsqueeze(0),
                "target_offset": torch.tensor(offset, dtype=torch.float32),
                "class": torch.tensor(cls, dtype=torch.int64),
                "grayscale": torch.tensor(float(domain == "grayscale"))}


def frozen_parameter_names(model: nn.Module, strategy: str) -> List[str]:
    """Names of the parameters the strategy freezes (see :data:`FROZEN_PARTS`)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"multi_domain.strategy must be one of {', '.join(STRATEGIES)}, "
                         f"got {strategy!r}")
    prefixes = FROZEN_PARTS[strategy]
    return [name for name, _ in model.named_parameters() if name.startswith(prefixes)]


class MMNetTraining(TrainingTask):
    """The shared loop's view of MMNet (config: ``config/training/mmnet.yaml``)."""

    name = "mmnet"

    # -- configuration ------------------------------------------------------------------
    def _strategy(self) -> Dict[str, Any]:
        section = dict(self.config.get("multi_domain", {}))
        section.setdefault("strategy", "scratch")
        if section["strategy"] not in STRATEGIES:
            raise ValueError(f"multi_domain.strategy must be one of {', '.join(STRATEGIES)}, "
                             f"got {section['strategy']!r}")
        return section

    def _frozen_prefixes(self) -> Tuple[str, ...]:
        return FROZEN_PARTS[self._strategy()["strategy"]]

    # -- TrainingTask -------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        model_cfg = self.config["model"]
        classes = list(self.config["data"].get("classes", []))
        if int(model_cfg.get("num_classes", 0)) != len(classes):
            raise ValueError(f"model.num_classes is {model_cfg.get('num_classes')}, but "
                             f"data.classes lists {len(classes)} classes")
        net = network_from_config(model_cfg)
        section = self._strategy()
        init = str(section.get("init_checkpoint") or "")
        if section["strategy"] in ("retrain", "finetune"):
            if not init:
                raise ValueError(f"multi_domain.strategy {section['strategy']!r} needs "
                                 "multi_domain.init_checkpoint (the stage-1 checkpoint)")
            from rgbt_tracking.train.checkpoint import load_checkpoint

            data = load_checkpoint(init, expected_task="mmnet")
            try:
                net.load_state_dict(data["model"])
            except RuntimeError as exc:
                raise ValueError(f"{init}: weights do not fit model configuration "
                                 f"({str(exc).splitlines()[0]})") from None
        for name in frozen_parameter_names(net, section["strategy"]):
            net.get_parameter(name).requires_grad_(False)
        return net

    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        data = self.config["data"]
        trainer = self.config["trainer"]
        key = "sources" if split == "train" else "val_sources"
        labelled = open_labelled_sources(data[key], list(data.get("classes", [])),
                                         data.get("cache_dir") or None)
        length = (int(trainer["iterations_per_epoch"]) * int(trainer["batch_size"])
                  if split == "train" else int(data.get("val_samples", 16)))
        fraction = float(self._strategy().get("grayscale_fraction", 0.0))
        return MMNetPairs(labelled, data, self.config["model"], fraction, length,
                          int(trainer.get("seed", 0)) + (0 if split == "train" else 7919))

    def build_optimizers(self, model: nn.Module) -> Dict[str, torch.optim.Optimizer]:
        """SGD with momentum and weight decay (paper: batch 8, momentum 0.9), or Adam."""
        optim = self.config["optim"]
        params = self.parameter_groups(model)
        kind = str(optim.get("optimizer", "sgd"))
        if kind == "sgd":
            return {"main": torch.optim.SGD(params, lr=float(optim["lr_start"]),
                                            momentum=float(optim.get("momentum", 0.9)),
                                            weight_decay=float(optim.get("weight_decay", 0.0)))}
        if kind == "adam":
            return {"main": torch.optim.Adam(params, lr=float(optim["lr_start"]),
                                             weight_decay=float(optim.get("weight_decay", 0.0)))}
        raise ValueError(f"optim.optimizer must be 'sgd' or 'adam', got {kind!r}")

    def build_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer]
                         ) -> Dict[str, Any]:
        """Exponential decay from ``lr_start`` to ``lr_end`` over the epochs (paper)."""
        optim = self.config["optim"]
        epochs = int(self.config["trainer"]["epochs"])
        start, end = float(optim["lr_start"]), float(optim.get("lr_end", optim["lr_start"]))
        if epochs <= 1 or start == end:
            return {}
        gamma = math.exp(math.log(end / start) / (epochs - 1))
        return {key: torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
                for key, opt in optimizers.items()}

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        net: MMNet = getattr(model, "module", model)  # type: ignore[assignment]
        prefixes = self._frozen_prefixes()
        if net.training and prefixes:   # frozen layers keep their batch-norm statistics
            for name, module in net.named_modules():
                if name and (name + ".").startswith(prefixes):
                    module.eval()
        out = model(batch["exemplar"], batch["search"])
        loss_cfg = self.config["loss"]
        radius = float(loss_cfg["positive_radius_px"]) / net.stride
        labels, weights = response_labels(batch["target_offset"], net.response_size, radius)
        if not bool(loss_cfg.get("balanced", True)):
            weights = None
        dis = logistic_loss(out["dis"], labels, weights)
        fin = logistic_loss(out["fin"], labels, weights)
        cls = classification_loss(out["logits"], batch["class"]) if "logits" in out \
            else out["dis"].sum() * 0.0
        lambdas = tuple(float(v) for v in loss_cfg["weights"])
        if len(lambdas) != 3:
            raise ValueError(f"loss.weights must be [l1, l2, l3] of Eq. 10, got {lambdas}")
        total = multitask_loss(dis, fin, cls, lambdas)    # type: ignore[arg-type]
        return {"total": total, "dis": dis, "fin": fin, "cls": cls}

    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Tracking figures on held-out sequences (``validation.tracking_sources``)."""
        validation = self.config.get("validation", {})
        if not validation.get("tracking_sources"):
            return {}
        net: MMNet = getattr(model, "module", model)  # type: ignore[assignment]
        return evaluate_tracking(net, self.config, validation)

    def checkpoint_metadata(self) -> Dict[str, Any]:
        return {"tracker": "mmnet", "strategy": self._strategy()["strategy"],
                "classes": list(self.config["data"].get("classes", []))}


def evaluate_tracking(net: MMNet, config: Mapping[str, Any],
                      validation: Mapping[str, Any]) -> Dict[str, float]:
    """Run the online tracker with (a copy of) ``net`` on held-out thermal sequences.

    Returns ``track_auc`` and ``track_precision`` in percent
    (:func:`~rgbt_tracking.train.tracking_validation.score_tracker_on_sequences`).
    """
    from rgbt_tracking.core.config import load_preset, merge_overrides
    from rgbt_tracking.trackers.mmnet.tracker import MMNetTracker

    params = merge_overrides(load_preset("mmnet"), dict(validation.get("tracker", {})),
                             "validation.tracker")
    params.update(config["model"])
    for key in ("context_amount", "crop_context_factor"):   # crop as in training
        params[key] = config["data"][key]
    frozen = copy.deepcopy(net).cpu().eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    sequences = open_training_sources(validation["tracking_sources"],
                                      config["data"].get("cache_dir") or None)
    return score_tracker_on_sequences(lambda: MMNetTracker(params, network=frozen), sequences)
