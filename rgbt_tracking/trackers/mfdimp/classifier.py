"""DiMP's target classifier: feature block, model initialiser and steepest-descent optimiser.

The model predictor D of the mfDiMP paper (Sec. 3) maps a training set
S_train = {(x_j, c_j)} to a convolution filter f. It is DiMP's (Bhat et al., ICCV 2019):

* initialiser: a 3x3 conv on the classification features, precise RoI pooling of the
  target box to a ``filter_size`` x ``filter_size`` filter, averaged over the training
  images (DiMP Sec. 3.2);
* optimiser: ``num_iter`` steps of steepest descent on the discriminative loss (DiMP Eq. 3)

      L(f) = 1/2 sum_j w_j || v_c * (m_c * s_j + (1 - m_c) * max(0, s_j) - y_c) ||^2
             + 1/2 lambda ||f||^2,        s_j = x_j * f,

  with the step length of a Gauss-Newton approximation (DiMP Eq. 5-6)
  alpha = ||g||^2 / (||J g||^2 + lambda ||g||^2) scaled by a learned factor. The label
  y_c, target mask m_c and spatial weight v_c are learned functions of the distance to the
  target centre, expanded in triangular basis functions of the distance (DiMP Eq. 4).

Shapes: ``Nimg`` training images per sequence, ``Nseq`` sequences (batch), ``C`` feature
channels, ``H x W`` feature cells (stride ``feature_stride`` pixels), ``k`` filter size.
Coordinates follow the precise-RoI-pooling convention: feature cell ``j`` sits at image
coordinate ``j * feature_stride``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracking.nn.precise_roi_pool import PreciseRoIPool


class InstanceL2Norm(nn.Module):
    """Scale each sample so that its mean squared value is ``scale**2`` (DiMP's feature
    normalisation before the filter). Input and output (N, C, H, W)."""

    def __init__(self, scale: float, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = scale
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = x.shape[1] * x.shape[2] * x.shape[3]
        energy = (x * x).reshape(x.shape[0], -1).sum(dim=1).reshape(-1, 1, 1, 1)
        return x * (self.scale * torch.sqrt(count / (energy + self.eps)))


class ClassificationFeatures(nn.Sequential):
    """Block-4 backbone features -> classification features: 3x3 conv + instance L2 norm.

    Index 0 is the conv so that parameter names match DiMP's ``classifier.feature_extractor``
    with no residual blocks (``0.weight``). Input (N, in_dim, H, W), output (N, out_dim, H, W).
    """

    def __init__(self, in_dim: int, out_dim: int, filter_size: int) -> None:
        conv = nn.Conv2d(in_dim, out_dim, 3, padding=1, bias=False)
        nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (9 * out_dim)))
        super().__init__(conv, InstanceL2Norm(math.sqrt(1.0 / (out_dim * filter_size ** 2))))


def score_map_size(feature_size: Tuple[int, int], filter_size: int) -> Tuple[int, int]:
    """(H', W') of ``x * f`` with padding ``filter_size // 2``: H + 1 for an even filter."""
    extra = (filter_size + 1) % 2
    return feature_size[0] + extra, feature_size[1] + extra


def box_centres_in_score_map(boxes: torch.Tensor, feature_stride: float,
                             filter_size: int) -> torch.Tensor:
    """Target centres in score-map cells.

    Args:
        boxes: (..., 4) x y w h in image pixels of the sampled patch.

    Returns:
        (..., 2) x, y score-map coordinates: score cell ``u`` evaluates the filter centred
        on feature coordinate ``u - k//2 + (k-1)/2``, i.e. image ``(u + ((k+1) % 2)/2)``
        cells for the convention above, so ``u = c / stride + ((k+1) % 2) / 2``.
    """
    centre = boxes[..., :2] + 0.5 * boxes[..., 2:]
    return centre / feature_stride + ((filter_size + 1) % 2) / 2.0


def apply_filter(features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Scores s = x * f of every image of a sequence with that sequence's filter.

    Args:
        features: (Nimg, Nseq, C, H, W).
        filters: (Nseq, C, k, k).

    Returns:
        (Nimg, Nseq, H', W') with (H', W') = :func:`score_map_size`.
    """
    n_img, n_seq, channels, height, width = features.shape
    k = filters.shape[-1]
    out = F.conv2d(features.reshape(n_img, n_seq * channels, height, width), filters,
                   padding=k // 2, groups=n_seq)
    return out


def apply_filter_transpose(features: torch.Tensor, residuals: torch.Tensor,
                           filter_size: int) -> torch.Tensor:
    """Adjoint of :func:`apply_filter` with respect to the filter: sum over images of the
    correlation of each image's features with its score-map residual.

    Args:
        features: (Nimg, Nseq, C, H, W).
        residuals: (Nimg, Nseq, H', W').

    Returns:
        (Nseq, C, k, k) with ``<apply_filter(x, f), r> == <f, apply_filter_transpose(x, r)>``.
    """
    n_img, n_seq, channels, height, width = features.shape
    pad = filter_size // 2
    padded = F.pad(features, (pad, pad, pad, pad))
    # batch = channel c, input channels = (sequence, image), groups = sequences.
    inputs = padded.permute(2, 1, 0, 3, 4).reshape(channels, n_seq * n_img, height + 2 * pad,
                                                     width + 2 * pad)
    kernel = residuals.permute(1, 0, 2, 3)          # (Nseq, Nimg, H', W')
    out = F.conv2d(inputs, kernel, groups=n_seq)      # (C, Nseq, k, k)
    return out.permute(1, 0, 2, 3)


def distance_basis(distance: torch.Tensor, num_bins: int, bin_displacement: float
                   ) -> torch.Tensor:
    """Triangular basis functions of the distance (DiMP Eq. 4).

    rho_k(d) = max(0, 1 - |d - k Delta| / Delta) for k < N-1 and, for the last bin,
    rho_{N-1}(d) = clamp(1 + (d - (N-1) Delta) / Delta, 0, 1), so the expansion is
    piecewise linear in d and constant beyond (N-1) Delta.

    Args:
        distance: (N, 1, H, W) distances in score-map cells.

    Returns:
        (N, num_bins, H, W).
    """
    centres = torch.arange(num_bins, dtype=distance.dtype, device=distance.device)
    diff = distance / bin_displacement - centres.reshape(1, -1, 1, 1)
    inner = F.relu(1.0 - diff[:, :-1].abs())
    last = (1.0 + diff[:, -1:]).clamp(0.0, 1.0)
    return torch.cat([inner, last], dim=1)


class FilterInitializer(nn.Module):
    """DiMP's model initialiser: conv, precise RoI pooling of the target, mean over images.

    Parameter names (``filter_conv.*``) match DiMP's ``classifier.filter_initializer``.
    """

    def __init__(self, feature_dim: int, filter_size: int, feature_stride: float) -> None:
        super().__init__()
        self.filter_size = filter_size
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, 3, padding=1)
        nn.init.normal_(self.filter_conv.weight, 0.0, math.sqrt(2.0 / (9 * feature_dim)))
        nn.init.zeros_(self.filter_conv.bias)
        self.filter_pool = PreciseRoIPool(filter_size, 1.0 / feature_stride)

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Args: features (Nimg, Nseq, C, H, W); boxes (Nimg, Nseq, 4) x y w h pixels.

        Returns: (Nseq, C, k, k) initial filter f^(0).
        """
        n_img, n_seq, channels, height, width = features.shape
        flat = self.filter_conv(features.reshape(-1, channels, height, width))
        flat_boxes = boxes.reshape(-1, 4)
        index = torch.arange(flat_boxes.shape[0], dtype=flat_boxes.dtype,
                             device=flat_boxes.device).reshape(-1, 1)
        rois = torch.cat([index, flat_boxes[:, :2], flat_boxes[:, :2] + flat_boxes[:, 2:]], 1)
        pooled = self.filter_pool(flat, rois)
        return pooled.reshape(n_img, n_seq, channels, self.filter_size,
                              self.filter_size).mean(dim=0)


class SteepestDescentOptimizer(nn.Module):
    """DiMP's model optimiser (Eq. 3-6): learned loss, Gauss-Newton steepest descent.

    Parameter names match DiMP's ``classifier.filter_optimizer``: ``log_step_length``,
    ``filter_reg``, ``label_map_predictor``, ``target_mask_predictor.0`` and
    ``spatial_weight_predictor``.

    Args:
        num_iter: default number of descent steps.
        feature_stride: backbone stride of the classification features, pixels.
        init_step_length: initial learned step-length factor exp(log_step_length).
        init_filter_reg: initial regularisation parameter (lambda = filter_reg**2).
        min_filter_reg: lower bound on filter_reg.
        num_dist_bins, bin_displacement: distance basis (DiMP: 100 bins of 0.1 cells).
        init_gauss_sigma: sigma in cells of the Gaussian the label function starts from.
        mask_init_factor: the target mask starts as sigmoid(factor * tanh(2 - d)).
    """

    def __init__(self, num_iter: int = 5, feature_stride: float = 16.0,
                 init_step_length: float = 1.0, init_filter_reg: float = 1e-2,
                 min_filter_reg: float = 1e-3, num_dist_bins: int = 100,
                 bin_displacement: float = 0.1, init_gauss_sigma: float = 0.9,
                 mask_init_factor: float = 3.0) -> None:
        super().__init__()
        self.num_iter = num_iter
        self.feature_stride = feature_stride
        self.min_filter_reg = min_filter_reg
        self.num_dist_bins = num_dist_bins
        self.bin_displacement = bin_displacement
        self.log_step_length = nn.Parameter(math.log(init_step_length) * torch.ones(1))
        self.filter_reg = nn.Parameter(init_filter_reg * torch.ones(1))
        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, 1, bias=False)
        self.target_mask_predictor = nn.Sequential(nn.Conv2d(num_dist_bins, 1, 1, bias=False),
                                                   nn.Sigmoid())
        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, 1, bias=False)
        d = torch.arange(num_dist_bins, dtype=torch.float32).reshape(1, -1, 1, 1) \
            * bin_displacement
        gauss = torch.exp(-0.5 * (d / init_gauss_sigma) ** 2)
        with torch.no_grad():
            self.label_map_predictor.weight.copy_(gauss - gauss.min())
            self.target_mask_predictor[0].weight.copy_(mask_init_factor * torch.tanh(2.0 - d))
            self.spatial_weight_predictor.weight.fill_(1.0)

    def loss_maps(self, boxes: torch.Tensor, score_size: Tuple[int, int],
                  filter_size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label y, target mask m and spatial weight v over the score map.

        Args:
            boxes: (Nimg, Nseq, 4) target boxes x y w h, pixels of the patch.

        Returns:
            three (Nimg, Nseq, H', W') tensors.
        """
        n_img, n_seq = boxes.shape[:2]
        centres = box_centres_in_score_map(boxes.reshape(-1, 4), self.feature_stride,
                                           filter_size)
        ys = torch.arange(score_size[0], dtype=boxes.dtype, device=boxes.device)
        xs = torch.arange(score_size[1], dtype=boxes.dtype, device=boxes.device)
        dist = torch.sqrt((ys.reshape(1, -1, 1) - centres[:, 1].reshape(-1, 1, 1)) ** 2
                          + (xs.reshape(1, 1, -1) - centres[:, 0].reshape(-1, 1, 1)) ** 2)
        basis = distance_basis(dist.unsqueeze(1), self.num_dist_bins, self.bin_displacement)
        shape = (n_img, n_seq) + tuple(score_size)
        return (self.label_map_predictor(basis).reshape(shape),
                self.target_mask_predictor(basis).reshape(shape),
                self.spatial_weight_predictor(basis).reshape(shape))

    def regularization(self, score_size: Tuple[int, int]) -> torch.Tensor:
        """lambda: max(filter_reg, min)^2 normalised by the squared number of score cells
        (the normalisation of the public DiMP implementation, so its weights behave)."""
        cells = float(score_size[0] * score_size[1])
        return (self.filter_reg * self.filter_reg).clamp(min=self.min_filter_reg ** 2) \
            / (cells ** 2)

    def forward(self, filters: torch.Tensor, features: torch.Tensor, boxes: torch.Tensor,
                num_iter: Optional[int] = None, sample_weights: Optional[torch.Tensor] = None,
                compute_losses: bool = False
                ) -> Tuple[torch.Tensor, List[torch.Tensor], List[torch.Tensor]]:
        """Run the descent.

        Args:
            filters: (Nseq, C, k, k) starting filter f^(0).
            features: (Nimg, Nseq, C, H, W) training features x_j.
            boxes: (Nimg, Nseq, 4) their target boxes, pixels.
            num_iter: steps (default ``self.num_iter``).
            sample_weights: (Nimg,) or (Nimg, Nseq) weights w_j summing to 1 per sequence;
                default uniform 1/Nimg.
            compute_losses: also return L(f^(i)) per iterate.

        Returns:
            (final filter, [f^(0), ..., f^(n)], [L(f^(0)), ...] (empty unless asked),
            each loss of shape (Nseq,)).
        """
        steps = self.num_iter if num_iter is None else int(num_iter)
        n_img, n_seq = features.shape[:2]
        k = filters.shape[-1]
        score_size = score_map_size(tuple(features.shape[-2:]), k)
        labels, mask, spatial = self.loss_maps(boxes, score_size, k)
        if sample_weights is None:
            sample_weights = features.new_full((n_img, 1), 1.0 / n_img)
        sample_weights = sample_weights.reshape(n_img, -1, 1, 1)
        weight = spatial * torch.sqrt(sample_weights)      # v_c * sqrt(w_j)
        reg = self.regularization(score_size)
        step_factor = torch.exp(self.log_step_length)
        iterates = [filters]
        losses: List[torch.Tensor] = []
        for _ in range(steps):
            scores = apply_filter(features, filters)
            activated = mask * scores + (1.0 - mask) * F.relu(scores)
            derivative = mask + (1.0 - mask) * (scores > 0).to(scores.dtype)
            residuals = weight * (activated - labels)
            if compute_losses:
                losses.append(self._loss(residuals, filters, reg))
            gradient = apply_filter_transpose(features, derivative * weight * residuals, k) \
                + reg * filters
            jacobian_gradient = weight * derivative * apply_filter(features, gradient)
            numerator = (gradient * gradient).sum(dim=(1, 2, 3))
            denominator = ((jacobian_gradient * jacobian_gradient).sum(dim=(0, 2, 3))
                           + reg * numerator).clamp(min=1e-8)
            alpha = (numerator / denominator).reshape(-1, 1, 1, 1)
            filters = filters - step_factor * alpha * gradient
            iterates.append(filters)
        if compute_losses:
            scores = apply_filter(features, filters)
            activated = mask * scores + (1.0 - mask) * F.relu(scores)
            losses.append(self._loss(weight * (activated - labels), filters, reg))
        return filters, iterates, losses

    @staticmethod
    def _loss(residuals: torch.Tensor, filters: torch.Tensor, reg: torch.Tensor
              ) -> torch.Tensor:
        data = 0.5 * (residuals * residuals).sum(dim=(0, 2, 3))
        return data + 0.5 * reg * (filters * filters).sum(dim=(1, 2, 3))


class TargetClassifier(nn.Module):
    """Classification features + model predictor: DiMP's ``classifier`` module.

    Args:
        input_dim: channels of the backbone block-4 features it reads (doubled for
            feature-level fusion of two backbones).
        feature_dim: channels of the classification features (DiMP-18: 256, DiMP-50: 512).
        filter_size: k (DiMP: 4).
        feature_stride: pixels per feature cell (16 for ResNet layer3).
        optimizer: keyword arguments of :class:`SteepestDescentOptimizer`.
    """

    def __init__(self, input_dim: int, feature_dim: int = 512, filter_size: int = 4,
                 feature_stride: float = 16.0, **optimizer: float) -> None:
        super().__init__()
        self.filter_size = filter_size
        self.feature_stride = feature_stride
        self.feature_extractor = ClassificationFeatures(input_dim, feature_dim, filter_size)
        self.filter_initializer = FilterInitializer(feature_dim, filter_size, feature_stride)
        self.filter_optimizer = SteepestDescentOptimizer(feature_stride=feature_stride,
                                                         **optimizer)

    def extract_features(self, backbone_features: torch.Tensor) -> torch.Tensor:
        """(N, input_dim, H, W) -> (N, feature_dim, H, W)."""
        return self.feature_extractor(backbone_features)

    def predict_filter(self, features: torch.Tensor, boxes: torch.Tensor,
                       num_iter: Optional[int] = None,
                       sample_weights: Optional[torch.Tensor] = None
                       ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """f = D(S_train): initialise then optimise.

        Args: features (Nimg, Nseq, C, H, W) classification features; boxes (Nimg, Nseq, 4).
        Returns: (final filter (Nseq, C, k, k), all iterates including f^(0)).
        """
        initial = self.filter_initializer(features, boxes)
        final, iterates, _ = self.filter_optimizer(initial, features, boxes, num_iter,
                                                   sample_weights)
        return final, iterates

    @staticmethod
    def scores(features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        """Response s = x * f: (Nimg, Nseq, C, H, W), (Nseq, C, k, k) -> (Nimg, Nseq, H', W')."""
        return apply_filter(features, filters)
