"""Short training of a learned tracker on generated sequences: does training beat none?

Trains ``config/training/<TASK>_generated.yaml`` (or ``--config NAME``; CPU, a few
minutes), after tracking the held-out generated sequences of its
``validation.tracking_sources`` with the untrained network (the same initialisation), and
compares with the trained one. Writes into ``--out``: ``training_log.jsonl`` /
``training_log.png`` (losses and per-epoch tracking figures), ``comparison.json`` and
``comparison.png``.

    python benchmarks/bench_training.py mfdimp --out /tmp/mfdimp_run [--epochs N]
    python benchmarks/bench_training.py mmnet --out /tmp/mmnet_run

(GMMT's two stages have their own script, ``bench_gmmt_training.py``.)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

TITLES = {
    "mfdimp": "mfDiMP on held-out generated sequences",
    "mmnet": "MMNet on held-out generated thermal sequences",
    "siam_rgbt": "Siamese RGB-T baseline on held-out generated sequences",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="training task name (rgbt-track train --help lists them)")
    parser.add_argument("--config", default=None,
                        help="training configuration name (default: TASK_generated)")
    parser.add_argument("--out", type=Path, default=None,
                        help="new folder for the run (default: a temporary folder)")
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.epochs")
    parser.add_argument("--iterations", type=int, default=None,
                        help="override trainer.iterations_per_epoch")
    args = parser.parse_args(argv)

    from rgbt_tracking.train.comparison import train_and_compare
    from rgbt_tracking.train.registry import load_training_config

    config = load_training_config(args.config or f"{args.task}_generated")
    if args.epochs is not None:
        config["trainer"]["epochs"] = args.epochs
    if args.iterations is not None:
        config["trainer"]["iterations_per_epoch"] = args.iterations
    out = args.out or Path(tempfile.mkdtemp(prefix=f"{args.task}_training_"))
    train_and_compare(args.task, config, out, TITLES.get(args.task, args.task),
                      progress=sys.stderr.isatty())
    return 0


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sys.exit(main())
