"""Side-by-side tracking figures of several models (untrained vs trained, variants).

The short training benchmarks (``benchmarks/bench_*_training.py``) write one
``comparison.json`` and one bar chart ``comparison.png`` with these helpers, so that every
learned tracker's "does training help" figure looks the same.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Mapping

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
