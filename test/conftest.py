"""Shared fixtures: paths to the real data in ../shared/data (never copied into the repo)."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from rgbt_tracking.ros.environment import configure_transport

# ROS tests talk over DDS: keep them on this machine's loopback and in a domain of their own,
# so that two suites running at once (or a robot on the network) never cross-talk. Set before
# any rclpy.init() in this process; subprocesses inherit it.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(20, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
configure_transport()

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RGBT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real test data (vtuav_bus1, llvip_pairs)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; set RGBT_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test: the cores are shared, and OpenMP spinning
    on busy cores makes small convolutions hundreds of times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def run_training_benchmark(script: str, out: Path, *args: str) -> dict:
    """Run ``benchmarks/<script>`` (a short training on generated sequences) into ``out``
    and return its ``comparison.json`` (the slow tests of the learned trackers)."""
    import json
    import subprocess
    import sys

    subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args, "--out",
                    str(out)], check=True, timeout=3600)
    return json.loads((out / "comparison.json").read_text())


def epoch_losses(run_folder: Path, key: str) -> list:
    """Per-epoch mean of loss ``key`` from a run's ``training_log.jsonl``."""
    import json

    records = [json.loads(line) for line in
               (run_folder / "training_log.jsonl").read_text().splitlines() if line]
    return [r["losses"][key] for r in records if r["kind"] == "epoch"]


@pytest.fixture
def training_benchmark():
    """:func:`run_training_benchmark` for the slow training tests."""
    return run_training_benchmark


@pytest.fixture
def training_log_losses():
    """:func:`epoch_losses` for the slow training tests."""
    return epoch_losses
