"""What a learned tracker supplies to the shared training loop (:mod:`rgbt_tracking.train.loop`).

Every learned tracker has one :class:`TrainingTask` subclass in
``rgbt_tracking/trackers/<name>/training.py`` (or ``rgbt_tracking/train/`` for models that
are not trackers, e.g. the pix2pix thermal synthesiser). The loop owns everything that is
the same for all of them: devices, ``torch.distributed`` set-up, data loading, the epoch
loop, gradient synchronisation, checkpoints with resume, logs, plots and the progress bar.

Configuration is one nested mapping (a YAML preset ``config/training/<name>.yaml`` merged
with command-line overrides) with at least these sections:

``trainer``: ``epochs``, ``iterations_per_epoch``, ``batch_size``, ``seed``,
``num_workers``, ``log_every``, ``checkpoint_every`` (epochs), ``grad_clip`` (max global
norm, 0 = off) -- read by the loop;
``optim``: learning rates and schedule -- read by the task's ``build_optimizers``;
``model`` and ``data``: read by the task only.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Mapping

import torch

Batch = Dict[str, Any]
GradientSync = Callable[[torch.nn.Module], None]


class TrainingTask(ABC):
    """One trainable model: how to build it, feed it and compute its losses.

    Args:
        config: the merged training configuration (see the module docstring).
    """

    #: registry name, e.g. "mfdimp"; also the checkpoint's ``task`` field.
    name: str = "task"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config: Dict[str, Any] = dict(config)

    # -- required ---------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> torch.nn.Module:
        """A freshly initialised model (pretrained weights from local files applied here)."""

    @abstractmethod
    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        """Training (``split="train"``) or validation (``"val"``) samples.

        Items are dicts of tensors (collated by the default collate function). A sampled
        dataset (random frame pairs) has a fixed length and derives its randomness from
        the item index and :meth:`set_epoch`, so that a run is reproducible and each
        distributed rank draws different samples.
        """

    @abstractmethod
    def compute_losses(self, model: torch.nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        """Scalar losses of one batch; ``"total"`` is the one optimised, the rest logged."""

    # -- optional ---------------------------------------------------------------------
    def build_optimizers(self, model: torch.nn.Module) -> Dict[str, torch.optim.Optimizer]:
        """Named optimisers; the default is one Adam over :meth:`parameter_groups`."""
        optim = self.config.get("optim", {})
        return {"main": torch.optim.Adam(self.parameter_groups(model),
                                         lr=float(optim.get("lr", 1e-3)),
                                         weight_decay=float(optim.get("weight_decay", 0.0)))}

    def build_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer]
                         ) -> Dict[str, Any]:
        """Per-epoch learning-rate schedulers keyed like the optimisers (default: StepLR
        with ``optim.lr_step`` epochs and ``optim.lr_gamma``, or none)."""
        optim = self.config.get("optim", {})
        step = int(optim.get("lr_step", 0))
        if step <= 0:
            return {}
        gamma = float(optim.get("lr_gamma", 0.2))
        return {key: torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)
                for key, opt in optimizers.items()}

    def parameter_groups(self, model: torch.nn.Module) -> List[Dict[str, Any]]:
        """Optimiser parameter groups (per-component learning rates go here)."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    def train_step(self, model: torch.nn.Module, batch: Batch,
                   optimizers: Mapping[str, torch.optim.Optimizer],
                   sync_gradients: GradientSync, grad_clip: float = 0.0
                   ) -> Dict[str, float]:
        """One optimisation step; returns the logged loss values.

        ``sync_gradients(model)`` averages gradients over distributed ranks (a no-op in
        one process) and must be called after ``backward`` and before ``step``. Tasks with
        several optimisers (GANs) override this method.
        """
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        losses = self.compute_losses(model, batch)
        losses["total"].backward()
        sync_gradients(model)
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        for opt in optimizers.values():
            opt.step()
        return {key: float(value.detach()) for key, value in losses.items()}

    def set_epoch(self, dataset: torch.utils.data.Dataset, epoch: int) -> None:
        """Tell a sampled dataset which epoch it serves (default: ``dataset.epoch = epoch``
        when it has that attribute)."""
        if hasattr(dataset, "epoch"):
            dataset.epoch = epoch  # type: ignore[attr-defined]

    def validate(self, model: torch.nn.Module) -> Dict[str, float]:
        """Figures computed after each epoch on rank 0 (default none), logged and plotted."""
        return {}

    def checkpoint_metadata(self) -> Dict[str, Any]:
        """Extra fields stored in each checkpoint (e.g. the tracker name and fusion)."""
        return {}
