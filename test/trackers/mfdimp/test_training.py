"""mfDiMP training: samples, losses, learning rates, checkpoints the tracker loads."""
import copy

import numpy as np
import pytest
import torch
import yaml

from rgbt_tracking import build_tracker
from rgbt_tracking.core.config import find_config_file
from rgbt_tracking.train.loop import run_training
from rgbt_tracking.trackers.mfdimp.training import (
    MfDiMPTraining,
    gaussian_labels,
    hinge_classification_loss,
)

GENERATED = {"generated": {"count": 2, "seed": 300, "width": 160, "height": 128,
                           "num_frames": 50, "target_size": [20, 14]}}


def tiny_config():
    config = yaml.safe_load(find_config_file("training/mfdimp_generated.yaml").read_text())
    config["trainer"].update(epochs=1, iterations_per_epoch=1, batch_size=2)
    config["model"]["network"].update(feature_dim=32, num_dist_bins=10)
    config["model"]["iou_net"] = {"pred_input_dim": [16, 16], "pred_inter_dim": [16, 16]}
    config["data"].update(sources=[GENERATED], val_sources=[], output_size=64,
                          num_proposals=4)
    config["validation"] = {"tracking_sources": [], "tracker": {}}
    return config


def test_samples_keep_the_box_on_the_target():
    task = MfDiMPTraining(tiny_config())
    dataset = task.build_dataset("train")
    item = dataset[0]
    assert item["train_rgb"].shape == (3, 3, 64, 64)
    assert item["test_thermal"].shape == (3, 1, 64, 64)
    assert item["test_proposals"].shape == (3, 4, 4)
    assert torch.all((item["proposal_iou"] >= 0.1) & (item["proposal_iou"] <= 1.0))
    # the generated target is warm: the thermal crop is hotter inside the box than around
    for image, box in zip(item["train_thermal"], item["train_boxes"]):
        x, y, w, h = (int(round(float(v))) for v in box)
        inside = image[0, max(y, 0):y + h, max(x, 0):x + w].mean()
        assert inside > image[0].mean()
    # same index and epoch: same sample; another epoch: another
    assert torch.equal(dataset[0]["train_boxes"], item["train_boxes"])
    dataset.epoch = 1
    assert not torch.equal(dataset[0]["train_rgb"], item["train_rgb"])


def test_loss_definitions():
    boxes = torch.tensor([[16.0, 16.0, 16.0, 16.0]])
    labels = gaussian_labels(boxes, (5, 5), 16.0, 4, 0.5)
    assert labels.shape == (1, 5, 5)
    assert float(labels[0, 2, 2]) == pytest.approx(1.0)   # centre 24 px: 24 / 16 + 0.5 (even filter) = cell 2
    scores = torch.full((1, 5, 5), -0.3)
    # background (label < threshold) with negative scores costs nothing
    background = labels < 0.05
    loss = hinge_classification_loss(scores, labels, 0.05)
    expected = ((torch.where(background, torch.zeros_like(scores), scores) - labels) ** 2).mean()
    assert float(loss) == pytest.approx(float(expected))


def test_learning_rates_per_component_and_the_thermal_factor():
    config = tiny_config()
    task = MfDiMPTraining(config)
    model = task.build_model()
    groups = task.parameter_groups(model)
    rgb_ids = {id(p) for p in model.backbones["rgb"].parameters()}
    thermal_ids = {id(p) for p in model.backbones["thermal"].parameters()}
    lr_of = {}
    for group in groups:
        for p in group["params"]:
            lr_of[id(p)] = group["lr"]
    rgb_lr = {lr_of[i] for i in rgb_ids if i in lr_of}
    thermal_lr = {lr_of[i] for i in thermal_ids if i in lr_of}
    assert rgb_lr == {config["optim"]["lr_backbone"]}
    assert thermal_lr == {config["optim"]["lr_backbone"] * 10.0}
    assert lr_of[id(model.iou_net.iou_predictor.weight)] == config["optim"]["lr_iou_net"]
    # DiMP fine-tunes only the listed backbone layers
    config["optim"]["backbone_trainable_layers"] = ["layer3"]
    frozen = MfDiMPTraining(config).build_model()
    assert not frozen.backbones["rgb"].conv1.weight.requires_grad
    assert frozen.backbones["rgb"].layer3[0].conv1.weight.requires_grad


def test_a_short_run_writes_a_checkpoint_the_tracker_loads(tmp_path):
    torch.manual_seed(0)
    task = MfDiMPTraining(tiny_config())
    summary = run_training(task, tmp_path / "run", progress=False)
    assert summary.checkpoint.is_file() and summary.log.is_file()
    tracker = build_tracker("mfdimp", checkpoint=str(summary.checkpoint),
                            image_sample_size=64)
    saved = torch.load(summary.checkpoint, map_location="cpu", weights_only=False)["model"]
    loaded = tracker.net.state_dict()
    assert set(saved) == set(loaded)
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert tracker.net.classifiers["fused"].filter_initializer.filter_conv.out_channels == 32
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)
    thermal = rng.integers(0, 255, (100, 120), dtype=np.uint8)
    tracker.initialize(rgb, thermal, (50, 40, 16, 12))
    assert tracker.track(rgb, thermal).response.shape == (5, 5)


def test_one_step_changes_the_trained_parts_only():
    config = tiny_config()
    config["optim"]["backbone_trainable_layers"] = ["layer3"]
    task = MfDiMPTraining(config)
    model = task.build_model().train()
    before = copy.deepcopy(model.state_dict())
    dataset = task.build_dataset("train")
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    losses = task.train_step(model, batch, task.build_optimizers(model), lambda m: None)
    assert set(losses) >= {"total", "classification", "iou"}
    after = model.state_dict()
    assert torch.equal(before["backbones.rgb.conv1.weight"], after["backbones.rgb.conv1.weight"])
    assert not torch.equal(before["backbones.rgb.layer3.0.conv1.weight"],
                           after["backbones.rgb.layer3.0.conv1.weight"])
    assert not torch.equal(before["classifiers.fused.filter_optimizer.log_step_length"],
                           after["classifiers.fused.filter_optimizer.log_step_length"])
