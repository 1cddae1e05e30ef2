"""The mfDiMP network: backbones per modality, fused features, classifier(s), IoU-Net.

Wiring follows :class:`~rgbt_tracking.trackers.mfdimp.fusion_spec.FusionSpec` (Table 1 of
the mfDiMP paper). DiMP's "block 3" and "block 4" are ResNet ``layer2`` (stride 8) and
``layer3`` (stride 16): the IoU-Net reads both, the classifier block 4 only (mfDiMP Fig. 2).

Images enter as float tensors on the 0-255 scale: RGB (N, 3, H, W), thermal (N, 1, H, W).
Each backbone normalises its own input (ImageNet statistics; thermal replicated to three
channels, as an ImageNet-pretrained backbone expects; the 4-channel pixel-level input is
RGB normalised plus thermal normalised with the mean of the three channel statistics).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from rgbt_tracking.nn.resnet import IMAGENET_MEAN, IMAGENET_STD, build_resnet
from rgbt_tracking.trackers.mfdimp.classifier import TargetClassifier
from rgbt_tracking.trackers.mfdimp.fusion_spec import FusionSpec
from rgbt_tracking.trackers.mfdimp.iou_net import IoUNet

BLOCK3, BLOCK4 = "layer2", "layer3"
Features = Dict[str, torch.Tensor]          # layer name -> (N, C, H, W)


def normalise_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) 0-255 -> ImageNet-normalised."""
    mean = rgb.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) * 255.0
    std = rgb.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1) * 255.0
    return (rgb - mean) / std


def normalise_thermal(thermal: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """(N, 1, H, W) 0-255 -> (N, channels, H, W): replicated to 3 channels with the RGB
    statistics, or one channel with the mean statistics (``channels=1``)."""
    if channels == 3:
        return normalise_rgb(thermal.expand(-1, 3, -1, -1))
    mean = float(sum(IMAGENET_MEAN) / 3) * 255.0
    std = float(sum(IMAGENET_STD) / 3) * 255.0
    return (thermal - mean) / std


class MfDiMPNet(nn.Module):
    """DiMP with RGB-T fusion.

    Args:
        fusion: the wiring (see :func:`~rgbt_tracking.trackers.mfdimp.fusion_spec.parse_fusion`).
        backbone: "resnet18" or "resnet50".
        classifier: keyword arguments of :class:`TargetClassifier` other than input_dim
            (feature_dim, filter_size, num_iter, init_step_length, ...).
        iou_net: keyword arguments of :class:`IoUNet` other than input_dim.
    """

    def __init__(self, fusion: FusionSpec, backbone: str = "resnet18",
                 classifier: Optional[Mapping[str, Any]] = None,
                 iou_net: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.fusion = fusion
        self.backbone_name = backbone
        self.backbones = nn.ModuleDict({
            name: build_resnet(backbone, in_channels=4 if name == "rgbt" else 3,
                               output_layers=(BLOCK3, BLOCK4))
            for name in fusion.backbones})
        some = next(iter(self.backbones.values()))
        dims = (some.out_channels[BLOCK3], some.out_channels[BLOCK4])
        self.feature_stride = float(some.strides[BLOCK4])
        clf_args = dict(classifier or {})
        self.classifiers = nn.ModuleDict({
            name: TargetClassifier(dims[1] * self._width(name), feature_stride=self.feature_stride,
                                   **clf_args)
            for name in fusion.classifier_inputs})
        width = self._width(fusion.iou_input)
        self.iou_net = IoUNet(input_dim=(dims[0] * width, dims[1] * width), **dict(iou_net or {}))

    @staticmethod
    def _width(name: str) -> int:
        return 2 if name == "fused" else 1

    # -- features ---------------------------------------------------------------------
    def extract_backbone_features(self, rgb: Optional[torch.Tensor],
                                  thermal: Optional[torch.Tensor]) -> Dict[str, Features]:
        """Backbone features of each modality present.

        Args:
            rgb: (N, 3, H, W) 0-255 or None (missing camera).
            thermal: (N, 1, H, W) 0-255 or None.

        Returns:
            backbone name ("rgb", "thermal" or "rgbt") -> {"layer2": ..., "layer3": ...};
            a backbone whose input is missing is left out (pixel level: a missing
            modality's channels are filled with its normalised zero level, i.e. 0).
        """
        out: Dict[str, Features] = {}
        for name, net in self.backbones.items():
            if name == "rgb" and rgb is not None:
                out[name] = net(normalise_rgb(rgb))
            elif name == "thermal" and thermal is not None:
                out[name] = net(normalise_thermal(thermal))
            elif name == "rgbt" and (rgb is not None or thermal is not None):
                ref = rgb if rgb is not None else thermal
                n, _, h, w = ref.shape
                rgb_part = normalise_rgb(rgb) if rgb is not None else ref.new_zeros(n, 3, h, w)
                t_part = (normalise_thermal(thermal, channels=1) if thermal is not None
                          else ref.new_zeros(n, 1, h, w))
                out[name] = net(torch.cat([rgb_part, t_part], dim=1))
        return out

    def select(self, features: Mapping[str, Features], which: str, layer: str
               ) -> Optional[torch.Tensor]:
        """Features one component reads: a single backbone's, or the concatenation
        x^F = [x^V | x^T] (mfDiMP Sec. 4.1) with zeros for a missing modality.

        Returns None when nothing it needs is present.
        """
        if which != "fused":
            return features[which][layer] if which in features else None
        parts = [features[m][layer] if m in features else None for m in ("rgb", "thermal")]
        present = [p for p in parts if p is not None]
        if not present:
            return None
        filled = [p if p is not None else torch.zeros_like(present[0]) for p in parts]
        return torch.cat(filled, dim=1)

    def classification_features(self, features: Mapping[str, Features]
                                ) -> Dict[str, torch.Tensor]:
        """Classifier branch name -> (N, feature_dim, H, W), for the branches with input."""
        out = {}
        for name, classifier in self.classifiers.items():
            selected = self.select(features, name, BLOCK4)
            if selected is not None:
                out[name] = classifier.extract_features(selected)
        return out

    def iou_features(self, features: Mapping[str, Features]
                     ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(block3, block4) features for the IoU-Net, or None if its input is missing."""
        block3 = self.select(features, self.fusion.iou_input, BLOCK3)
        block4 = self.select(features, self.fusion.iou_input, BLOCK4)
        if block3 is None or block4 is None:
            return None
        return block3, block4

    # -- training forward -------------------------------------------------------------
    def forward(self, train_rgb: Optional[torch.Tensor], train_thermal: Optional[torch.Tensor],
                test_rgb: Optional[torch.Tensor], test_thermal: Optional[torch.Tensor],
                train_boxes: torch.Tensor, test_proposals: torch.Tensor,
                num_iter: Optional[int] = None) -> Dict[str, Any]:
        """DiMP's training forward on (M_train, M_test).

        Args:
            train_rgb, test_rgb: (Nimg, Nseq, 3, H, W) 0-255, or None.
            train_thermal, test_thermal: (Nimg, Nseq, 1, H, W) 0-255, or None.
            train_boxes: (Ntrain, Nseq, 4) x y w h in patch pixels.
            test_proposals: (Ntest, Nseq, M, 4) IoU-Net proposals on the test images.

        Returns:
            ``scores``: list over optimiser iterates of (Ntest, Nseq, H', W') test scores
            (response level: the sum over branches, s^F = s^V + s^T);
            ``iou``: (Ntest, Nseq, M) predicted IoU of the proposals.
        """
        n_train, n_seq = train_boxes.shape[:2]
        n_test = test_proposals.shape[0]

        def flat(x: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if x is None else x.reshape(-1, *x.shape[2:])

        train_feat = self.extract_backbone_features(flat(train_rgb), flat(train_thermal))
        test_feat = self.extract_backbone_features(flat(test_rgb), flat(test_thermal))
        train_clf = self.classification_features(train_feat)
        test_clf = self.classification_features(test_feat)
        summed: Optional[List[torch.Tensor]] = None
        for name, classifier in self.classifiers.items():
            x_train = train_clf[name].reshape(n_train, n_seq, *train_clf[name].shape[1:])
            x_test = test_clf[name].reshape(n_test, n_seq, *test_clf[name].shape[1:])
            _, iterates = classifier.predict_filter(x_train, train_boxes, num_iter)
            branch = [classifier.scores(x_test, f) for f in iterates]
            summed = branch if summed is None else [a + b for a, b in zip(summed, branch)]
        ref = self.iou_features(train_feat)
        test = self.iou_features(test_feat)
        assert ref is not None and test is not None, "IoU-Net input missing in training"
        # Reference: the first training image of each sequence (DiMP).
        ref0 = tuple(f.reshape(n_train, n_seq, *f.shape[1:])[0] for f in ref)
        modulation = self.iou_net.modulation(ref0, train_boxes[0])
        modulation = tuple(m.unsqueeze(0).expand(n_test, *m.shape).reshape(-1, *m.shape[1:])
                           for m in modulation)
        iou = self.iou_net.predict_iou(modulation, self.iou_net.test_features(test),
                                       test_proposals.reshape(n_test * n_seq, -1, 4))
        return {"scores": summed, "iou": iou.reshape(n_test, n_seq, -1)}
