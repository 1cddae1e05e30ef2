"""Training checkpoints: one self-describing file per saved epoch.

A checkpoint is ``<out_dir>/checkpoint_eNNNN.pth`` (NNNN = completed epochs), a
``torch.save`` of a dict with the fields of :data:`CHECKPOINT_FIELDS`:

``format``        int, :data:`CHECKPOINT_FORMAT` (bumped when the layout changes);
``task``          the task's registry name (``TrainingTask.name``);
``config``        the full merged training configuration (plain YAML types); trackers
                  rebuild their network from ``config["model"]``;
``epoch``         completed epochs;
``model``         the model's ``state_dict`` (CPU tensors);
``optimizers``    name -> optimiser ``state_dict``;
``schedulers``    name -> scheduler ``state_dict``;
``rng``           generator states at save time (python, numpy, torch, cuda) and the seed;
``metadata``      ``TrainingTask.checkpoint_metadata()`` (e.g. tracker name, fusion);
``created``       ISO 8601 time of writing (UTC);
``torch_version`` the torch that wrote it.

Files are written atomically (a temporary file in the same folder, then ``os.replace``),
so an interrupted run never leaves a truncated checkpoint under the final name, and read
with ``torch.load(weights_only=True)``: a checkpoint holds tensors and plain Python values
only, never pickled objects.
"""
from __future__ import annotations

import datetime
import os
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import torch

#: Version of the checkpoint layout written by :func:`save_checkpoint`.
CHECKPOINT_FORMAT = 1
CHECKPOINT_FIELDS = ("format", "task", "config", "epoch", "model", "optimizers",
                     "schedulers", "rng", "metadata", "created", "torch_version")
_NAME = re.compile(r"^checkpoint_e(\d{4,})\.pth$")


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint after ``epoch`` completed epochs."""
    if epoch < 0:
        raise ValueError(f"checkpoint epoch must be >= 0, got {epoch}")
    return f"checkpoint_e{epoch:04d}.pth"


def list_checkpoints(folder: Path | str) -> List[Path]:
    """``checkpoint_eNNNN.pth`` files of ``folder`` sorted by epoch (empty if none)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), path) for path in folder.iterdir()
             if path.is_file() and (m := _NAME.match(path.name))]
    return [path for _, path in sorted(found)]


def latest_checkpoint(folder: Path | str) -> Optional[Path]:
    """The checkpoint with the most completed epochs in ``folder``, or None."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def plain_config(value: Any, where: str = "config") -> Any:
    """``value`` as plain YAML types (dict with str keys, list, str, int, float, bool, None).

    Tuples become lists, paths strings, numpy scalars Python numbers.

    Raises:
        ValueError: a value of another type (the message names its key path).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            out[key] = plain_config(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [plain_config(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:   # numpy scalar
        return plain_config(value.item(), where)
    raise ValueError(f"{where}: {type(value).__name__} value {value!r} is not a plain "
                     "YAML type (dict, list, str, int, float, bool, None)")


def _cpu_state(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, Mapping):
        return {key: _cpu_state(item) for key, item in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_state(item) for item in state)
    return state


def build_checkpoint(task_name: str, config: Mapping[str, Any], epoch: int,
                     model: torch.nn.Module, optimizers: Mapping[str, Any],
                     schedulers: Mapping[str, Any], rng: Mapping[str, Any],
                     metadata: Mapping[str, Any]) -> Dict[str, Any]:
    """The checkpoint dict (fields of :data:`CHECKPOINT_FIELDS`; tensors moved to CPU)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "task": str(task_name),
        "config": plain_config(dict(config)),
        "epoch": int(epoch),
        "model": _cpu_state(model.state_dict()),
        "optimizers": {k: _cpu_state(o.state_dict()) for k, o in optimizers.items()},
        "schedulers": {k: _cpu_state(s.state_dict()) for k, s in schedulers.items()},
        "rng": dict(rng),
        "metadata": plain_config(dict(metadata), "metadata"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }


def write_atomically(payload: Dict[str, Any], path: Path | str) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def save_checkpoint(folder: Path | str, checkpoint: Dict[str, Any]) -> Path:
    """Write ``checkpoint`` (from :func:`build_checkpoint`) as ``checkpoint_eNNNN.pth``."""
    return write_atomically(checkpoint, Path(folder) / checkpoint_name(checkpoint["epoch"]))


def load_checkpoint(path: Path | str, map_location: Any = "cpu",
                    expected_task: Optional[str] = None) -> Dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.pth`` file.
        map_location: passed to ``torch.load`` (default: every tensor on the CPU).
        expected_task: refuse a checkpoint of any other training task.

    Raises:
        FileNotFoundError: no such file (named).
        ValueError: not a torch file, not a dict of ours, another format version, or
            missing fields, or a task other than ``expected_task`` (each names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable training checkpoint: {exc}") from None
    if not isinstance(data, dict) or "format" not in data:
        raise ValueError(f"{path} is not a training checkpoint of rgbt_tracking (no "
                         "'format' field; a bare state_dict?)")
    if data["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {data['format']!r}, this code reads "
                         f"format {CHECKPOINT_FORMAT}")
    missing = [name for name in CHECKPOINT_FIELDS if name not in data]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks the fields {', '.join(missing)}")
    if not isinstance(data["config"], dict) or not isinstance(data["model"], dict):
        raise ValueError(f"{path}: 'config' and 'model' must be mappings")
    if expected_task is not None and data["task"] != expected_task:
        raise ValueError(f"{path}: a checkpoint of task {data['task']!r}, expected "
                         f"{expected_task!r}")
    return data


def export_weights(checkpoint_path: Path | str, out_path: Path | str,
                   overwrite: bool = False) -> Path:
    """Write a slim copy of a checkpoint for inference: no optimiser, scheduler or RNG state.

    The result is still a valid checkpoint (:func:`load_checkpoint` reads it, with empty
    ``optimizers``, ``schedulers`` and ``rng``), so ``build_tracker(name, checkpoint=...)``
    accepts either file.

    Raises:
        FileExistsError: ``out_path`` exists and ``overwrite`` is False.
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path} exists; pass overwrite=True to replace it")
    data = load_checkpoint(checkpoint_path)
    data.update(optimizers={}, schedulers={}, rng={})
    return write_atomically(data, out_path)


def load_model_state(net: torch.nn.Module, state: Mapping[str, torch.Tensor],
                     source: Path | str) -> None:
    """Load a checkpoint's ``model`` state into ``net``, which must fit it exactly.

    Raises:
        ValueError: names (the first three of) the missing and unexpected keys and the file.
    """
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{source}: weights do not fit the stored network: missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}")
    net.load_state_dict(state)
