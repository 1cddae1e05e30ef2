"""The short training run on generated sequences beats the untrained network (slow: ~6
minutes on two cores; ``pytest -m slow``)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_trained_tracker_beats_untrained_on_held_out_sequences(tmp_path):
    out = tmp_path / "run"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_mfdimp_training.py"),
                    "--out", str(out)], check=True, timeout=3000)
    result = json.loads((out / "comparison.json").read_text())
    assert result["trained"]["track_auc"] > result["untrained"]["track_auc"] + 5.0
    assert (out / "training_log.png").is_file() and (out / "comparison.png").is_file()
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if r["kind"] == "epoch"]
    assert epochs[-1]["losses"]["total"] < epochs[0]["losses"]["total"]
