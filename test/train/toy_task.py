"""A tiny TrainingTask for the loop's tests: linear regression on a fixed synthetic set.

Importable as ``toy_task:LinearRegressionTask`` with ``test/train`` on ``PYTHONPATH`` (the
distributed test starts the CLI under torchrun with it). The loss is a mean over the
batch, so averaging the gradients of two disjoint half-batches equals the gradient of the
whole batch.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch
import yaml

from rgbt_tracking.train.task import TrainingTask

FEATURES = 4
TRUE_WEIGHTS = np.array([1.5, -2.0, 0.5, 3.0])
TRUE_BIAS = 0.7

BASE_CONFIG: Dict[str, Any] = {
    "trainer": {"epochs": 4, "iterations_per_epoch": 0, "batch_size": 8, "seed": 3,
                "num_workers": 0, "log_every": 2, "checkpoint_every": 1, "grad_clip": 0.0},
    "optim": {"lr": 0.2, "weight_decay": 0.0, "lr_step": 2, "lr_gamma": 0.5},
    "model": {"dropout": 0.0},
    "data": {"samples": 64, "seed": 11, "input_noise": 0.05, "marker_dir": ""},
}


def toy_config(**sections: Dict[str, Any]) -> Dict[str, Any]:
    """BASE_CONFIG with some keys of some sections replaced."""
    config = copy.deepcopy(BASE_CONFIG)
    for section, values in sections.items():
        config[section].update(values)
    return config


def write_toy_config(path: Path, **sections: Dict[str, Any]) -> Path:
    """Write :func:`toy_config` as YAML (for the CLI)."""
    path.write_text(yaml.safe_dump(toy_config(**sections)))
    return path


class ToyRegressionData(torch.utils.data.Dataset):
    """``x`` (4,) float32 plus per-epoch input noise, ``y`` (1,) = x_clean . w + b."""

    def __init__(self, samples: int, seed: int, input_noise: float) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((samples, FEATURES))
        self.y = self.x @ TRUE_WEIGHTS + TRUE_BIAS
        self.seed, self.input_noise = seed, input_noise
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        noise = np.random.default_rng([self.seed, self.epoch, index]).standard_normal(FEATURES)
        x = self.x[index] + self.input_noise * noise
        return {"x": torch.tensor(x, dtype=torch.float32),
                "y": torch.tensor([self.y[index]], dtype=torch.float32)}


class LinearRegressionTask(TrainingTask):
    """y = Linear(dropout(x)); loss = mean squared error over the batch."""

    name = "toy_linear"

    def build_model(self) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Dropout(float(self.config["model"]["dropout"])),
                                   torch.nn.Linear(FEATURES, 1))

    def build_dataset(self, split: str) -> torch.utils.data.Dataset:
        data = self.config["data"]
        seed = int(data["seed"]) + (0 if split == "train" else 1000)
        return ToyRegressionData(int(data["samples"]), seed, float(data["input_noise"]))

    def compute_losses(self, model: torch.nn.Module, batch: Dict[str, torch.Tensor]
                       ) -> Dict[str, torch.Tensor]:
        error = model(batch["x"]) - batch["y"]
        return {"total": (error ** 2).mean(), "mae": error.abs().mean()}

    def validate(self, model: torch.nn.Module) -> Dict[str, float]:
        data = self.build_dataset("val")
        with torch.no_grad():
            x = torch.tensor(data.x, dtype=torch.float32)
            y = torch.tensor(data.y, dtype=torch.float32)[:, None]
            return {"val_mse": float(((model(x) - y) ** 2).mean())}

    def checkpoint_metadata(self) -> Dict[str, Any]:
        rank = int(os.environ.get("RANK", "0"))
        marker_dir = self.config["data"].get("marker_dir")
        if marker_dir:
            with open(Path(marker_dir) / f"checkpoint_by_rank{rank}", "a") as stream:
                stream.write("x")
        return {"toy": True, "rank": rank}
