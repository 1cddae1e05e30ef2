"""Load DiMP checkpoints of the public pytracking release (``dimp18.pth``, ``dimp50.pth``).

pytracking saves ``{"net": state_dict, "constructor": ..., "net_info": ...}`` with the
network's parameters named ``feature_extractor.*`` (the ResNet, torchvision names),
``classifier.feature_extractor.*``, ``classifier.filter_initializer.*``,
``classifier.filter_optimizer.*`` and ``bb_regressor.*`` (the IoU-Net). Our modules use the
same names below their own prefixes, so mapping is a prefix rename per component:

===============================  ==================================================
pytracking                        :class:`MfDiMPNet`
===============================  ==================================================
``feature_extractor.``            ``backbones.<rgb|thermal>.``
``classifier.``                   ``classifiers.<rgb|thermal>.``
``bb_regressor.``                 ``iou_net.``
===============================  ==================================================

One DiMP checkpoint fills every single-modality branch, which gives DiMP on RGB, DiMP on
thermal, and the training-free response-level fusion of two DiMPs (scores summed).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, Iterable

import torch

PYTRACKING_PREFIXES = {"backbone": "feature_extractor.", "classifier": "classifier.",
                       "iou_net": "bb_regressor."}


class _ForeignObject:
    """Holds the arguments of a pytracking object pickled next to the weights (its class is
    not imported and none of its code runs; only the tensors are used)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _WeightsOnlyUnpickler(pickle.Unpickler):
    """Resolves torch/numpy/builtin containers; any other class becomes an inert
    :class:`_ForeignObject`, so a pytracking checkpoint loads without pytracking installed
    and no foreign code runs."""

    ALLOWED = ("torch", "collections", "numpy", "builtins", "_codecs")

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in self.ALLOWED:
            return super().find_class(module, name)
        return _ForeignObject


class _PickleModule:
    Unpickler = _WeightsOnlyUnpickler
    load = staticmethod(pickle.load)


def load_pytracking_state_dict(path: Path | str) -> Dict[str, torch.Tensor]:
    """The ``net`` state dict of a pytracking checkpoint.

    Raises:
        FileNotFoundError: naming the file and where it comes from.
        ValueError: the file is not a pytracking DiMP checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"DiMP weights {path} not found: download dimp18.pth / dimp50.pth of the "
            "pytracking release yourself and give their local path (nothing is downloaded "
            "at run time)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pytracking pickles its constructor object next to the weights
        try:
            data = torch.load(path, map_location="cpu", weights_only=False,
                              pickle_module=_PickleModule)
        except Exception as exc:
            raise ValueError(f"{path}: not a torch checkpoint ({exc})") from exc
    state = data.get("net", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not any(
            k.startswith(PYTRACKING_PREFIXES["classifier"]) for k in state):
        raise ValueError(f"{path}: no 'net' state dict with classifier.* parameters; is it "
                         "a pytracking DiMP checkpoint?")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def pytracking_backbone_name(state: Dict[str, torch.Tensor]) -> str:
    """"resnet50" when the backbone has bottleneck blocks (a ``conv3``), else "resnet18"."""
    return "resnet50" if "feature_extractor.layer1.0.conv3.weight" in state else "resnet18"


def map_pytracking_state_dict(state: Dict[str, torch.Tensor], backbones: Iterable[str],
                              classifiers: Iterable[str]) -> Dict[str, torch.Tensor]:
    """Rename a pytracking DiMP state dict to :class:`MfDiMPNet` names.

    Args:
        backbones: backbone keys of the target network ("rgb", "thermal"); each gets a copy.
        classifiers: classifier branch keys ("rgb", "thermal"); each gets a copy.

    Returns:
        the renamed state dict; keys of other pytracking components are dropped; the
        backbone's ``fc`` and unused layers are kept only if the target has them (the
        caller loads with a report).
    """
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(PYTRACKING_PREFIXES["backbone"]):
            rest = key[len(PYTRACKING_PREFIXES["backbone"]):]
            if rest.startswith("fc."):
                continue
            for name in backbones:
                out[f"backbones.{name}.{rest}"] = value
        elif key.startswith(PYTRACKING_PREFIXES["classifier"]):
            rest = key[len(PYTRACKING_PREFIXES["classifier"]):]
            for name in classifiers:
                out[f"classifiers.{name}.{rest}"] = value
        elif key.startswith(PYTRACKING_PREFIXES["iou_net"]):
            out["iou_net." + key[len(PYTRACKING_PREFIXES["iou_net"]):]] = value
    return out
