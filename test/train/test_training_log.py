"""JSON-lines training log and its plot."""
from __future__ import annotations

import json

import pytest

from rgbt_tracking.train.training_log import (
    TrainingLog,
    _series,
    plot_training_log,
    read_training_log,
)


def _epoch(epoch: int, total: float, val=None) -> dict:
    return {"kind": "epoch", "epoch": epoch, "iterations": 10 * epoch,
            "losses": {"total": total, "iou": total / 2},
            "validation": {} if val is None else {"auc": val}, "lr": {"main": 0.1 / epoch}}


def test_append_writes_one_json_object_per_line(tmp_path):
    log = TrainingLog(tmp_path / "run" / "training_log.jsonl")
    assert log.records() == []
    log.append(_epoch(1, 2.0))
    log.append({"kind": "progress", "epoch": 2, "iteration": 5, "losses": {"total": 1.5}})
    lines = log.path.read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert log.records()[0]["losses"] == {"total": 2.0, "iou": 1.0}


def test_truncate_after_drops_later_epochs_only(tmp_path):
    log = TrainingLog(tmp_path / "log.jsonl")
    for epoch in (1, 2, 3):
        log.append({"kind": "progress", "epoch": epoch, "iteration": 1, "losses": {}})
        log.append(_epoch(epoch, 1.0 / epoch))
    assert log.truncate_after(3) == 0
    assert log.truncate_after(1) == 4
    assert [(r["kind"], r["epoch"]) for r in log.records()] == [("progress", 1), ("epoch", 1)]
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(_epoch(1, 1.0)) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"log.jsonl:2: not valid JSON"):
        read_training_log(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"log.jsonl:1: expected a JSON object"):
        read_training_log(path)
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        read_training_log(tmp_path / "missing.jsonl")


def test_plot_has_one_panel_per_loss_figure_and_learning_rate(tmp_path):
    log = TrainingLog(tmp_path / "log.jsonl")
    log.append(_epoch(1, 4.0))
    log.append({"kind": "progress", "epoch": 2, "iteration": 3, "losses": {"total": 9.0}})
    log.append(_epoch(2, 2.0, val=0.5))
    panels = _series(log.records())
    assert list(panels) == ["loss: iou", "loss: total", "validation: auc", "learning rate"]
    assert panels["loss: total"] == {"total": [4.0, 2.0]}           # progress records skipped
    assert panels["validation: auc"]["auc"][1] == 0.5
    assert panels["validation: auc"]["auc"][0] != panels["validation: auc"]["auc"][0]  # NaN
    out = plot_training_log(log.path, tmp_path / "plots" / "log.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
