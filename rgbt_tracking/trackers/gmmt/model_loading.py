"""Build the ``gmmt`` network from a preset and load its weights from local files.

Weight sources (preset keys; nothing is downloaded):

1. ``checkpoint``: a checkpoint of ``rgbt-track train gmmt``: its ``model`` section
   (architecture, ``fusion_model``, ``generative``) replaces the preset's, and the
   inference network's weights are its ``net.*`` entries (the stage-one fusion block kept
   in the training model is dropped). The preset's ``generative.sampling_steps`` still
   applies: the number of DDIM steps is an inference choice;
2. none: an untrained network (tests, speed measurements).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from rgbt_tracking.nn.weights import load_matching
from rgbt_tracking.trackers.gmmt.network import GMMTNet
from rgbt_tracking.trackers.siam_rgbt.model_loading import (
    MODEL_KEYS as SIAM_MODEL_KEYS,
    architecture_arguments,
    freeze_for_inference,
    read_task_checkpoint,
)

#: the ``model`` section of GMMT: the baseline's keys plus the generative block's.
MODEL_KEYS = SIAM_MODEL_KEYS + ("fusion_model", "generative")
PREFIX = "net."


def model_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``model`` part of a preset (see :data:`MODEL_KEYS`)."""
    return {key: params[key] for key in MODEL_KEYS if key in params}


def network_from_config(config: Mapping[str, Any]) -> GMMTNet:
    """A freshly initialised :class:`GMMTNet` from a ``model`` mapping."""
    kind = str(config.get("fusion_model", "diffusion"))
    return GMMTNet(kind, dict(config.get("generative", {})), **architecture_arguments(config))


def set_sampling_steps(net: GMMTNet, steps: int) -> None:
    """DDIM steps of a diffusion block (other kinds have none to set)."""
    if net.fusion_model == "diffusion":
        net.generative.sampling_steps = int(steps)


def build_network(params: Mapping[str, Any]) -> Tuple[GMMTNet, str, Dict[str, Any]]:
    """The network of a preset with its weights.

    Returns:
        (network in eval mode without gradients, origin of the weights, ``model`` config).

    Raises:
        FileNotFoundError: the checkpoint does not exist (named).
        ValueError: a checkpoint of another task, or weights that do not fit.
    """
    checkpoint = str(params.get("checkpoint") or "")
    if checkpoint:
        data = read_task_checkpoint(checkpoint, "gmmt")
        config = dict(data["config"]["model"])
        net = network_from_config(config)
        load_matching(net, data["model"], prefix=PREFIX, ignore=())
        origin = f"checkpoint {checkpoint} (epoch {data.get('epoch')})"
    else:
        config = model_config(params)
        net = network_from_config(config)
        origin = "untrained (no checkpoint given)"
    steps = params.get("generative", {}).get("sampling_steps")
    if steps is not None:
        set_sampling_steps(net, int(steps))
    return freeze_for_inference(net), origin, config
