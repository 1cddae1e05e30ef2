"""IoU-Net box estimation of ATOM/DiMP (mfDiMP paper Sec. 3, Eq. 2).

IoU(B) = g(c(x_0, B_0) . z(x, B)): a modulation vector c computed from the reference
image's features x_0 and box B_0 re-weights channel-wise the test features pooled in the
candidate box B (precise RoI pooling), and g (fully connected layers) predicts the IoU.
Block-3 (ResNet layer2, stride 8) and block-4 (layer3, stride 16) features each have a
branch; their outputs are concatenated before the final linear layer.

Parameter names match DiMP's ``bb_regressor`` (``conv3_1r``, ``fc34_3r``, ``iou_predictor``,
...), so that public DiMP weights map onto this module by renaming the prefix only.

Boxes are x y w h in pixels of the sampled patch; proposals are (Nimg, Nprop, 4).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.precise_roi_pool import PreciseRoIPool


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, padding: int = 1
                 ) -> nn.Sequential:
    """Conv (with bias) + BatchNorm + ReLU; names ``0.*`` and ``1.*`` as DiMP's ``conv``."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size, padding=padding,
                                   bias=True),
                         nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True))


class LinearBlock(nn.Module):
    """Flatten a (N, C, s, s) map, linear, BatchNorm, ReLU -> (N, out_planes)."""

    def __init__(self, in_planes: int, out_planes: int, input_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_planes * input_size * input_size, out_planes)
        self.bn = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.reshape(x.shape[0], -1))
        out = self.bn(out.reshape(out.shape[0], out.shape[1], 1, 1))
        return self.relu(out).reshape(x.shape[0], -1)


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """(N, M, 4) x y w h -> (N*M, 5) [batch index n, x1, y1, x2, y2] for RoI pooling."""
    n, m = boxes.shape[:2]
    index = torch.arange(n, dtype=boxes.dtype, device=boxes.device).reshape(-1, 1, 1)
    index = index.expand(n, m, 1)
    corners = torch.cat([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]], dim=-1)
    return torch.cat([index, corners], dim=-1).reshape(-1, 5)


class IoUNet(nn.Module):
    """ATOM's IoU predictor.

    Args:
        input_dim: channels of the (block-3, block-4) features it reads (R18: 128, 256;
            R50: 512, 1024; doubled when fed fused features).
        pred_input_dim: channels after the test-branch convs (DiMP: 256, 256).
        pred_inter_dim: width of the fully connected layers (DiMP: 256, 256).
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256),
                 pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.conv3_1r = conv_bn_relu(input_dim[0], 128)
        self.conv3_1t = conv_bn_relu(input_dim[0], 256)
        self.conv3_2t = conv_bn_relu(256, pred_input_dim[0])
        self.prroi_pool3r = PreciseRoIPool(3, 1 / 8)
        self.prroi_pool3t = PreciseRoIPool(5, 1 / 8)
        self.fc3_1r = conv_bn_relu(128, 256, kernel_size=3, padding=0)
        self.conv4_1r = conv_bn_relu(input_dim[1], 256)
        self.conv4_1t = conv_bn_relu(input_dim[1], 256)
        self.conv4_2t = conv_bn_relu(256, pred_input_dim[1])
        self.prroi_pool4r = PreciseRoIPool(1, 1 / 16)
        self.prroi_pool4t = PreciseRoIPool(3, 1 / 16)
        self.fc34_3r = conv_bn_relu(256 + 256, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = conv_bn_relu(256 + 256, pred_input_dim[1], kernel_size=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # Start by predicting about 0 for every box: a large random output from the product
        # of the two branches makes the first Adam steps of the MSE loss unstable.
        nn.init.normal_(self.iou_predictor.weight, 0.0, 1e-3)

    def modulation(self, features: Sequence[torch.Tensor], boxes: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Modulation vectors c(x_0, B_0) from the reference image.

        Args:
            features: (block3 (N, C3, H3, W3), block4 (N, C4, H4, W4)).
            boxes: (N, 4) reference boxes.

        Returns:
            (N, pred_input_dim[0], 1, 1) and (N, pred_input_dim[1], 1, 1).
        """
        rois = boxes_to_rois(boxes.reshape(-1, 1, 4))
        pooled3 = self.prroi_pool3r(self.conv3_1r(features[0]), rois)
        fc3 = self.fc3_1r(pooled3)
        pooled4 = self.prroi_pool4r(self.conv4_1r(features[1]), rois)
        both = torch.cat([fc3, pooled4], dim=1)
        return self.fc34_3r(both), self.fc34_4r(both)

    def test_features(self, features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Test-branch feature maps z before pooling (one per block)."""
        return (self.conv3_2t(self.conv3_1t(features[0])),
                self.conv4_2t(self.conv4_1t(features[1])))

    def predict_iou(self, modulation: Sequence[torch.Tensor],
                    test_features: Sequence[torch.Tensor], proposals: torch.Tensor
                    ) -> torch.Tensor:
        """IoU of each proposal.

        Args:
            modulation: from :meth:`modulation`, one row per test image.
            test_features: from :meth:`test_features`, (N, C, H, W) each.
            proposals: (N, M, 4) x y w h.

        Returns:
            (N, M) predicted IoU.
        """
        n, m = proposals.shape[:2]
        mod3 = modulation[0].reshape(n, -1, 1, 1)
        mod4 = modulation[1].reshape(n, -1, 1, 1)
        rois = boxes_to_rois(proposals)
        pooled3 = self.prroi_pool3t(test_features[0] * mod3, rois)
        pooled4 = self.prroi_pool4t(test_features[1] * mod4, rois)
        fc = torch.cat([self.fc3_rt(pooled3), self.fc4_rt(pooled4)], dim=1)
        return self.iou_predictor(fc).reshape(n, m)

    def forward(self, reference_features: Sequence[torch.Tensor], test_features:
                Sequence[torch.Tensor], reference_boxes: torch.Tensor,
                proposals: torch.Tensor) -> torch.Tensor:
        """Training forward: (N, 4) reference boxes, (N, M, 4) proposals -> (N, M) IoU."""
        modulation = self.modulation(reference_features, reference_boxes)
        return self.predict_iou(modulation, self.test_features(test_features), proposals)


def refine_boxes(iou_net: IoUNet, modulation: Sequence[torch.Tensor],
                 test_features: Sequence[torch.Tensor], boxes: torch.Tensor,
                 steps: int = 5, step_length: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
                 decay: float = 1.0, min_size: float = 1.0
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Box refinement by gradient ascent on the predicted IoU (ATOM Sec. 3.3, DiMP).

    Each step moves every box along the gradient of its predicted IoU, scaled per
    coordinate by ``step_length`` times the box size (x and y steps by w and h, w and h
    steps by w and h), so the step is scale invariant; the gradient is taken with respect
    to (x, y, w, h). A step that lowers a box's IoU is undone for that box and its step
    length halved.

    Args:
        boxes: (N, M, 4) starting boxes.

    Returns:
        (refined boxes (N, M, 4), their predicted IoU (N, M)).
    """
    lengths = boxes.new_tensor(step_length).reshape(1, 1, 4)
    with torch.enable_grad():
        current = boxes.detach().clone().requires_grad_(True)
        iou = iou_net.predict_iou(modulation, test_features, current)
        grad, = torch.autograd.grad(iou.sum(), current)
        current, iou = current.detach(), iou.detach()
        for _ in range(steps):
            sizes = current[..., 2:].repeat(1, 1, 2)
            proposal = current + lengths * sizes * grad
            proposal = torch.cat([proposal[..., :2], proposal[..., 2:].clamp(min=min_size)], -1)
            trial = proposal.detach().requires_grad_(True)
            trial_iou = iou_net.predict_iou(modulation, test_features, trial)
            trial_grad, = torch.autograd.grad(trial_iou.sum(), trial)
            better = (trial_iou.detach() >= iou).unsqueeze(-1)
            current = torch.where(better, trial.detach(), current)
            iou = torch.where(better.squeeze(-1), trial_iou.detach(), iou)
            grad = torch.where(better, trial_grad, grad)
            lengths = torch.where(better, lengths * decay, lengths * 0.5)
    return current, iou
