"""Build the mfDiMP network from the preset and load its weights from local files.

Weight sources, in order of precedence (preset keys; nothing is downloaded):

1. ``checkpoint``: a training checkpoint of ``rgbt-track train mfdimp``; its stored model
   configuration (fusion, backbone, sizes) replaces the preset's;
2. ``pytracking_weights``: ``dimp18.pth`` / ``dimp50.pth`` of the public pytracking
   release, for the single-modality (``fusion: none``) and response-level variants;
3. ``imagenet_weights``: torchvision ImageNet weights of the backbone
   (``resnet18-f37072fd.pth``, ``resnet50-0676ba61.pth``); the heads stay at their
   initialisation (useful as the start of training, not for tracking);
4. none: every weight at its initialisation (an untrained network; tests, baselines).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import torch

from rgbt_tracking.nn.weights import load_imagenet_backbone
from rgbt_tracking.trackers.mfdimp.fusion_spec import parse_fusion
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet
from rgbt_tracking.trackers.mfdimp.pytracking_weights import (
    load_pytracking_state_dict,
    map_pytracking_state_dict,
    pytracking_backbone_name,
)

LOG = logging.getLogger(__name__)

#: preset keys that define the network's architecture (stored in training checkpoints).
MODEL_KEYS = ("fusion", "modality", "classifier_input", "iou_input", "backbone", "network",
              "iou_net")


def model_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The architecture part of a preset (see :data:`MODEL_KEYS`)."""
    return {key: params[key] for key in MODEL_KEYS if key in params}


def network_from_config(config: Mapping[str, Any]) -> MfDiMPNet:
    """A freshly initialised :class:`MfDiMPNet` from an architecture mapping."""
    return MfDiMPNet(parse_fusion(config), backbone=str(config.get("backbone", "resnet18")),
                     classifier=dict(config.get("network", {})),
                     iou_net=dict(config.get("iou_net", {})))


def build_network(params: Mapping[str, Any]) -> Tuple[MfDiMPNet, str]:
    """The network described by ``params`` with its weights.

    Returns:
        (network in eval mode on the CPU, a one-line description of the weights' origin).

    Raises:
        FileNotFoundError: a weights file named in the preset does not exist.
        ValueError: a file that is not the expected kind of checkpoint, or weights that do
            not fit the configured architecture (names the first mismatching keys).
    """
    checkpoint = str(params.get("checkpoint") or "")
    pytracking = str(params.get("pytracking_weights") or "")
    imagenet = str(params.get("imagenet_weights") or "")
    if checkpoint:
        from rgbt_tracking.train.checkpoint import load_checkpoint

        data = load_checkpoint(checkpoint, expected_task="mfdimp")
        net = network_from_config(data["config"]["model"])
        _load(net, data["model"], checkpoint, allow_missing=())
        origin = f"checkpoint {checkpoint} (epoch {data.get('epoch')})"
    elif pytracking:
        state = load_pytracking_state_dict(pytracking)
        config = dict(model_config(params))
        config["backbone"] = pytracking_backbone_name(state)
        net = network_from_config(config)
        if net.fusion.level not in ("none", "response"):
            raise ValueError(f"pytracking_weights fit the single-modality and response-level "
                             f"variants only; fusion is {net.fusion.level!r}")
        feature_dim = state["classifier.filter_initializer.filter_conv.weight"].shape[0]
        if "network" not in config or config["network"].get("feature_dim") != feature_dim:
            config.setdefault("network", {})
            config["network"] = {**config["network"], "feature_dim": int(feature_dim)}
            net = network_from_config(config)
        mapped = map_pytracking_state_dict(state, net.fusion.backbones,
                                           net.fusion.classifier_inputs)
        _load(net, mapped, pytracking, allow_missing=(".layer4.",))
        origin = f"pytracking DiMP weights {pytracking} ({config['backbone']})"
    else:
        net = network_from_config(model_config(params))
        if imagenet:
            for backbone in net.backbones.values():
                load_imagenet_backbone(backbone, imagenet)
            origin = f"ImageNet backbone {imagenet}; heads untrained"
        else:
            origin = "untrained (no checkpoint, pytracking_weights or imagenet_weights given)"
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net, origin


def _load(net: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str,
          allow_missing: Tuple[str, ...]) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state and not any(a in k for a in allow_missing)]
    unexpected = [k for k in state if k not in own]
    wrong = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in state
             if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append("shape mismatch " + ", ".join(f"{k}: file {a} vs model {b}"
                                                       for k, a, b in wrong[:3]))
        raise ValueError(f"{source}: weights do not fit the configured network: "
                         + "; ".join(parts))
    net.load_state_dict({k: v for k, v in state.items()}, strict=False)
