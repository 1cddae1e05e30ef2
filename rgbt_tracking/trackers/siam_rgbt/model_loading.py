"""Build the ``siam_rgbt`` network from a preset and load its weights from local files.

Weight sources, in order of precedence (preset keys; nothing is downloaded):

1. ``checkpoint``: a checkpoint of ``rgbt-track train siam_rgbt``; its stored ``model``
   section (architecture and patch sizes) replaces the preset's;
2. ``imagenet_weights``: torchvision ImageNet weights of the backbone
   (``resnet18-f37072fd.pth`` / ``resnet50-0676ba61.pth``), loaded into both backbones;
   necks, fusion and head stay at their initialisation (the start of training);
3. none: an untrained network (tests, the "untrained" baseline of the benchmarks).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import torch

from rgbt_tracking.nn.weights import load_imagenet_backbone, load_matching
from rgbt_tracking.trackers.siam_rgbt.network import SiameseRGBTBase, SiamRGBTNet

#: keys of the network's constructor.
ARCHITECTURE_KEYS = ("backbone", "backbone_layer", "neck_channels", "head_channels",
                     "template_feature_size")
#: keys stored in a training configuration's ``model`` section and in checkpoints.
MODEL_KEYS = ARCHITECTURE_KEYS + ("template_size", "search_size")


def model_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``model`` part of a preset (see :data:`MODEL_KEYS`)."""
    return {key: params[key] for key in MODEL_KEYS if key in params}


def architecture_arguments(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments of :class:`SiameseRGBTBase` from a ``model`` mapping."""
    return {key: config[key] for key in ARCHITECTURE_KEYS if key in config}


def network_from_config(config: Mapping[str, Any]) -> SiamRGBTNet:
    """A freshly initialised :class:`SiamRGBTNet` from a ``model`` mapping."""
    return SiamRGBTNet(**architecture_arguments(config))


def load_imagenet_backbones(net: SiameseRGBTBase, path: str) -> None:
    """ImageNet weights into both backbones (FileNotFoundError naming a missing file)."""
    load_imagenet_backbone(net.backbone_rgb, path)
    load_imagenet_backbone(net.backbone_thermal, path)


def read_task_checkpoint(path: str, task: str) -> Dict[str, Any]:
    """A training checkpoint of ``task`` (FileNotFoundError / ValueError naming ``path``)."""
    from rgbt_tracking.train.checkpoint import load_checkpoint

    return load_checkpoint(path, expected_task=task)


def freeze_for_inference(net: torch.nn.Module) -> torch.nn.Module:
    """Eval mode, no parameter requiring gradients."""
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


def build_network(params: Mapping[str, Any]) -> Tuple[SiamRGBTNet, str, Dict[str, Any]]:
    """The network of a preset with its weights.

    Returns:
        (network in eval mode without gradients, a one-line origin of the weights, the
        ``model`` configuration in force: the checkpoint's, else the preset's).

    Raises:
        FileNotFoundError: a weights file named in the preset does not exist.
        ValueError: a checkpoint of another task, or weights that do not fit.
    """
    checkpoint = str(params.get("checkpoint") or "")
    imagenet = str(params.get("imagenet_weights") or "")
    if checkpoint:
        data = read_task_checkpoint(checkpoint, "siam_rgbt")
        config = dict(data["config"]["model"])
        net = network_from_config(config)
        load_matching(net, data["model"], ignore=())
        origin = f"checkpoint {checkpoint} (epoch {data.get('epoch')})"
    else:
        config = model_config(params)
        net = network_from_config(config)
        if imagenet:
            load_imagenet_backbones(net, imagenet)
            origin = f"ImageNet backbones {imagenet}; neck, fusion and head untrained"
        else:
            origin = "untrained (no checkpoint or imagenet_weights given)"
    return freeze_for_inference(net), origin, config
