"""Side-by-side tracking figures of several models (untrained vs trained, variants).

The short training benchmarks (``benchmarks/bench_training.py TASK``,
``benchmarks/bench_gmmt_training.py``) write one ``comparison.json`` and one bar chart
``comparison.png`` with these helpers, so that every learned tracker's "does training
help" figure looks the same.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Mapping

FIGURES = (("track_auc", "success AUC"), ("track_precision", "precision @20px"))


def last_tracking_figures(log_path: Path | str) -> Dict[str, float]:
    """``track_auc`` / ``track_precision`` of the last epoch record of a training log
    (``training_log.jsonl``) that has them.

    Raises:
        ValueError: the log has no epoch with tracking figures (names the file).
    """
    path = Path(log_path)
    found: Dict[str, float] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        validation = record.get("validation", {}) if record.get("kind") == "epoch" else {}
        if all(key in validation for key, _ in FIGURES):
            found = {key: float(validation[key]) for key, _ in FIGURES}
    if not found:
        raise ValueError(f"{path}: no epoch record with tracking figures "
                         f"({', '.join(k for k, _ in FIGURES)}); is validation.tracking_sources "
                         "set in the training configuration?")
    return found


def plot_tracking_comparison(results: Mapping[str, Mapping[str, float]], path: Path | str,
                             title: str) -> None:
    """Grouped bars: one group per figure (success AUC, precision), one bar per model.

    Args:
        results: model name -> {"track_auc": percent, "track_precision": percent}.
        path: PNG file to write.
        title: plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("plot_tracking_comparison: no results")
    names = list(results)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(names) * len(FIGURES) / 2, 3.5))
    for i, name in enumerate(names):
        offsets = [g - 0.4 + width * (i + 0.5) for g in range(len(FIGURES))]
        ax.bar(offsets, [results[name][key] for key, _ in FIGURES], width, label=name)
    ax.set_xticks(list(range(len(FIGURES))), [label for _, label in FIGURES])
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=100)
    plt.close(fig)


def train_and_compare(task_name: str, config: Mapping[str, Any], out: Path | str,
                      title: str, progress: bool = False) -> Dict[str, Any]:
    """Does training beat no training? Track the held-out sequences of the configuration's
    ``validation.tracking_sources`` with the untrained model (the seed's initialisation),
    train, and compare with the last epoch's figures.

    Args:
        task_name: a registered training task (``rgbt_tracking.train.registry``).
        config: its complete training configuration (with tracking validation).
        out: new folder for the run (training log, plot, checkpoints, comparison).
        title: title of ``comparison.png``.
        progress: show the training loop's progress bar.

    Returns:
        The content of ``comparison.json``: ``untrained`` and ``trained`` figures,
        ``epochs``, ``seconds`` (training and both evaluations), ``checkpoint``,
        ``last_losses``.

    Raises:
        ValueError: the configuration has no ``validation.tracking_sources``.
    """
    from rgbt_tracking.train.loop import run_training, seed_everything
    from rgbt_tracking.train.registry import task_class

    if not config.get("validation", {}).get("tracking_sources"):
        raise ValueError(f"{task_name}: the training configuration has no "
                         "validation.tracking_sources to compare on")
    out = Path(out)
    task_type = task_class(task_name)
    started = time.monotonic()
    seed_everything(int(config["trainer"]["seed"]))
    task = task_type(config)
    figures = task.validate(task.build_model().eval())
    before = {key: float(figures[key]) for key, _ in FIGURES}
    print(f"{task_name} untrained: success AUC {before['track_auc']:.1f} %, "
          f"precision {before['track_precision']:.1f} %", flush=True)
    summary = run_training(task_type(config), out, progress=progress)
    after = last_tracking_figures(summary.log)
    seconds = time.monotonic() - started
    result = {"untrained": before, "trained": after, "epochs": summary.epochs_done,
              "seconds": round(seconds, 1), "checkpoint": str(summary.checkpoint),
              "last_losses": summary.last_losses}
    (out / "comparison.json").write_text(json.dumps(result, indent=2))
    plot_tracking_comparison({"untrained": before, "trained": after}, out / "comparison.png",
                             f"{title} ({summary.epochs_done} epochs)")
    print(f"{task_name} trained ({summary.epochs_done} epochs, {seconds / 60:.1f} min): "
          f"success AUC {after['track_auc']:.1f} %, precision {after['track_precision']:.1f} %")
    print(f"log {summary.log}, plot {summary.plot}, comparison {out / 'comparison.json'}")
    return result
