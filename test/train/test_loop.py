"""run_training on the toy regression task: learning, logs, checkpoints, refusal, resume."""
from __future__ import annotations

import datetime
import math

import pytest
import torch
from toy_task import TRUE_BIAS, TRUE_WEIGHTS, LinearRegressionTask, toy_config

from rgbt_tracking.train.checkpoint import CHECKPOINT_FIELDS, list_checkpoints, load_checkpoint
from rgbt_tracking.train.loop import ShardedSampler, TrainerSettings, run_training
from rgbt_tracking.train.training_log import read_training_log


def _weights(path) -> torch.Tensor:
    state = load_checkpoint(path)["model"]
    return torch.cat([state["1.weight"].reshape(-1), state["1.bias"]])


def test_training_learns_and_writes_log_plot_and_checkpoints(tmp_path):
    task = LinearRegressionTask(toy_config(trainer={"epochs": 5, "checkpoint_every": 2}))
    summary = run_training(task, tmp_path, progress=False)
    assert summary.epochs_done == 5
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "checkpoint_e0002.pth", "checkpoint_e0004.pth", "checkpoint_e0005.pth"]
    assert summary.checkpoint == tmp_path / "checkpoint_e0005.pth"
    records = read_training_log(summary.log)
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5]
    # 64 samples / batch 8 = 8 steps per epoch; log_every=2 -> 4 progress records per epoch.
    assert [r["iterations"] for r in epochs] == [8, 16, 24, 32, 40]
    assert sum(r["kind"] == "progress" for r in records) == 20
    losses = [r["losses"]["total"] for r in epochs]
    assert losses[-1] < 0.2 * losses[0]
    assert epochs[-1]["validation"]["val_mse"] < 0.2 * epochs[0]["validation"]["val_mse"]
    # StepLR(2, 0.5): lr 0.2, 0.2, 0.1, 0.1, 0.05 during epochs 1..5.
    assert [r["lr"]["main"] for r in epochs] == pytest.approx(
        [0.2, 0.2, 0.1, 0.1, 0.05])
    assert summary.last_losses["total"] == pytest.approx(losses[-1])
    assert summary.plot is not None and summary.plot.stat().st_size > 1000
    # The learned weights approach the generating ones.
    learned = _weights(summary.checkpoint)
    target = torch.tensor(list(TRUE_WEIGHTS) + [TRUE_BIAS], dtype=torch.float32)
    assert torch.linalg.norm(learned - target) < 0.5 * torch.linalg.norm(target)


def test_checkpoint_holds_every_field(tmp_path):
    task = LinearRegressionTask(toy_config(trainer={"epochs": 1}))
    summary = run_training(task, tmp_path, progress=False)
    data = load_checkpoint(summary.checkpoint)
    assert set(CHECKPOINT_FIELDS) <= set(data)
    assert data["format"] == 1 and data["task"] == "toy_linear" and data["epoch"] == 1
    assert data["config"] == toy_config(trainer={"epochs": 1})
    assert set(data["model"]) == {"1.weight", "1.bias"}
    assert set(data["optimizers"]) == {"main"} and set(data["schedulers"]) == {"main"}
    assert data["optimizers"]["main"]["state"][0]["step"] == 8    # Adam steps
    assert data["metadata"] == {"toy": True, "rank": 0}
    assert data["rng"]["seed"] == 3 and isinstance(data["rng"]["torch"], torch.Tensor)
    assert datetime.datetime.fromisoformat(data["created"]).tzinfo is not None
    assert data["torch_version"] == torch.__version__


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    task = LinearRegressionTask(toy_config(trainer={"epochs": 1}))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        run_training(task, tmp_path, resume=True, progress=False)
    run_training(task, tmp_path, progress=False)
    before = (tmp_path / "checkpoint_e0001.pth").read_bytes()
    with pytest.raises(ValueError, match=f"{tmp_path}.*already holds"):
        run_training(task, tmp_path, progress=False)
    assert (tmp_path / "checkpoint_e0001.pth").read_bytes() == before
    # A log alone (a run that died before its first checkpoint) is protected too.
    (tmp_path / "checkpoint_e0001.pth").unlink()
    with pytest.raises(ValueError, match="training_log.jsonl"):
        run_training(task, tmp_path, progress=False)


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    sections = {"model": {"dropout": 0.2}, "trainer": {"epochs": 4, "checkpoint_every": 2}}
    whole = run_training(LinearRegressionTask(toy_config(**sections)), tmp_path / "whole",
                         progress=False)
    # Interrupted after epoch 3: its log record exists, its checkpoint does not.
    part = tmp_path / "part"
    run_training(LinearRegressionTask(toy_config(model={"dropout": 0.2},
                                                 trainer={"epochs": 3,
                                                          "checkpoint_every": 2})),
                 part, progress=False)
    (part / "checkpoint_e0003.pth").unlink()
    resumed = run_training(LinearRegressionTask(toy_config(**sections)), part, resume=True,
                           progress=False)
    assert resumed.epochs_done == 4
    assert torch.equal(_weights(resumed.checkpoint), _weights(whole.checkpoint))
    ours, theirs = (load_checkpoint(s.checkpoint) for s in (resumed, whole))
    for key, value in theirs["optimizers"]["main"]["state"][0].items():
        assert torch.equal(ours["optimizers"]["main"]["state"][0][key], value)
    assert ours["schedulers"] == theirs["schedulers"]
    log = [r for r in read_training_log(resumed.log) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert [r["iterations"] for r in log] == [8, 16, 24, 32]
    expected = [r for r in read_training_log(whole.log) if r["kind"] == "epoch"]
    assert [r["losses"] for r in log] == [r["losses"] for r in expected]


def test_resume_refuses_another_model_configuration(tmp_path):
    run_training(LinearRegressionTask(toy_config(trainer={"epochs": 1})), tmp_path,
                 progress=False)
    changed = LinearRegressionTask(toy_config(trainer={"epochs": 2}, model={"dropout": 0.5}))
    with pytest.raises(ValueError, match="checkpoint_e0001.pth.*'model' configuration"):
        run_training(changed, tmp_path, resume=True, progress=False)


class _DivergingTask(LinearRegressionTask):
    def compute_losses(self, model, batch):
        losses = super().compute_losses(model, batch)
        losses["total"] = losses["total"] * math.inf
        return losses


def test_non_finite_loss_stops_training_and_names_the_epoch(tmp_path):
    with pytest.raises(RuntimeError, match="total is not finite in epoch 1"):
        run_training(_DivergingTask(toy_config(trainer={"epochs": 2})), tmp_path,
                     progress=False)


def test_too_small_training_set_is_an_error(tmp_path):
    task = LinearRegressionTask(toy_config(data={"samples": 5}))
    with pytest.raises(ValueError, match="5 samples, fewer than batch_size 8"):
        run_training(task, tmp_path, progress=False)


def test_iterations_per_epoch_caps_the_steps(tmp_path):
    task = LinearRegressionTask(toy_config(trainer={"epochs": 1, "iterations_per_epoch": 3}))
    summary = run_training(task, tmp_path, progress=False)
    assert read_training_log(summary.log)[-1]["iterations"] == 3


@pytest.mark.parametrize("trainer, message", [
    ({"batch_size": 2}, "lacks trainer.epochs"),
    ({"epochs": 2, "batch_size": 0}, "trainer.batch_size must be an integer >= 1"),
    ({"epochs": "2", "batch_size": 2}, "trainer.epochs must be an integer"),
    ({"epochs": 2, "batch_size": 2, "grad_clip": -1}, "trainer.grad_clip"),
])
def test_trainer_settings_are_checked(trainer, message):
    with pytest.raises(ValueError, match=message):
        TrainerSettings.from_config({"trainer": trainer})


def test_progress_bar_shows_the_running_loss(tmp_path, capsys):
    run_training(LinearRegressionTask(toy_config(trainer={"epochs": 1})), tmp_path)
    err = capsys.readouterr().err
    assert "epoch 1/1 loss" in err and "8/8" in err


def test_sharded_sampler_splits_one_permutation_into_disjoint_shares():
    shares = [list(ShardedSampler(11, rank, 3, seed=5)) for rank in range(3)]
    assert all(len(share) == 3 for share in shares)
    merged = [index for group in zip(*shares) for index in group]
    assert len(set(merged)) == 9 and set(merged) <= set(range(11))
    single = list(ShardedSampler(11, 0, 1, seed=5))
    assert merged == single[:9]          # rank r takes positions r, r+3, ...
    later = ShardedSampler(11, 0, 1, seed=5)
    later.set_epoch(1)
    assert list(later) != single and sorted(later) == list(range(11))


def test_a_configuration_that_cannot_be_checkpointed_fails_before_training(tmp_path):
    config = toy_config()
    config["data"]["transform"] = object()
    with pytest.raises(ValueError, match=r"config\.data\.transform: object"):
        run_training(LinearRegressionTask(config), tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
