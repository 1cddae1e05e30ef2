"""The public entry: build a tracker by name from its preset, list what is available."""
from __future__ import annotations

from typing import Any, List, Mapping, Optional

from rgbt_tracking.core.config import load_preset, merge_overrides
from rgbt_tracking.core.registry import registered_names, tracker_class
from rgbt_tracking.core.tracker import Tracker


def list_trackers() -> List[str]:
    """Names accepted by :func:`build_tracker`."""
    return registered_names()


def build_tracker(name: str, device: str = "cpu", params: Optional[Mapping[str, Any]] = None,
                  **overrides: Any) -> Tracker:
    """Build tracker ``name`` from ``config/trackers/<name>.yaml``.

    Args:
        name: a name from :func:`list_trackers`.
        device: "cpu" or "cuda[:N]"; "cuda" without a GPU raises ValueError.
        params: a full parameter mapping to use instead of the preset (still checked
            against the preset's keys).
        **overrides: preset keys to change, e.g. ``fusion="response"``.

    Raises:
        ValueError: unknown tracker, unknown parameter, unusable device.
    """
    cls = tracker_class(name)
    preset = load_preset(name)
    merged = merge_overrides(preset, dict(params or {}), f"tracker '{name}'")
    merged = merge_overrides(merged, overrides, f"tracker '{name}'")
    _check_device(device)
    return cls(merged, device=device)


def _check_device(device: str) -> None:
    if device == "cpu":
        return
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device '{device}' requested but CUDA is not available")
        return
    raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
