"""The multi-modal multi-margin structured loss (MMSL) of M5L, Eq. 4-15.

Per modality (r: RGB, t: thermal) the ground-truth box is the anchor a; the candidate boxes
are positives p (IoU > 0.7) and negatives n (IoU < 0.5); f is the feature embedding (FC +
BN) and d the distance of an embedded sample to the embedded anchor.

* Mining (Eq. 4-5): confusing positives P* = {p : d(a, p) > alpha}, confusing negatives
  N* = {n : d(a, n) < alpha + m}.
* Pair loss (Eq. 6-7), y = 1 for a positive, 0 for a negative:
  ``(1 - y)(|alpha + m - d| + |alpha + m + beta - d|) + y(|d - (alpha - beta)| + |d - alpha|)``;
  it is flat (= beta) on [alpha - beta, alpha] for positives and on
  [alpha + m, alpha + m + beta] for negatives (Fig. 2) and grows with slope 2 outside.
* L_P, L_N (Eq. 8-11): means of the pair loss over P* and N*.
* L_rgb = L_P^r + L_N^r (Eq. 13), L_t = L_P^t + L_N^t (Eq. 14).
* L_cross (Eq. 12): ``max{d^r(P_r^+) - min d^t(N_t^-) + delta, 0} + max{d^t(P_t^+) -
  min d^r(N_r^-) + delta, 0}``.
* L_MMSL = L_rgb + L_t + L_cross (Eq. 15).

Readings where the extracted text is ambiguous (stated again next to the code):

1. d is the Euclidean distance ||f(a) - f(x)||_2 ("by computing the Euclidean distance
   between each sample and the anchor"; the ``(f(x_i) - f(x_j))^2`` of the definition is
   taken as the usual shorthand; ``squared_distance=True`` gives the squared reading).
2. Embeddings are L2-normalised before the distances (``normalize=True``), as in the
   ranked list loss [24] the mining follows: distances then lie in [0, 2], where the
   boundaries alpha = 1.6, alpha + m + beta = 1.9 are meaningful; raw BN outputs of 512
   dimensions are ~30 apart and would make every negative "normal".
3. In Eq. 4 the index i is the anchor and j / k the sample: P* keeps positives *farther*
   than alpha, N* keeps negatives *closer* than alpha + m (the confusing ones, Fig. 2).
4. An empty P* or N* contributes 0 (instead of 0 / 0), as in the ranked list loss.
5. Eq. 12: d^r(P_r^+) is the distance of each positive; the hinge is taken per positive
   against the closest negative of the other modality and averaged over the positives,
   the averaging of the triplet loss (Eq. 1) it is "based on". All positives take part
   (the text says "the positive sample", not the mined ones).
6. delta of Eq. 12 has no value in the paper; it defaults to m (0.2), the margin the
   paper puts between positives and negatives.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import torch
from torch import nn

#: alpha, beta, m of Sec. III-B ("we set alpha and beta to 1.6 and 0.1 ... m ... 0.2").
DEFAULT_ALPHA = 1.6
DEFAULT_BETA = 0.1
DEFAULT_MARGIN = 0.2


class ModalityEmbeddings(NamedTuple):
    """Embedded samples of one modality.

    anchor: (D,) or, for F frames at once, (F, D); positives: (N_pos, D) or (F, N_pos, D);
    negatives: (N_neg, D) or (F, N_neg, D).
    """

    anchor: torch.Tensor
    positives: torch.Tensor
    negatives: torch.Tensor


def anchor_distances(anchor: torch.Tensor, samples: torch.Tensor, normalize: bool = True,
                     squared: bool = False) -> torch.Tensor:
    """d of Eq. 4-7 between the anchor and every sample (readings 1-2 of the module doc).

    Args:
        anchor: (F, D). samples: (F, N, D).
        normalize: L2-normalise both before measuring.
        squared: return ||.||^2 instead of ||.||.

    Returns:
        (F, N) distances.
    """
    if normalize:
        anchor = nn.functional.normalize(anchor, dim=-1)
        samples = nn.functional.normalize(samples, dim=-1)
    difference = samples - anchor[:, None, :]
    if squared:
        return difference.pow(2).sum(dim=-1)
    return torch.linalg.vector_norm(difference, dim=-1)


def mine_confusing(positive_distances: torch.Tensor, negative_distances: torch.Tensor,
                   alpha: float = DEFAULT_ALPHA, margin: float = DEFAULT_MARGIN
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Masks of the confusing samples, Eq. 4 (RGB) and Eq. 5 (thermal).

    P* = {p : d > alpha}, N* = {n : d < alpha + m} (reading 3).

    Returns:
        (positive mask, negative mask), boolean, shaped as the distances.
    """
    return positive_distances > alpha, negative_distances < alpha + margin


def pair_loss(distances: torch.Tensor, positive: bool, alpha: float = DEFAULT_ALPHA,
              beta: float = DEFAULT_BETA, margin: float = DEFAULT_MARGIN) -> torch.Tensor:
    """L(x_i, x_j; f) of Eq. 6 (RGB) / Eq. 7 (thermal), element-wise over ``distances``.

    positive (y = 1): |d - (alpha - beta)| + |d - alpha|;
    negative (y = 0): |alpha + m - d| + |alpha + m + beta - d|.
    """
    if positive:
        return (distances - (alpha - beta)).abs() + (distances - alpha).abs()
    return (alpha + margin - distances).abs() + (alpha + margin + beta - distances).abs()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per frame mean of ``values`` over ``mask`` (0 for an empty mask, reading 4): (F,)."""
    weights = mask.to(values.dtype)
    return (values * weights).sum(dim=-1) / weights.sum(dim=-1).clamp(min=1.0)


def _cross_hinge(positive_distances: torch.Tensor, other_negative_distances: torch.Tensor,
                 delta: float) -> torch.Tensor:
    """One half of Eq. 12 per frame: mean_p max{d(p) - min_n d_other(n) + delta, 0} (F,)."""
    closest_negative = other_negative_distances.min(dim=-1).values              # (F,)
    return torch.relu(positive_distances - closest_negative[:, None] + delta).mean(dim=-1)


def _as_frames(embeddings: ModalityEmbeddings, name: str) -> Tuple[ModalityEmbeddings, bool]:
    anchor, positives, negatives = (torch.as_tensor(t) for t in embeddings)
    single = anchor.dim() == 1
    if single:
        anchor, positives, negatives = anchor[None], positives[None], negatives[None]
    if anchor.dim() != 2 or positives.dim() != 3 or negatives.dim() != 3:
        raise ValueError(f"{name}: expected anchor (D,), positives (N_pos, D), negatives "
                         f"(N_neg, D) (or with a leading frame axis), got {tuple(embeddings[0].shape)}, "
                         f"{tuple(embeddings[1].shape)}, {tuple(embeddings[2].shape)}")
    frames, dim = anchor.shape
    for label, samples in (("positives", positives), ("negatives", negatives)):
        if samples.shape[0] != frames or samples.shape[2] != dim:
            raise ValueError(f"{name} {label}: expected ({frames}, N, {dim}) to match the anchor, "
                             f"got {tuple(samples.shape)}")
        if samples.shape[1] == 0:
            raise ValueError(f"{name} {label}: at least one sample is needed")
    return ModalityEmbeddings(anchor, positives, negatives), single


def mmsl_loss(rgb: ModalityEmbeddings, thermal: ModalityEmbeddings,
              alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
              margin: float = DEFAULT_MARGIN, cross_margin: Optional[float] = None,
              normalize: bool = True, squared_distance: bool = False) -> Dict[str, torch.Tensor]:
    """L_MMSL of Eq. 15 and every term of it.

    Args:
        rgb, thermal: embedded anchor, positives and negatives of each modality
            (:class:`ModalityEmbeddings` or a plain 3-tuple); one frame, or F frames stacked
            along a leading axis (the terms are then averaged over the frames). Both
            modalities hold the same frames; their sample counts may differ.
        alpha: positive boundary; beta: width of the target intervals; margin: m between the
            positive and negative boundaries.
        cross_margin: delta of Eq. 12; None = ``margin`` (reading 6).
        normalize: L2-normalise the embeddings first (reading 2).
        squared_distance: use ||.||^2 as d (reading 1's alternative).

    Returns:
        Scalars ``rgb_positive`` (L_P^r, Eq. 8), ``rgb_negative`` (L_N^r, Eq. 9),
        ``thermal_positive`` (L_P^t, Eq. 10), ``thermal_negative`` (L_N^t, Eq. 11),
        ``rgb`` (L_rgb, Eq. 13), ``thermal`` (L_t, Eq. 14), ``cross`` (L_cross, Eq. 12),
        ``total`` (L_MMSL, Eq. 15); and, for inspection, the distances (``rgb_positive_distances``
        ... ``thermal_negative_distances``) and the mining masks (``rgb_positive_mined`` ...
        ``thermal_negative_mined``) of Eq. 4-5, shaped (N,) for one frame or (F, N).

    Raises:
        ValueError: mismatched shapes, empty sample sets, or alpha, beta, margin that do not
            satisfy 0 <= beta <= alpha and margin >= 0.
    """
    if not (0.0 <= beta <= alpha) or margin < 0.0:
        raise ValueError(f"need 0 <= beta <= alpha and margin >= 0, got alpha={alpha}, "
                         f"beta={beta}, margin={margin}")
    delta = margin if cross_margin is None else float(cross_margin)
    rgb, single = _as_frames(rgb, "rgb")
    thermal, _ = _as_frames(thermal, "thermal")
    if thermal.anchor.shape[0] != rgb.anchor.shape[0]:
        raise ValueError(f"rgb and thermal must hold the same number of frames, got "
                         f"{rgb.anchor.shape[0]} and {thermal.anchor.shape[0]}")

    result: Dict[str, torch.Tensor] = {}
    distances = {}
    for name, modality in (("rgb", rgb), ("thermal", thermal)):
        positive_d = anchor_distances(modality.anchor, modality.positives, normalize,
                                      squared_distance)
        negative_d = anchor_distances(modality.anchor, modality.negatives, normalize,
                                      squared_distance)
        positive_mined, negative_mined = mine_confusing(positive_d, negative_d, alpha,
                                                        margin)                   # Eq. 4-5
        positive_term = _masked_mean(pair_loss(positive_d, True, alpha, beta, margin),
                                     positive_mined)                              # Eq. 8 / 10
        negative_term = _masked_mean(pair_loss(negative_d, False, alpha, beta, margin),
                                     negative_mined)                              # Eq. 9 / 11
        result[f"{name}_positive"] = positive_term.mean()
        result[f"{name}_negative"] = negative_term.mean()
        result[name] = (positive_term + negative_term).mean()                     # Eq. 13 / 14
        distances[name] = (positive_d, negative_d)
        for label, value in (("positive_distances", positive_d), ("negative_distances", negative_d),
                             ("positive_mined", positive_mined),
                             ("negative_mined", negative_mined)):
            result[f"{name}_{label}"] = value[0] if single else value

    (rgb_positive_d, rgb_negative_d), (thermal_positive_d, thermal_negative_d) = \
        distances["rgb"], distances["thermal"]
    cross = (_cross_hinge(rgb_positive_d, thermal_negative_d, delta)
             + _cross_hinge(thermal_positive_d, rgb_negative_d, delta))           # Eq. 12
    result["cross"] = cross.mean()
    result["total"] = result["rgb"] + result["thermal"] + result["cross"]         # Eq. 15
    return result


class MMSLLoss(nn.Module):
    """Module form of :func:`mmsl_loss` with fixed hyper-parameters; returns the dict."""

    def __init__(self, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                 margin: float = DEFAULT_MARGIN, cross_margin: Optional[float] = None,
                 normalize: bool = True, squared_distance: bool = False) -> None:
        super().__init__()
        if not (0.0 <= beta <= alpha) or margin < 0.0:
            raise ValueError(f"need 0 <= beta <= alpha and margin >= 0, got alpha={alpha}, "
                             f"beta={beta}, margin={margin}")
        self.alpha, self.beta, self.margin = float(alpha), float(beta), float(margin)
        self.cross_margin = cross_margin
        self.normalize, self.squared_distance = bool(normalize), bool(squared_distance)

    def forward(self, rgb: ModalityEmbeddings,
                thermal: ModalityEmbeddings) -> Dict[str, torch.Tensor]:
        return mmsl_loss(rgb, thermal, self.alpha, self.beta, self.margin, self.cross_margin,
                         self.normalize, self.squared_distance)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, beta={self.beta}, margin={self.margin}, "
                f"cross_margin={self.cross_margin}, normalize={self.normalize}")
