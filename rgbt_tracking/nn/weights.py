"""Loading network weights from local files (nothing is ever downloaded).

:func:`load_state_dict_file` reads a torch checkpoint safely (``weights_only=True``);
:func:`load_matching` copies a state dict into a module and reports every key that is
missing, unexpected or of the wrong shape; :func:`load_imagenet_backbone` does both for a
torchvision ImageNet ResNet file, dropping the classification head and growing the first
convolution for a 4-channel (RGB-T) trunk.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import torch
from torch import nn

from rgbt_tracking.nn.resnet import ResNet, adapt_state_dict_in_channels

PathLike = Union[str, "os.PathLike[str]"]

#: File names torchvision gives its ImageNet weights (IMAGENET1K_V1 for ResNet-18, V2 for ResNet-50).
TORCHVISION_WEIGHT_FILES: Dict[str, str] = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet50": "resnet50-0676ba61.pth",
}

#: Keys a checkpoint may keep its state dict under (generic, pytracking, other training loops).
STATE_DICT_ENTRIES: Tuple[str, ...] = ("state_dict", "net", "model")

_DEFAULT_SOURCE = ("e.g. ImageNet ResNet weights saved by torchvision (resnet18-f37072fd.pth, "
                   "resnet50-0676ba61.pth) or a tracker checkpoint; nothing is downloaded at run time")

#: Buffers that a state dict may lack without harm (batch-norm counters, unused at inference).
_COUNTER_SUFFIX = "num_batches_tracked"

_LISTED = 5   # names listed per problem in an error message


@dataclass
class LoadReport:
    """What :func:`load_matching` did.

    Attributes:
        loaded: module keys copied from the state dict.
        missing: module keys the state dict lacks (left at their current values).
        unexpected: state-dict keys (after prefix stripping) the module does not have.
        shape_mismatches: (key, expected module shape, shape in the state dict).
        ignored: state-dict keys dropped on purpose (``ignore`` prefixes, other prefixes).
        defaulted: batch-norm ``num_batches_tracked`` counters absent from the state dict.
    """

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shape_mismatches: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    defaulted: List[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every module key was loaded and every state-dict key was used."""
        return not (self.missing or self.unexpected or self.shape_mismatches)

    def problems(self) -> str:
        """One human-readable line per kind of problem (empty string when complete)."""
        lines = []
        if self.missing:
            lines.append(f"{len(self.missing)} missing: {_first(self.missing)}")
        if self.unexpected:
            lines.append(f"{len(self.unexpected)} unexpected: {_first(self.unexpected)}")
        if self.shape_mismatches:
            shown = ", ".join(f"{key} (expected {list(want)}, got {list(got)})"
                              for key, want, got in self.shape_mismatches[:_LISTED])
            more = " ..." if len(self.shape_mismatches) > _LISTED else ""
            lines.append(f"{len(self.shape_mismatches)} shape mismatches: {shown}{more}")
        return "\n".join(lines)


def _first(names: Sequence[str]) -> str:
    more = " ..." if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


def load_state_dict_file(path: PathLike, source: str = _DEFAULT_SOURCE) -> Dict[str, torch.Tensor]:
    """Read a state dict from a torch checkpoint file, on the CPU.

    Args:
        path: file written by ``torch.save``, holding a bare state dict or a dict with a
            "state_dict", "net" or "model" entry that is one.
        source: where such a file comes from, quoted in the FileNotFoundError.

    Returns:
        {parameter or buffer name: tensor}.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it and ``source``).
        ValueError: not a torch checkpoint, or unsafe to unpickle, or no tensor mapping in it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path} ({source})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:   # torch raises pickle, zip and runtime errors alike
        raise ValueError(f"{path} is not a torch checkpoint readable with weights_only=True: "
                         f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                         ) from error
    state = checkpoint
    if isinstance(checkpoint, Mapping):
        for entry in STATE_DICT_ENTRIES:
            if isinstance(checkpoint.get(entry), Mapping):
                state = checkpoint[entry]
                break
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"{path} holds {type(state).__name__}, expected a non-empty state dict "
                         f"(or a dict with one of the entries {list(STATE_DICT_ENTRIES)})")
    not_tensors = [str(key) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"{path}: state dict entries that are not tensors: {_first(not_tensors)}")
    return {str(key): value for key, value in state.items()}


def load_matching(module: nn.Module, state_dict: Mapping[str, torch.Tensor], prefix: str = "",
                  ignore: Sequence[str] = ("fc.",), strict: bool = True) -> LoadReport:
    """Copy the entries of ``state_dict`` whose names and shapes match ``module``'s.

    Args:
        module: target; its ``state_dict()`` keys are the expected names.
        state_dict: source tensors.
        prefix: if non-empty, only keys starting with it are used, with it removed (e.g.
            "feature_extractor." to take a backbone out of a whole tracker's checkpoint);
            other keys are listed as ignored.
        ignore: key prefixes (after stripping ``prefix``) dropped on purpose, e.g. "fc.".
        strict: raise on any missing, unexpected or mis-shaped key (nothing is copied then);
            otherwise copy what matches and return the problems in the report.

    Returns:
        A :class:`LoadReport`. A missing ``num_batches_tracked`` counter is never a problem:
        it is listed under ``defaulted`` and keeps its current value.

    Raises:
        ValueError: strict and the report is not complete; the message lists the first few
            names of each problem, with expected vs got shapes for mismatches.
    """
    report = LoadReport()
    expected = module.state_dict()
    matched: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if prefix:
            if not key.startswith(prefix):
                report.ignored.append(key)
                continue
            key = key[len(prefix):]
        if any(key.startswith(dropped) for dropped in ignore):
            report.ignored.append(key)
        elif key not in expected:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(expected[key].shape):
            report.shape_mismatches.append((key, tuple(expected[key].shape), tuple(value.shape)))
        else:
            matched[key] = value
    for key in expected:
        if key in matched or any(key == bad for bad, _, _ in report.shape_mismatches):
            continue
        (report.defaulted if key.endswith(_COUNTER_SUFFIX) else report.missing).append(key)
    report.loaded = list(matched)
    if strict and not report.complete:
        name = type(module).__name__
        raise ValueError(f"state dict does not fit {name}"
                         f"{f' (prefix {prefix!r})' if prefix else ''}:\n{report.problems()}")
    module.load_state_dict(matched, strict=False)
    return report


def load_imagenet_backbone(resnet: ResNet, path: PathLike) -> LoadReport:
    """Load torchvision ImageNet weights from ``path`` into ``resnet`` (strict).

    The ``fc.*`` classification head is dropped; for a 4-channel trunk the RGB ``conv1``
    filters are grown by a thermal channel (mean of the RGB filters, mfDiMP Sec. 4.1).

    Raises:
        FileNotFoundError: no file at ``path`` (the message names the torchvision file to use).
        ValueError: unreadable file, or weights of another architecture.
    """
    file_name = TORCHVISION_WEIGHT_FILES.get(resnet.arch, "resnet<depth>-<hash>.pth")
    source = (f"ImageNet {resnet.arch} weights saved by torchvision ({file_name}); "
              "nothing is downloaded at run time")
    state = load_state_dict_file(path, source=source)
    state = adapt_state_dict_in_channels(state, resnet.in_channels)
    return load_matching(resnet, state, ignore=("fc.",), strict=True)
