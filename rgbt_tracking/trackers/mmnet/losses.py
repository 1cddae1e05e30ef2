"""Losses of MMNet: the logistic loss of the matching branches (Eq. 2), the classification
cross-entropy (Eq. 3) and their weighted sum (Eq. 10).

Labels of a similarity map follow SiamFC / CFNet (``create_labels``): +1 within
``positive_radius`` cells of the target's position, -1 elsewhere; the loss may weigh the
two sets equally (CFNet's ``labelWeight = 'balanced'``) or every cell alike (Eq. 2 as
printed).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def logistic_loss(scores: torch.Tensor, labels: torch.Tensor,
                  weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Eq. 2: mean over the map D of log(1 + exp(-y[u] o[u])).

    Args:
        scores: (..., R, R) real-valued similarities o.
        labels: same shape, +1 / -1 ground truth y.
        weights: same shape, non-negative; None = the plain mean of Eq. 2, otherwise the
            weighted mean ``sum w l / sum w`` (balanced labels).
    """
    if scores.shape != labels.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} differ")
    per_cell = F.softplus(-labels * scores)            # log(1 + exp(-y o)), stable
    if weights is None:
        return per_cell.mean()
    return (weights * per_cell).sum() / weights.sum().clamp(min=1e-12)


def response_labels(target_offsets: torch.Tensor, size: int, positive_radius: float
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """SiamFC labels and balanced weights around each target position.

    Args:
        target_offsets: (B, 2) target centre (dx, dy) relative to the map centre, cells.
        size: R, side of the similarity map.
        positive_radius: cells; a cell within this distance of the target is positive.

    Returns:
        (labels, weights), each (B, 1, R, R): labels +1 / -1; weights give positives and
        negatives half of the total each (1 / count where one of the sets is empty).
    """
    cells = torch.arange(size, dtype=target_offsets.dtype, device=target_offsets.device)
    centre = (size - 1) / 2.0
    dx = cells.reshape(1, 1, -1) - centre - target_offsets[:, 0].reshape(-1, 1, 1)
    dy = cells.reshape(1, -1, 1) - centre - target_offsets[:, 1].reshape(-1, 1, 1)
    positive = (dx * dx + dy * dy) <= positive_radius ** 2
    labels = torch.where(positive, 1.0, -1.0).to(target_offsets.dtype)
    count_pos = positive.sum(dim=(1, 2), keepdim=True).to(labels.dtype)
    count_neg = (~positive).sum(dim=(1, 2), keepdim=True).to(labels.dtype)
    both = (count_pos > 0) & (count_neg > 0)
    share = torch.where(both, 0.5, 1.0)
    weights = torch.where(positive, share / count_pos.clamp(min=1), share / count_neg.clamp(min=1))
    return labels.unsqueeze(1), weights.unsqueeze(1)


def classification_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Eq. 3: cross-entropy -sum_k y_k log p_k averaged over the samples with a class.

    Args:
        logits: (B, K) class scores.
        classes: (B,) int64 class indices; -1 marks a sample without a class (ignored).

    Returns:
        The mean over labelled samples; 0 (still connected to ``logits``) when none is.
    """
    labelled = classes >= 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[labelled], classes[labelled])


def multitask_loss(dis: torch.Tensor, fin: torch.Tensor, cls: torch.Tensor,
                   weights: Tuple[float, float, float]) -> torch.Tensor:
    """Eq. 10: lambda1 L_dis + lambda2 L_cls + lambda3 L_fin."""
    return weights[0] * dis + weights[1] * cls + weights[2] * fin
