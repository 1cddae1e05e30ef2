"""Build the MMNet network from a preset or a training checkpoint (local files only).

Weight sources, in order of precedence (preset keys):

1. ``checkpoint``: a checkpoint of ``rgbt-track train mmnet``; its stored model
   configuration (channels, crop size, ...) replaces the preset's architecture keys;
2. none (``checkpoint: ""``): an untrained network initialised from ``seed`` (the same
   weights on every call; the global torch generator is left untouched).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import torch

from rgbt_tracking.trackers.mmnet.network import MMNet

#: preset keys that define the network (stored in training checkpoints as ``model``).
MODEL_KEYS = ("channels", "crop_size", "template_cells", "num_classes", "cf_regularization",
              "cf_label_sigma", "fanet", "adjust_gain", "adjust_bias")


def model_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The architecture part of a preset (see :data:`MODEL_KEYS`)."""
    return {key: params[key] for key in MODEL_KEYS if key in params}


def network_from_config(config: Mapping[str, Any]) -> MMNet:
    """A freshly initialised :class:`MMNet` from an architecture mapping.

    Raises:
        ValueError: an unknown key (named) or an impossible geometry.
    """
    unknown = sorted(set(config) - set(MODEL_KEYS))
    if unknown:
        raise ValueError(f"mmnet model configuration: unknown keys {', '.join(unknown)}; "
                         f"known: {', '.join(MODEL_KEYS)}")
    values = dict(config)
    if "channels" in values:
        values["channels"] = tuple(int(c) for c in values["channels"])
    return MMNet(**values)


def seeded_network(config: Mapping[str, Any], seed: int) -> MMNet:
    """:func:`network_from_config` with weights drawn from ``seed`` (global RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return network_from_config(config)


def build_network(params: Mapping[str, Any]) -> Tuple[MMNet, str]:
    """The network described by ``params`` with its weights.

    Returns:
        (network in eval mode on the CPU without gradients, a one-line description of the
        weights' origin).

    Raises:
        FileNotFoundError: the checkpoint named in the preset does not exist.
        ValueError: a checkpoint of another task, or weights that do not fit.
    """
    checkpoint = str(params.get("checkpoint") or "")
    if checkpoint:
        from rgbt_tracking.train.checkpoint import load_checkpoint, load_model_state

        data = load_checkpoint(checkpoint, expected_task="mmnet")
        net = network_from_config(data["config"]["model"])
        load_model_state(net, data["model"], checkpoint)
        origin = f"checkpoint {checkpoint} (epoch {data.get('epoch')})"
    else:
        seed = int(params.get("seed", 0))
        net = seeded_network(model_config(params), seed)
        origin = f"untrained (initialised from seed {seed}; no checkpoint given)"
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net, origin
