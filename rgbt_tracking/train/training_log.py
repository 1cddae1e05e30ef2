"""The training log: one JSON object per line, and a plot of it.

Records written by :mod:`rgbt_tracking.train.loop`:

``{"kind": "epoch", "epoch": E, "iterations": I, "losses": {...}, "validation": {...},
"lr": {...}, "epoch_seconds": S, "time": UNIX}``
    after every epoch: losses averaged over the epoch's iterations and over the ranks,
    ``iterations`` the total optimisation steps so far, ``lr`` the first parameter
    group's learning rate of each optimiser during the epoch;
``{"kind": "progress", "epoch": E, "iteration": I, "losses": {...}, "time": UNIX}``
    every ``trainer.log_every`` iterations: rank 0's running means within the epoch.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping

LOG_NAME = "training_log.jsonl"
PLOT_NAME = "training_log.png"


def read_training_log(path: Path | str) -> List[Dict[str, Any]]:
    """Every record of a log file, in order.

    Raises:
        FileNotFoundError: no such file (named).
        ValueError: a line that is not a JSON object (file and line number named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training log {path} does not exist")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {line!r}")
        records.append(record)
    return records


class TrainingLog:
    """Append-only JSON-lines log of one training run.

    Args:
        path: the ``.jsonl`` file (created with its folder on the first append).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one line (floats, ints, strings, nested mappings)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(dict(record), sort_keys=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")

    def records(self) -> List[Dict[str, Any]]:
        """Every record so far (empty when the file does not exist yet)."""
        return read_training_log(self.path) if self.path.exists() else []

    def truncate_after(self, epoch: int) -> int:
        """Drop the records of epochs after ``epoch`` (a resumed run redoes them).

        The file is rewritten atomically. Returns the number of records dropped.
        """
        if not self.path.exists():
            return 0
        records = self.records()
        kept = [r for r in records if int(r.get("epoch", 0)) <= epoch]
        if len(kept) == len(records):
            return 0
        temporary = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        temporary.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in kept),
                             encoding="utf-8")
        os.replace(temporary, self.path)
        return len(records) - len(kept)


def _series(records: List[Dict[str, Any]]) -> Dict[str, Dict[str, List[float]]]:
    """Panel title -> label -> values per epoch record (NaN where a record lacks it)."""
    epochs = [r for r in records if r.get("kind", "epoch") == "epoch"]
    panels: Dict[str, Dict[str, List[float]]] = {}
    for section, prefix in (("losses", "loss"), ("validation", "validation")):
        names = sorted({k for r in epochs for k in r.get(section, {})})
        for name in names:
            panels[f"{prefix}: {name}"] = {name: [
                float(r.get(section, {}).get(name, math.nan)) for r in epochs]}
    rates = sorted({k for r in epochs for k in r.get("lr", {})})
    if rates:
        panels["learning rate"] = {name: [float(r.get("lr", {}).get(name, math.nan))
                                          for r in epochs] for name in rates}
    return panels


def plot_training_log(log_path: Path | str, out_png: Path | str) -> Path:
    """Plot every loss, validation figure and learning rate of a log against the epoch.

    One subplot per loss and per validation figure (x = epoch), plus one for the learning
    rates (log scale). Uses matplotlib's Agg backend (no display needed).

    Raises:
        FileNotFoundError / ValueError: from :func:`read_training_log`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_training_log(log_path)
    epochs = [int(r["epoch"]) for r in records if r.get("kind", "epoch") == "epoch"]
    panels = _series(records)
    count = max(1, len(panels))
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows),
                                squeeze=False)
    for axis, (title, lines) in zip(axes.flat, panels.items()):
        for label, values in lines.items():
            axis.plot(epochs, values, marker="o", markersize=3, label=label)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("epoch")
        axis.grid(True, alpha=0.3)
        if title == "learning rate":
            if all(v > 0 for values in lines.values() for v in values if not math.isnan(v)):
                axis.set_yscale("log")
            axis.legend(fontsize=8)
    if not panels:
        axes.flat[0].text(0.5, 0.5, "no epoch finished yet", ha="center", va="center")
    for axis in list(axes.flat)[len(panels):]:
        if panels:
            axis.set_visible(False)
    figure.suptitle(Path(log_path).parent.name or str(log_path), fontsize=11)
    figure.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=100)
    plt.close(figure)
    return out_png
