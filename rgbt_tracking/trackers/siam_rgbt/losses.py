"""SiamBAN's losses (Chen et al., CVPR 2020, Sec. 3.4): cross-entropy classification on the
sampled labels, IoU loss on the l, t, r, b distances of the positive points."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def select_cross_entropy_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``0.5 * CE(positives) + 0.5 * CE(negatives)``, each the mean over its points (a set
    without points contributes 0); label -1 points are ignored.

    Args:
        logits: (B, 2, H, W), channel 0 background, 1 foreground.
        labels: (B, H, W) int in {1, 0, -1}.
    """
    if logits.dim() != 4 or logits.shape[1] != 2 or logits.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"logits must be (B, 2, H, W) matching labels (B, H, W), got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    log_prob = F.log_softmax(logits, dim=1)

    def part(value: int) -> torch.Tensor:
        mask = labels == value
        if not bool(mask.any()):
            return log_prob.sum() * 0.0
        return -log_prob[:, value][mask].mean()

    return 0.5 * part(1) + 0.5 * part(0)


def iou_loss(pred: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``-log((I + 1) / (U + 1))`` of the boxes that the distances (l, t, r, b) of the same
    point describe (UnitBox's IoU loss as SiamBAN uses it), mean over positive points.

    Args:
        pred, target: (B, 4, H, W) distances > 0, pixels.
        labels: (B, H, W); only points labelled 1 count (0 when there is none).
    """
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 4:
        raise ValueError(f"pred and target must both be (B, 4, H, W), got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    mask = labels == 1
    if not bool(mask.any()):
        return pred.sum() * 0.0
    p = pred.permute(0, 2, 3, 1)[mask]          # (N, 4)
    t = target.permute(0, 2, 3, 1)[mask]
    pred_area = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    target_area = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    inter_w = torch.minimum(p[:, 0], t[:, 0]) + torch.minimum(p[:, 2], t[:, 2])
    inter_h = torch.minimum(p[:, 1], t[:, 1]) + torch.minimum(p[:, 3], t[:, 3])
    inter = inter_w.clamp(min=0) * inter_h.clamp(min=0)
    union = pred_area + target_area - inter
    return -torch.log((inter + 1.0) / (union + 1.0)).mean()
