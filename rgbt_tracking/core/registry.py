"""Name -> tracker class registry.

Entries are import paths so that ``list_trackers()`` and building one tracker never import
every tracker's dependencies.
"""
from __future__ import annotations

import importlib
from typing import Dict, List, Type

from rgbt_tracking.core.tracker import Tracker

# name -> "module:ClassName"; each tracker package adds its line here when it lands.
_TRACKERS: Dict[str, str] = {
    "cmi": "rgbt_tracking.trackers.cmi.tracker:CMITracker",
    "dcf": "rgbt_tracking.trackers.dcf.tracker:DCFTracker",
    "gmmt": "rgbt_tracking.trackers.gmmt.tracker:GMMTTracker",
    "m5l": "rgbt_tracking.trackers.m5l.tracker:M5LTracker",
    "mfdimp": "rgbt_tracking.trackers.mfdimp.tracker:MfDiMPTracker",
    "mmnet": "rgbt_tracking.trackers.mmnet.tracker:MMNetTracker",
    "siam_rgbt": "rgbt_tracking.trackers.siam_rgbt.tracker:SiamRGBTTracker",
}


def register_tracker(name: str, import_path: str) -> None:
    """Register a tracker class under ``name`` (plug-ins outside this package use this)."""
    if ":" not in import_path:
        raise ValueError(f"import path must be 'module:Class', got {import_path!r}")
    _TRACKERS[name] = import_path


def registered_names() -> List[str]:
    """Sorted names of every registered tracker."""
    return sorted(_TRACKERS)


def tracker_class(name: str) -> Type[Tracker]:
    """Import and return the class registered under ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in _TRACKERS:
        raise ValueError(f"unknown tracker '{name}'; available: {', '.join(registered_names())}")
    module_name, class_name = _TRACKERS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Tracker)):
        raise TypeError(f"{_TRACKERS[name]} is not a Tracker subclass")
    return cls
