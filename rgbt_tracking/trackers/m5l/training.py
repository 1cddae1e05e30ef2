"""Training of M5L (``rgbt-track train m5l``): RT-MDNet's multi-domain training
(:class:`~rgbt_tracking.trackers.mdnet_rgbt.training.MDNetRGBTTraining`) with the attention
fusion, plus the multi-modal multi-margin structured loss (MMSL, Eq. 4-15) on the
per-modality embeddings of the anchor (the ground truth), the positives and the negatives of
every frame (Sec. III-B, Fig. 3: "the overall loss consists of our multi-modal
multi-margin structured loss and the binary classification loss").

``loss.mmsl_weight`` weighs L_MMSL in the total (the paper adds the two losses: 1.0);
``loss.mmsl`` holds alpha, beta, margin (Sec. IV-A: 1.6, 0.1, 0.2), cross_margin (delta of
Eq. 12, null = margin) and normalize (L2-normalised embeddings, see ``mmsl_loss``).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from rgbt_tracking.trackers.m5l.mmsl_loss import ModalityEmbeddings, mmsl_loss
from rgbt_tracking.trackers.mdnet_rgbt.network import MDNetRGBT
from rgbt_tracking.trackers.mdnet_rgbt.training import MDNetRGBTTraining


class M5LTraining(MDNetRGBTTraining):
    """M5L's offline training (config ``config/training/m5l.yaml``)."""

    name = "m5l"
    fusion = "m5l"
    tracker_name = "m5l"

    def extra_losses(self, net: MDNetRGBT, rgb_map: torch.Tensor, thermal_map: torch.Tensor,
                     rois: torch.Tensor, shape: Tuple[int, int]
                     ) -> Dict[str, Tuple[torch.Tensor, float]]:
        """``mmsl``: L_MMSL (Eq. 15) of the embedded RoI features of each modality."""
        loss_cfg = self.config["loss"]
        weight = float(loss_cfg.get("mmsl_weight", 1.0))
        if weight == 0.0:
            return {}
        frames, per_frame = shape
        positives = int(self.config["data"]["pos_per_frame"])
        rgb_emb, thermal_emb = net.embed(net.pool(rgb_map, rois), net.pool(thermal_map, rois))

        def split(embedded: torch.Tensor) -> ModalityEmbeddings:
            per = embedded.reshape(frames, per_frame, -1)
            return ModalityEmbeddings(per[:, 0], per[:, 1:1 + positives], per[:, 1 + positives:])

        settings = dict(loss_cfg.get("mmsl", {}))
        result = mmsl_loss(split(rgb_emb), split(thermal_emb),
                           alpha=float(settings.get("alpha", 1.6)),
                           beta=float(settings.get("beta", 0.1)),
                           margin=float(settings.get("margin", 0.2)),
                           cross_margin=settings.get("cross_margin"),
                           normalize=bool(settings.get("normalize", True)))
        return {"mmsl": (result["total"], weight), "mmsl_cross": (result["cross"].detach(), 0.0)}
