"""The M5L / CMI network from a tracker preset, a training configuration or a checkpoint.

Preset / ``model`` keys: the network's constructor arguments (:data:`NETWORK_KEYS`) and the
crop geometry shared by training and tracking (:data:`GEOMETRY_KEYS`: ``target_px``,
``roi_padding``). Weight sources, in order of precedence:

1. ``checkpoint``: a checkpoint of ``rgbt-track train m5l|cmi``; its stored model section
   replaces the preset's network and geometry keys (fc6 branches are kept in the network
   but the tracker learns a fresh branch per sequence, as MDNet);
2. ``vggm_weights``: a local VGG-M conv1-3 file for both streams
   (:func:`~rgbt_tracking.nn.vgg_m.load_vgg_m_weights`; the thermal conv1 filters are
   summed over RGB), the rest initialised from ``seed``;
3. neither: every weight initialised from ``seed`` (the same network on every call; the
   global torch generator is left untouched).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import torch

from rgbt_tracking.nn.vgg_m import load_vgg_m_weights
from rgbt_tracking.trackers.mdnet_rgbt.network import MDNetRGBT

NETWORK_KEYS = ("fusion", "interaction", "roi_size", "roi_reduction", "roi_sampling_ratio",
                "fc_channels", "dropout",
                "embedding_dim", "attention_kernel", "key_channels")
GEOMETRY_KEYS = ("target_px", "roi_padding")
MODEL_KEYS = NETWORK_KEYS + GEOMETRY_KEYS


def model_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The network and geometry keys of a preset (see :data:`MODEL_KEYS`)."""
    return {key: params[key] for key in MODEL_KEYS if key in params}


def network_from_config(config: Mapping[str, Any], num_domains: int = 1) -> MDNetRGBT:
    """A freshly initialised network from a model mapping (geometry keys ignored here).

    Raises:
        ValueError: an unknown key (named).
    """
    unknown = sorted(set(config) - set(MODEL_KEYS))
    if unknown:
        raise ValueError(f"mdnet_rgbt model configuration: unknown keys {', '.join(unknown)}; "
                         f"known: {', '.join(MODEL_KEYS)}")
    args = {key: config[key] for key in NETWORK_KEYS if key in config}
    if args.get("key_channels") in (0, None):
        args["key_channels"] = None
    return MDNetRGBT(num_domains=num_domains, **args)


def seeded_network(config: Mapping[str, Any], seed: int, num_domains: int = 1,
                   vggm_weights: str = "") -> MDNetRGBT:
    """:func:`network_from_config` with weights from ``seed`` (global RNG restored) and,
    when ``vggm_weights`` names a file, VGG-M conv1-3 weights in both streams."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = network_from_config(config, num_domains)
    if vggm_weights:
        load_vgg_m_weights(net.rgb_backbone, vggm_weights)
        load_vgg_m_weights(net.thermal_backbone, vggm_weights)
    return net


def build_network(params: Mapping[str, Any], task: str) -> Tuple[MDNetRGBT, Dict[str, Any], str]:
    """The network a tracker preset describes.

    Args:
        params: the tracker preset (``checkpoint``, ``vggm_weights``, ``seed`` and the model
            keys).
        task: the training task whose checkpoints fit ("m5l" or "cmi").

    Returns:
        (network in eval mode without gradients, the model mapping in force (preset or
        checkpoint), a one-line description of the weights' origin).

    Raises:
        FileNotFoundError: a named checkpoint or VGG-M file does not exist.
        ValueError: a checkpoint of another task, or weights that do not fit.
    """
    checkpoint = str(params.get("checkpoint") or "")
    if checkpoint:
        from rgbt_tracking.train.checkpoint import load_checkpoint, load_model_state

        data = load_checkpoint(checkpoint, expected_task=task)
        model = dict(data["config"]["model"])
        branches = sum(1 for key in data["model"] if key.startswith("branches.")
                       and key.endswith(".1.weight"))
        net = network_from_config(model, max(branches, 1))
        load_model_state(net, data["model"], checkpoint)
        origin = f"checkpoint {checkpoint} (epoch {data.get('epoch')})"
    else:
        model = model_config(params)
        seed = int(params.get("seed", 0))
        vggm = str(params.get("vggm_weights") or "")
        net = seeded_network(model, seed, 1, vggm)
        origin = (f"VGG-M conv1-3 from {vggm}, the rest from seed {seed}" if vggm else
                  f"untrained (initialised from seed {seed}; no checkpoint given)")
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net, model, origin
