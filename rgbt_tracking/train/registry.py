"""Training tasks by name, and their configurations.

A task is registered as ``name -> "module:Class"`` and imported only when asked for, so
listing tasks never imports a model. ``task_class`` also accepts a ``"module:Class"`` path
directly (tasks outside this package, test tasks).

Configurations live in ``config/training/<name>.yaml`` (looked up like tracker presets,
:func:`rgbt_tracking.core.config.find_config_file`) and are changed from the command line
with ``section.key=value`` overrides whose values are parsed as YAML.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Type

import yaml

from rgbt_tracking.core.config import find_config_file, load_yaml, merge_overrides
from rgbt_tracking.train.task import TrainingTask

# name -> "module:Class"; each learned model adds its line when its task lands.
_TASKS: Dict[str, str] = {
    "cmi": "rgbt_tracking.trackers.cmi.training:CMITraining",
    "gmmt": "rgbt_tracking.trackers.gmmt.training:GMMTTraining",
    "m5l": "rgbt_tracking.trackers.m5l.training:M5LTraining",
    "mfdimp": "rgbt_tracking.trackers.mfdimp.training:MfDiMPTraining",
    "mmnet": "rgbt_tracking.trackers.mmnet.training:MMNetTraining",
    "siam_rgbt": "rgbt_tracking.trackers.siam_rgbt.training:SiamRGBTTraining",
    "pix2pix": "rgbt_tracking.train.pix2pix:Pix2PixTraining",
}

# PyYAML follows YAML 1.1, which reads "1e-4" (no dot) as a string; overrides mean a number.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def register_task(name: str, import_path: str) -> None:
    """Register a task class under ``name`` (``import_path`` is ``"module:Class"``)."""
    if import_path.count(":") != 1:
        raise ValueError(f"import path must be 'module:Class', got {import_path!r}")
    _TASKS[name] = import_path


def registered_tasks() -> List[str]:
    """Sorted names of every registered task."""
    return sorted(_TASKS)


def task_class(name_or_import_path: str) -> Type[TrainingTask]:
    """The TrainingTask subclass registered as ``name``, or at ``"module:Class"``.

    Raises:
        ValueError: unknown name (lists the known ones), a module or class that cannot be
            imported (with the import error), or a class that is not a TrainingTask.
    """
    if ":" in name_or_import_path:
        import_path = name_or_import_path
    elif name_or_import_path in _TASKS:
        import_path = _TASKS[name_or_import_path]
    else:
        raise ValueError(f"unknown training task {name_or_import_path!r}; known: "
                         f"{', '.join(registered_tasks())} (or give 'module:Class')")
    module_name, _, class_name = import_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"training task {name_or_import_path!r}: cannot import module "
                         f"{module_name!r} ({exc})") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"training task {name_or_import_path!r}: module {module_name!r} has "
                         f"no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, TrainingTask)):
        raise ValueError(f"training task {name_or_import_path!r}: {import_path} is not a "
                         "TrainingTask subclass")
    return cls


def parse_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``["trainer.epochs=3", "optim.lr=1e-4"]`` as a nested mapping of YAML values.

    Numbers in exponent notation without a dot (``1e-4``) are floats, not the strings
    YAML 1.1 makes of them.

    Raises:
        ValueError: an item without ``=`` or with an empty key part.
    """
    nested: Dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ValueError(f"override {item!r} is not 'section.key=value'")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"override {item!r}: value is not valid YAML ({exc})") from None
        if isinstance(value, str) and _EXPONENT_NUMBER.match(text.strip()):
            value = float(value)
        target = nested
        for part in parts[:-1]:
            existing = target.setdefault(part, {})
            if not isinstance(existing, dict):
                raise ValueError(f"override {item!r} conflicts with an earlier "
                                 f"override of {part!r}")
            target = existing
        target[parts[-1]] = value
    return nested


def _exponent_strings_as_floats(value: Any) -> Any:
    """``"1e-4"`` strings (YAML 1.1 reads ``lr: 1e-4`` so) as floats, recursively."""
    if isinstance(value, dict):
        return {key: _exponent_strings_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exponent_strings_as_floats(item) for item in value]
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def training_config_file(name: str) -> Path:
    """``config/training/<name>.yaml`` of a registered task (FileNotFoundError if none)."""
    return find_config_file(f"training/{name}.yaml")


def load_training_config(name: str, config_file: Optional[Path | str] = None,
                         overrides: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The merged training configuration of task ``name``.

    Args:
        name: a registered task name (its preset is ``config/training/<name>.yaml``) or a
            ``"module:Class"`` path (then ``config_file`` is required).
        config_file: a YAML file used instead of the preset.
        overrides: ``"section.key=value"`` strings; values parsed as YAML; a key the
            configuration does not have is an error (as for tracker presets).

    Values such as ``1e-4`` (which YAML 1.1 reads as strings) are floats, in the file and
    in the overrides.

    Raises:
        FileNotFoundError: no preset / no such file (named).
        ValueError: invalid YAML, an unknown override key, or an import path without
            ``config_file``.
    """
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"training configuration {path} does not exist")
    elif ":" in name:
        raise ValueError(f"task {name!r} is given as an import path: give its configuration "
                         "file too (--config FILE)")
    else:
        path = training_config_file(name)
    config = _exponent_strings_as_floats(load_yaml(path))
    return merge_overrides(config, parse_overrides(overrides or []), source=str(path))
