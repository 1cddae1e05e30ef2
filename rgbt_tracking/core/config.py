"""Tracker presets: ``config/trackers/<name>.yaml`` merged with keyword overrides.

Presets are looked up, in order, in ``$RGBT_TRACKING_CONFIG_DIR/trackers``, the source
tree's ``config/trackers`` (editable installs, tests) and the installed share directory
``<prefix>/share/rgbt_tracking/config/trackers`` (colcon / ament installs).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping

import yaml

PACKAGE = "rgbt_tracking"


def config_dirs() -> List[Path]:
    """Candidate folders holding ``tracker.yaml`` and ``trackers/``, most specific first."""
    dirs: List[Path] = []
    env = os.environ.get("RGBT_TRACKING_CONFIG_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parents[2] / "config")
    for prefix in [sys.prefix] + os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / PACKAGE / "config")
    return dirs


def find_config_file(relative: str) -> Path:
    """First existing ``<config dir>/<relative>``.

    Raises:
        FileNotFoundError: naming every folder searched.
    """
    searched = []
    for folder in config_dirs():
        candidate = folder / relative
        if candidate.is_file():
            return candidate
        searched.append(str(folder))
    raise FileNotFoundError(f"config file '{relative}' not found; searched: {', '.join(searched)}")


def parse_yaml_mapping(text: str, source: str) -> Dict[str, Any]:
    """A YAML mapping from text (empty text: {}).

    Raises:
        ValueError: invalid YAML or not a mapping; the message starts with ``source``.
    """
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a YAML mapping, got {type(data).__name__}: "
                         f"{text!r}")
    return data


def load_yaml(path: Path | str) -> Dict[str, Any]:
    """Read a YAML mapping; a clear error names the file when it is not a mapping."""
    path = Path(path)
    return parse_yaml_mapping(path.read_text(encoding="utf-8"), str(path))


def load_preset(name: str) -> Dict[str, Any]:
    """The preset of tracker ``name`` (``trackers/<name>.yaml``)."""
    return load_yaml(find_config_file(f"trackers/{name}.yaml"))


def merge_overrides(preset: Mapping[str, Any], overrides: Mapping[str, Any],
                    source: str = "preset") -> Dict[str, Any]:
    """Apply keyword overrides to a preset; unknown keys are an error, not silently ignored.

    Nested mappings are merged key by key.

    Raises:
        ValueError: an override key the preset does not have (the message lists valid keys),
            or a type change that cannot be right (a mapping replaced by a scalar).
    """
    merged = dict(preset)
    for key, value in overrides.items():
        if key not in preset:
            valid = ", ".join(sorted(preset))
            raise ValueError(f"unknown parameter '{key}' for {source}; valid keys: {valid}")
        old = preset[key]
        if isinstance(old, dict):
            if not isinstance(value, Mapping):
                raise ValueError(f"parameter '{key}' of {source} is a mapping; got {value!r}")
            merged[key] = merge_overrides(old, value, f"{source}.{key}")
        else:
            merged[key] = value
    return merged
