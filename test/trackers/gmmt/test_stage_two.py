"""Stage two: stage-one parts frozen (parameters and batch-norm statistics), losses, cGAN."""
import numpy as np
import pytest
import torch
from conftest import SMALL_GENERATIVE, SMALL_MODEL

from rgbt_tracking.trackers.gmmt.network import GMMTNet, GMMTStageTwo
from rgbt_tracking.trackers.gmmt.training import GMMTTraining

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(checkpoint, kind):
    from rgbt_tracking.train.registry import load_training_config

    config = load_training_config("gmmt_generated")
    config["stage_one_checkpoint"] = str(checkpoint)
    config["model"] = {**SMALL_MODEL, "fusion_model": kind, "generative": dict(SMALL_GENERATIVE)}
    config["trainer"].update({"batch_size": 2, "iterations_per_epoch": 1})
    return config


def _batch():
    torch.manual_seed(1)
    labels = torch.full((2, 9, 9), -1, dtype=torch.long)
    labels[:, 4, 4] = 1
    labels[:, 0, :] = 0
    return {"template_rgb": torch.rand(2, 3, 63, 63) * 255,
            "template_thermal": torch.rand(2, 1, 63, 63) * 255,
            "search_rgb": torch.rand(2, 3, 127, 127) * 255,
            "search_thermal": torch.rand(2, 1, 127, 127) * 255,
            "labels": labels, "distances": torch.full((2, 4, 9, 9), 12.0)}


def _frozen_state(model: GMMTStageTwo):
    return {f"{index}.{key}": value.detach().clone()
            for index, module in enumerate(model.frozen_modules())
            for key, value in module.state_dict().items()}


@pytest.mark.parametrize("kind", ["raw", "cgan", "diffusion"])
def test_a_stage_two_step_leaves_every_stage_one_tensor_unchanged(stage_one_checkpoint, kind):
    task = GMMTTraining(_config(stage_one_checkpoint, kind))
    model = task.build_model()
    model.train()
    assert not any(m.training for m in model.frozen_modules())
    assert all(not p.requires_grad for m in model.frozen_modules() for p in m.parameters())
    before = _frozen_state(model)
    head_before = model.net.head.cls.head[1].weight.detach().clone()
    optimizers = task.build_optimizers(model)
    assert set(optimizers) == ({"main", "discriminator"} if kind == "cgan" else {"main"})
    losses = task.train_step(model, _batch(), optimizers, lambda m: None, 10.0)
    after = _frozen_state(model)
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(head_before, model.net.head.cls.head[1].weight)
    assert np.isfinite(losses["total"]) and losses["gen"] >= 0.0
    assert losses["total"] == pytest.approx(losses["track"] + losses["gen"], rel=1e-5)
    if kind == "cgan":
        assert "discriminator" in losses


def test_stage_one_weights_reach_the_gmmt_network_and_the_fusion_is_not_kept(
        stage_one_checkpoint):
    from rgbt_tracking.train.checkpoint import load_checkpoint

    model = GMMTTraining(_config(stage_one_checkpoint, "raw")).build_model()
    stored = load_checkpoint(stage_one_checkpoint)["model"]
    for key in ("backbone_rgb.conv1.weight", "neck_thermal.1.running_var"):
        assert torch.equal(model.net.state_dict()[key], stored[key])
    assert torch.equal(model.original_fusion.state_dict()["block.0.weight"],
                       stored["fusion.block.0.weight"])
    assert isinstance(model.net, GMMTNet) and not hasattr(model.net, "fusion")


def test_missing_stage_one_checkpoint_is_named(tmp_path):
    absent = tmp_path / "nowhere" / "checkpoint_e0001.pth"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        GMMTTraining(_config(absent, "raw")).build_model()


def test_architecture_mismatch_with_stage_one_is_an_error(stage_one_checkpoint):
    config = _config(stage_one_checkpoint, "raw")
    config["model"]["neck_channels"] = 16
    with pytest.raises(ValueError, match="neck_channels"):
        GMMTTraining(config).build_model()
