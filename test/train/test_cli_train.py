"""`rgbt-track train`: run, refusal to overwrite, resume, errors."""
from __future__ import annotations

import subprocess
import sys

from toy_task import write_toy_config

from rgbt_tracking.cli import main
from rgbt_tracking.train.checkpoint import list_checkpoints, load_checkpoint


def test_train_then_refuse_then_resume(tmp_path, capsys):
    config = write_toy_config(tmp_path / "toy.yaml")
    out = tmp_path / "run"
    args = ["train", "toy_task:LinearRegressionTask", "--config", str(config), "--out",
            str(out), "--quiet"]
    assert main(args + ["--epochs", "1", "--set", "optim.lr=1e-2"]) == 0
    printed = capsys.readouterr().out
    assert f"checkpoint: {out / 'checkpoint_e0001.pth'}" in printed
    assert f"log:        {out / 'training_log.jsonl'}" in printed
    assert f"plot:       {out / 'training_log.png'}" in printed
    assert load_checkpoint(out / "checkpoint_e0001.pth")["config"]["optim"]["lr"] == 0.01

    assert main(args + ["--epochs", "2"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert [p.name for p in list_checkpoints(out)] == ["checkpoint_e0001.pth"]

    assert main(args + ["--epochs", "2", "--resume", "--set", "optim.lr=1e-2"]) == 0
    assert "toy_linear: 2 epochs done" in capsys.readouterr().out
    assert [p.name for p in list_checkpoints(out)] == ["checkpoint_e0001.pth",
                                                       "checkpoint_e0002.pth"]


def test_train_errors_are_reported_not_raised(tmp_path, capsys):
    config = write_toy_config(tmp_path / "toy.yaml")
    assert main(["train", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown training task 'nope'" in capsys.readouterr().err
    assert main(["train", "toy_task:LinearRegressionTask", "--config", str(config),
                 "--out", str(tmp_path / "x"), "--set", "trainer.epoch=3"]) == 2
    assert "unknown parameter 'epoch'" in capsys.readouterr().err


def test_module_entry_point_shows_the_train_help():
    done = subprocess.run([sys.executable, "-m", "rgbt_tracking.cli", "train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "torchrun --nproc_per_node=2 -m rgbt_tracking.cli train" in done.stdout
    assert "--resume" in done.stdout
