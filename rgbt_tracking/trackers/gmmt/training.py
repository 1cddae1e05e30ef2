"""Stage two of GMMT: training the generative fusion block and a fresh head.

The model (:class:`~rgbt_tracking.trackers.gmmt.network.GMMTStageTwo`) starts from the
``siam_rgbt`` checkpoint named by ``stage_one_checkpoint``: its backbones and necks go
into the GMMT network, its fusion block becomes the frozen ``original_fusion`` that gives
the target ``fused``; the generative block and the head are new. The loss is GMMT Eq. 5,
``Loss = Loss_track + lambda * Loss_gen`` (``loss.gen_weight`` = lambda; Loss_track is
SiamBAN's, as in stage one), with Loss_gen the mean of the template's and the search
features' generative losses (:mod:`rgbt_tracking.nn.fusion`).

cGAN: the discriminator has its own optimiser (``discriminator``). Each step first
updates the generator and the head on Eq. 5 (the generator loss reaches D's weights too;
those gradients are dropped), then D on ``Loss_D = MSE(D(fused), 1) + MSE(D(fused*), 0)``
with the generated features detached. (The paper trains D first; updating G first lets
both use one forward pass and changes nothing in the alternation.)

Samples, optimiser and schedule: as stage one (:mod:`rgbt_tracking.trackers.siam_rgbt.training`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

import torch
from torch import nn

from rgbt_tracking.train.task import Batch, GradientSync
from rgbt_tracking.trackers.gmmt.model_loading import network_from_config
from rgbt_tracking.trackers.gmmt.network import GMMTStageTwo
from rgbt_tracking.trackers.siam_rgbt.model_loading import MODEL_KEYS as SIAM_MODEL_KEYS
from rgbt_tracking.trackers.siam_rgbt.training import (
    SiamRGBTTraining,
    build_optimizer,
    stage_one_network,
    tracking_figures,
    tracking_loss,
)


class GMMTTraining(SiamRGBTTraining):
    """The shared loop's view of GMMT stage two (``config/training/gmmt.yaml``)."""

    name = "gmmt"

    def build_model(self) -> nn.Module:
        """Stage-one weights in, generative block and head fresh.

        Raises:
            FileNotFoundError: ``stage_one_checkpoint`` does not exist (named).
            ValueError: the ``model`` section's architecture differs from the checkpoint's.
        """
        path = self.config.get("stage_one_checkpoint")
        stage_one, stage_one_model = stage_one_network(path)
        model = self.config["model"]
        for key in SIAM_MODEL_KEYS:
            if key in model and key in stage_one_model and model[key] != stage_one_model[key]:
                raise ValueError(f"model.{key} is {model[key]!r} but the stage-one checkpoint "
                                 f"{path} has {stage_one_model[key]!r}")
        net = network_from_config(model)
        for name in ("backbone_rgb", "backbone_thermal", "neck_rgb", "neck_thermal"):
            getattr(net, name).load_state_dict(getattr(stage_one, name).state_dict())
        return GMMTStageTwo(net, stage_one.fusion)

    def parameter_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        stage_two: GMMTStageTwo = getattr(model, "module", model)  # type: ignore[assignment]
        return [{"params": list(stage_two.trainable_parameters()),
                 "lr": float(self.config["optim"]["lr"])}]

    def build_optimizers(self, model: nn.Module) -> Dict[str, torch.optim.Optimizer]:
        stage_two: GMMTStageTwo = getattr(model, "module", model)  # type: ignore[assignment]
        optimizers = {"main": build_optimizer(self.parameter_groups(model), self.config["optim"])}
        discriminator = list(stage_two.net.generative.discriminator_parameters())
        if discriminator:
            optim = dict(self.config["optim"])
            optim["lr"] = float(optim.get("discriminator_lr", optim["lr"]))
            optimizers["discriminator"] = build_optimizer(
                [{"params": discriminator, "lr": optim["lr"]}], optim)
        return optimizers

    def _losses(self, model: nn.Module, batch: Batch) -> Dict[str, Any]:
        out = model(batch["template_rgb"], batch["template_thermal"], batch["search_rgb"],
                    batch["search_thermal"])
        track = tracking_loss(out["cls"], out["loc"], batch, self.config["loss"])
        total = track["track"] + float(self.config["loss"]["gen_weight"]) * out["gen"]
        losses = {"total": total, "track": track["track"], "cls": track["cls"],
                  "loc": track["loc"], "gen": out["gen"]}
        losses.update(out["terms"])
        return {"losses": losses, "branches": out["branches"]}

    def compute_losses(self, model: nn.Module, batch: Batch) -> Dict[str, torch.Tensor]:
        """GMMT Eq. 5 and its parts (generator side only)."""
        return self._losses(model, batch)["losses"]

    def train_step(self, model: nn.Module, batch: Batch,
                   optimizers: Mapping[str, torch.optim.Optimizer],
                   sync_gradients: GradientSync, grad_clip: float = 0.0
                   ) -> Dict[str, float]:
        """Generator + head step on Eq. 5, then (cGAN) a discriminator step."""
        if "discriminator" not in optimizers:
            return super().train_step(model, batch, optimizers, sync_gradients, grad_clip)
        stage_two: GMMTStageTwo = getattr(model, "module", model)  # type: ignore[assignment]
        generative = stage_two.net.generative
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        result = self._losses(model, batch)
        losses = result["losses"]
        losses["total"].backward()
        for parameter in generative.discriminator_parameters():
            parameter.grad = None
        sync_gradients(model)
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(list(stage_two.trainable_parameters()), grad_clip)
        optimizers["main"].step()
        d_losses = [generative.discriminator_loss(f_rgb, f_thermal, target, fake.detach())
                    for f_rgb, f_thermal, target, fake in result["branches"]]
        d_loss = 0.5 * (d_losses[0] + d_losses[1])
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        sync_gradients(model)
        optimizers["discriminator"].step()
        logged = {key: float(value.detach()) for key, value in losses.items()}
        logged["discriminator"] = float(d_loss.detach())
        return logged

    def validate(self, model: nn.Module) -> Dict[str, float]:
        """Tracking figures of the inference network on ``validation.tracking_sources``."""
        if not self.config.get("validation", {}).get("tracking_sources"):
            return {}
        from rgbt_tracking.trackers.gmmt.tracker import GMMTTracker

        stage_two: GMMTStageTwo = getattr(model, "module", model)  # type: ignore[assignment]
        config = dict(self.config)
        validation = dict(config["validation"])
        tracker = dict(validation.get("tracker", {}))
        tracker.setdefault("fusion_model", config["model"]["fusion_model"])
        validation["tracker"] = tracker
        config["validation"] = validation
        return tracking_figures(lambda params, frozen: GMMTTracker(params, network=frozen),
                                "gmmt", stage_two.net, config)

    def checkpoint_metadata(self) -> Dict[str, Any]:
        return {"tracker": "gmmt", "fusion_model": str(self.config["model"]["fusion_model"]),
                "stage_one_checkpoint": str(self.config.get("stage_one_checkpoint") or "")}
