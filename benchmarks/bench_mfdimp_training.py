"""Short mfDiMP training on generated RGB-T sequences: does training beat no training?

Trains the preset ``config/training/mfdimp_generated.yaml`` (ResNet-18 from its
initialisation, feature-level fusion, CPU, a few minutes), then tracks the held-out
generated sequences of its ``validation.tracking_sources`` with the untrained network (the
same initialisation) and with the trained one. Writes into ``--out``:
``training_log.jsonl`` / ``training_log.png`` (losses and per-epoch tracking figures),
``comparison.json`` and ``comparison.png``.

    python benchmarks/bench_mfdimp_training.py --out /tmp/mfdimp_run [--epochs N]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="new folder for the run (default: a temporary folder)")
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.epochs")
    parser.add_argument("--iterations", type=int, default=None,
                        help="override trainer.iterations_per_epoch")
    args = parser.parse_args(argv)

    from rgbt_tracking.core.config import find_config_file, load_yaml
    from rgbt_tracking.train.comparison import last_tracking_figures, plot_tracking_comparison
    from rgbt_tracking.train.loop import run_training, seed_everything
    from rgbt_tracking.trackers.mfdimp.training import MfDiMPTraining, evaluate_tracking

    config = load_yaml(find_config_file("training/mfdimp_generated.yaml"))
    if args.epochs is not None:
        config["trainer"]["epochs"] = args.epochs
    if args.iterations is not None:
        config["trainer"]["iterations_per_epoch"] = args.iterations
    out = args.out or Path(tempfile.mkdtemp(prefix="mfdimp_training_"))
    torch.set_num_threads(max(1, torch.get_num_threads()))

    seed_everything(int(config["trainer"]["seed"]))
    untrained = MfDiMPTraining(config).build_model().eval()
    started = time.monotonic()
    before = evaluate_tracking(untrained, config, config["validation"])
    print(f"untrained: success AUC {before['track_auc']:.1f} %, "
          f"precision {before['track_precision']:.1f} %", flush=True)

    summary = run_training(MfDiMPTraining(config), out, progress=sys.stderr.isatty())
    train_seconds = time.monotonic() - started
    after = last_tracking_figures(summary.log)
    result = {"untrained": before, "trained": after, "epochs": summary.epochs_done,
              "seconds": round(train_seconds, 1), "checkpoint": str(summary.checkpoint),
              "last_losses": summary.last_losses}
    (out / "comparison.json").write_text(json.dumps(result, indent=2))
    plot_tracking_comparison({"untrained": before, "trained": after}, out / "comparison.png",
                             f"mfDiMP on held-out generated sequences ({summary.epochs_done} "
                             "epochs)")
    print(f"trained ({summary.epochs_done} epochs, {train_seconds / 60:.1f} min): success AUC "
          f"{after['track_auc']:.1f} %, precision {after['track_precision']:.1f} %")
    print(f"log {summary.log}, plot {summary.plot}, comparison {out / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
