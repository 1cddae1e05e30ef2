"""Short GMMT training on generated RGB-T sequences: stage one, then stage two per variant.

1. Stage one: the Siamese RGB-T baseline (``config/training/siam_rgbt_generated.yaml``:
   ResNet-18 from its initialisation, CPU, a few minutes);
2. stage two from its last checkpoint, ``config/training/gmmt_generated.yaml``, once per
   ``--variants`` entry (default ``raw`` and ``diffusion``) with the same budget.

Each model is tracked on the held-out generated sequences of ``validation.tracking_sources``
before training (stage one: an untrained network; stage two: the trained stage-one parts
with an untrained generative block and head) and after it. Writes into ``--out``: the
training folders ``siam_rgbt/`` and ``gmmt_<variant>/`` (``training_log.jsonl`` /
``training_log.png``), ``comparison.json`` and ``comparison.png``.

    python benchmarks/bench_gmmt_training.py --out /tmp/gmmt_run [--variants raw diffusion]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch


def _configure(name: str, epochs: Optional[int], iterations: Optional[int]) -> Dict[str, Any]:
    from rgbt_tracking.train.registry import load_training_config

    config = load_training_config(name)
    if epochs is not None:
        config["trainer"]["epochs"] = epochs
    if iterations is not None:
        config["trainer"]["iterations_per_epoch"] = iterations
    return config


def _train(task: Any, out: Path, label: str) -> Dict[str, Any]:
    """Untrained and trained tracking figures of one task, and its training summary."""
    from rgbt_tracking.train.comparison import last_tracking_figures
    from rgbt_tracking.train.loop import run_training, seed_everything

    started = time.monotonic()
    seed_everything(int(task.config["trainer"]["seed"]))
    before = task.validate(task.build_model().eval())
    print(f"{label} untrained: success AUC {before['track_auc']:.1f} %, precision "
          f"{before['track_precision']:.1f} %", flush=True)
    summary = run_training(task, out, progress=sys.stderr.isatty())
    after = last_tracking_figures(summary.log)
    seconds = time.monotonic() - started
    print(f"{label} trained ({summary.epochs_done} epochs, {seconds / 60:.1f} min): success AUC "
          f"{after['track_auc']:.1f} %, precision {after['track_precision']:.1f} %", flush=True)
    return {"untrained": before, "trained": after, "epochs": summary.epochs_done,
            "seconds": round(seconds, 1), "checkpoint": str(summary.checkpoint),
            "last_losses": summary.last_losses, "log": str(summary.log),
            "plot": str(summary.plot)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="new folder for the run (default: a temporary folder)")
    parser.add_argument("--variants", nargs="+", default=["raw", "diffusion"],
                        choices=["raw", "diffusion", "cgan"], help="stage-two fusion models")
    parser.add_argument("--stage-one-epochs", type=int, default=None)
    parser.add_argument("--stage-two-epochs", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=None,
                        help="override trainer.iterations_per_epoch of both stages")
    args = parser.parse_args(argv)

    from rgbt_tracking.train.comparison import plot_tracking_comparison
    from rgbt_tracking.trackers.gmmt.training import GMMTTraining
    from rgbt_tracking.trackers.siam_rgbt.training import SiamRGBTTraining

    out = args.out or Path(tempfile.mkdtemp(prefix="gmmt_training_"))
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.monotonic()
    results: Dict[str, Any] = {}
    stage_one = _configure("siam_rgbt_generated", args.stage_one_epochs, args.iterations)
    results["siam_rgbt"] = _train(SiamRGBTTraining(stage_one), out / "siam_rgbt", "siam_rgbt")
    for variant in args.variants:
        config = _configure("gmmt_generated", args.stage_two_epochs, args.iterations)
        config["stage_one_checkpoint"] = results["siam_rgbt"]["checkpoint"]
        config["model"]["fusion_model"] = variant
        results[f"gmmt_{variant}"] = _train(GMMTTraining(config), out / f"gmmt_{variant}",
                                            f"gmmt {variant}")
    results["total_seconds"] = round(time.monotonic() - started, 1)
    (out / "comparison.json").write_text(json.dumps(results, indent=2))
    bars = {}
    for name, result in results.items():
        if isinstance(result, dict):
            bars[f"{name} untrained"] = result["untrained"]
            bars[f"{name} trained"] = result["trained"]
    plot_tracking_comparison(bars, out / "comparison.png",
                             "siam_rgbt / GMMT on held-out generated sequences")
    print(f"total {results['total_seconds'] / 60:.1f} min; comparison {out / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
