"""Distributed training: context set-up, gradient averaging, and a real 2-process run."""
from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from toy_task import LinearRegressionTask, toy_config, write_toy_config

from rgbt_tracking.ros.environment import subprocess_env
from rgbt_tracking.train import distributed
from rgbt_tracking.train.checkpoint import list_checkpoints, load_checkpoint
from rgbt_tracking.train.distributed import (
    DistributedContext,
    all_reduce_mean,
    average_gradients,
    init_distributed,
)
from rgbt_tracking.train.loop import run_training

REPO = Path(__file__).resolve().parents[2]
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def test_without_torchrun_a_single_process_context(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main) == (0, 1, True)
    assert context.device == torch.device("cpu") and not context.owns_process_group
    layer = torch.nn.Linear(2, 1)
    layer(torch.ones(1, 2)).sum().backward()
    before = layer.weight.grad.clone()
    average_gradients(layer, context)
    assert torch.equal(layer.weight.grad, before)
    assert all_reduce_mean({"a": 1}, context) == {"a": 1.0}


def test_incomplete_torchrun_environment_is_named(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ValueError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"):
        init_distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(ValueError, match="'tpu'"):
        init_distributed("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            init_distributed("cuda")


class _ThreadGroup:
    """Stand-in for torch.distributed: ranks are threads, all_reduce sums their tensors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=10)
        self.slots: list = [None] * size
        self.local = threading.local()
        self.calls = [0] * size

    def all_reduce(self, tensor: torch.Tensor) -> None:
        rank = self.local.rank
        self.slots[rank] = tensor.clone()
        self.barrier.wait()
        total = torch.stack(self.slots).sum(dim=0)   # fails if shapes differ between ranks
        self.barrier.wait()
        tensor.copy_(total)
        self.calls[rank] += 1

    def all_gather_object(self, out: list, value) -> None:
        self.slots[self.local.rank] = value
        self.barrier.wait()
        out[:] = list(self.slots)
        self.barrier.wait()

    def run(self, work) -> list:
        results, errors = [None] * self.size, []

        def target(rank: int) -> None:
            self.local.rank = rank
            try:
                results[rank] = work(rank)
            except Exception as exc:   # noqa: BLE001 - reported below
                errors.append(exc)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Linear(3, 4)
        self.second = torch.nn.Linear(4, 2)
        self.only_rank1 = torch.nn.Parameter(torch.ones(5))
        self.never = torch.nn.Parameter(torch.ones(2))

    def loss(self, x: torch.Tensor, rank: int) -> torch.Tensor:
        value = self.second(torch.tanh(self.first(x))).pow(2).mean()
        return value + (self.only_rank1.pow(3).sum() * x.mean() if rank == 1 else 0.0)


def test_average_gradients_gives_every_rank_the_mean_with_missing_gradients(monkeypatch):
    group = _ThreadGroup(2)
    monkeypatch.setattr(distributed, "dist", group)
    torch.manual_seed(0)
    reference = _Net()
    inputs = [torch.randn(6, 3), torch.randn(6, 3) + 1]
    expected = {}
    for rank, x in enumerate(inputs):       # each rank's own gradient, None as zero
        net = copy.deepcopy(reference)
        net.loss(x, rank).backward()
        for name, param in net.named_parameters():
            grad = torch.zeros_like(param) if param.grad is None else param.grad
            expected[name] = expected.get(name, 0) + grad / 2

    def work(rank: int):
        net = copy.deepcopy(reference)
        net.loss(inputs[rank], rank).backward()
        context = DistributedContext(rank=rank, world_size=2, is_main=rank == 0)
        average_gradients(net, context, bucket_bytes=40)   # several buckets
        figures = all_reduce_mean({"loss": float(rank), f"only{rank}": 3.0}, context)
        return net, figures

    results = group.run(work)
    for net, figures in results:
        assert net.never.grad is None       # no rank had one: none after averaging
        for name, param in net.named_parameters():
            if name != "never":
                torch.testing.assert_close(param.grad, expected[name], rtol=0, atol=1e-7)
        assert figures == {"loss": 0.5, "only0": 3.0, "only1": 3.0}
    # One presence count + 4 buckets of <= 40 B (a 48 B tensor alone): [first.weight],
    # [first.bias], [second.weight, second.bias], [only_rank1, never].
    assert group.calls == [5, 5]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one_process_with_the_double_batch(tmp_path):
    sections = {"trainer": {"epochs": 2, "batch_size": 4, "grad_clip": 2.0},
                "data": {"marker_dir": str(tmp_path / "markers")}}
    (tmp_path / "markers").mkdir()
    config = write_toy_config(tmp_path / "toy.yaml", **sections)
    env = subprocess_env({"OMP_NUM_THREADS": "1",
                          "PYTHONPATH": os.pathsep.join([str(REPO / "test" / "train"),
                                                         str(REPO)])})
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={_free_port()}", "-m", "rgbt_tracking.cli", "train",
               "toy_task:LinearRegressionTask", "--config", str(config),
               "--out", str(tmp_path / "two"), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("checkpoint:") == 1       # the summary comes from rank 0 only
    assert sorted(p.name for p in (tmp_path / "markers").iterdir()) == ["checkpoint_by_rank0"]
    assert [p.name for p in list_checkpoints(tmp_path / "two")] == [
        "checkpoint_e0001.pth", "checkpoint_e0002.pth"]

    single = toy_config(trainer={"epochs": 2, "batch_size": 8, "grad_clip": 2.0})
    summary = run_training(LinearRegressionTask(single), tmp_path / "one", progress=False)
    two = load_checkpoint(tmp_path / "two" / "checkpoint_e0002.pth")
    one = load_checkpoint(summary.checkpoint)
    for name, value in one["model"].items():
        torch.testing.assert_close(two["model"][name], value, rtol=0, atol=1e-5)
    assert two["metadata"]["rank"] == 0
