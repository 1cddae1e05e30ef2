"""rgbt-track: the console script, and its sub-commands on real files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rgbt_tracking.cli import main
from rgbt_tracking.data.bag_io import write_rgbt_bag
from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence, save_sequence
from rgbt_tracking.eval.results import read_results
from rgbt_tracking.ros.environment import subprocess_env


@pytest.fixture(scope="module")
def sequence_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq") / "synthetic"
    save_sequence(generate_sequence(SyntheticConfig(num_frames=60, seed=4)), folder)
    return folder


def test_console_script_help_lists_every_sub_command():
    script = Path(sys.executable).with_name("rgbt-track")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                         env=subprocess_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    for command in ("demo", "launch", "run", "eval", "bag", "bench"):
        assert command in out.stdout


def test_run_then_eval(sequence_folder, tmp_path, capsys):
    results = tmp_path / "dcf.txt"
    assert main(["run", "--rgb", str(sequence_folder / "visible"), "--thermal",
                 str(sequence_folder / "infrared"), "--init-file",
                 str(sequence_folder / "visible.txt"), "--out", str(results)]) == 0
    boxes = read_results(results)
    assert boxes.shape == (60, 4)
    metrics_path = tmp_path / "metrics.json"
    plot = tmp_path / "plot.png"
    assert main(["eval", str(sequence_folder / "visible.txt"), str(results), "--json",
                 str(metrics_path), "--plot", str(plot)]) == 0
    metrics = json.loads(metrics_path.read_text())["dcf"]
    assert metrics["success_auc"] > 0.6 and metrics["num_frames"] == 60
    assert plot.stat().st_size > 0
    assert "success AUC" in capsys.readouterr().out
    # Nothing is overwritten without being asked.
    with pytest.raises(SystemExit, match="exists"):
        main(["run", "--thermal", str(sequence_folder / "infrared"), "--init", "1 2 3 4",
              "--out", str(results)])
    with pytest.raises(SystemExit, match="exists"):
        main(["eval", str(sequence_folder / "visible.txt"), str(results), "--json",
              str(metrics_path)])


def test_run_reports_bad_input_clearly(sequence_folder, tmp_path, capsys):
    with pytest.raises(SystemExit, match="image folder not found"):
        main(["run", "--rgb", str(tmp_path / "nope"), "--init", "1 2 3 4",
              "--out", str(tmp_path / "r.txt")])
    with pytest.raises(SystemExit, match="--init"):
        main(["run", "--rgb", str(sequence_folder / "visible"), "--out", str(tmp_path / "r.txt")])
    # A box outside the image: the tracker's ValueError becomes exit code 2 and a message.
    code = main(["run", "--rgb", str(sequence_folder / "visible"), "--init", "5000 1 10 10",
                 "--out", str(tmp_path / "r.txt")])
    assert code == 2 and "outside" in capsys.readouterr().err


def test_bag_info_lists_topics(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frames = [(10**9 + i * 10**8, rng.integers(0, 255, (16, 16, 3), np.uint8),
               rng.integers(0, 255, (16, 16), np.uint8)) for i in range(3)]
    write_rgbt_bag(tmp_path / "bag", frames)
    assert main(["bag", "info", str(tmp_path / "bag")]) == 0
    out = capsys.readouterr().out
    assert "/camera/rgb/image" in out and "sensor_msgs/msg/Image" in out and " 3" in out
