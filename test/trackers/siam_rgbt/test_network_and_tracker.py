"""Network shapes, fusion, the online tracker and the stage-one training task."""
import numpy as np
import pytest
import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.trackers.siam_rgbt.network import (
    ConcatConvFusion,
    SiamRGBTNet,
    feature_map_size,
    score_map_size,
)
from rgbt_tracking.trackers.siam_rgbt.training import SiamRGBTTraining, warmup_log_factor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"backbone_layer": "layer2", "neck_channels": 16, "head_channels": 16,
         "template_size": 63, "search_size": 127}


def test_feature_and_score_sizes_match_the_network():
    assert feature_map_size(127) == 15 and feature_map_size(255) == 31
    assert score_map_size(127, 255, 7) == 25 and score_map_size(63, 127, 7) == 9
    net = SiamRGBTNet(backbone_layer="layer2", neck_channels=16, head_channels=16).eval()
    with torch.no_grad():
        z_rgb, z_t = net.extract_template(torch.rand(2, 3, 127, 127) * 255,
                                          torch.rand(2, 1, 127, 127) * 255)
        out = net(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 1, 127, 127) * 255,
                  torch.rand(2, 3, 255, 255) * 255, torch.rand(2, 1, 255, 255) * 255)
    assert z_rgb.shape == (2, 16, 7, 7) and z_t.shape == (2, 16, 7, 7)
    assert out["cls"].shape == (2, 2, 25, 25) and out["loc"].shape == (2, 4, 25, 25)


def test_fusion_is_a_convolution_of_the_concatenation():
    fusion = ConcatConvFusion(4).eval()
    a, b = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    conv, bn = fusion.block[0], fusion.block[1]
    expected = torch.relu(bn(torch.nn.functional.conv2d(torch.cat([a, b], 1), conv.weight,
                                                        padding=1)))
    torch.testing.assert_close(fusion(a, b), expected)


def test_missing_modality_features_are_zeros():
    net = SiamRGBTNet(backbone_layer="layer2", neck_channels=8, head_channels=8).eval()
    with torch.no_grad():
        f_rgb, f_thermal = net.extract(None, torch.rand(1, 1, 63, 63) * 255)
    assert f_rgb.shape == f_thermal.shape and float(f_rgb.abs().sum()) == 0.0


def _scene(shift: int = 0):
    rgb = np.full((120, 160, 3), 40, np.uint8)
    thermal = np.full((120, 160), 30, np.uint8)
    rgb[50:70, 60 + shift:90 + shift] = 220
    thermal[50:70, 60 + shift:90 + shift] = 200
    return rgb, thermal


def test_tracker_is_deterministic_and_reports_a_missing_camera():
    tracker = build_tracker("siam_rgbt", **SMALL)
    rgb, thermal = _scene()
    boxes = []
    for _ in range(2):
        tracker.initialize(rgb, thermal, (60, 50, 30, 20))
        result = tracker.track(*_scene(3))
        boxes.append(result.box)
    assert boxes[0] == boxes[1]
    assert result.response.shape == (9, 9) and 0.0 <= result.score <= 1.0
    assert tracker.track(rgb, None).state == "uncertain"
    x, y, w, h = tracker.track(rgb, thermal).box
    assert 0 <= x + w / 2 <= 160 and 10.0 <= w <= 160


def test_learning_rate_factor_warms_up_then_decays_log_linearly():
    optim = {"lr": 0.005, "lr_start": 0.001, "warmup_epochs": 20, "lr_end": 0.00005}
    assert warmup_log_factor(0, optim, 100) == pytest.approx(0.2)
    assert warmup_log_factor(10, optim, 100) == pytest.approx(0.6)
    assert warmup_log_factor(20, optim, 100) == pytest.approx(1.0)
    assert warmup_log_factor(99, optim, 100) == pytest.approx(0.01)
    middle = warmup_log_factor(20 + 79 // 2, optim, 100) * 0.005
    assert middle == pytest.approx(np.sqrt(0.005 * 0.00005), rel=0.05)


def _small_config(tmp_path):
    from rgbt_tracking.train.registry import load_training_config

    config = load_training_config("siam_rgbt_generated")
    config["model"].update({"neck_channels": 16, "head_channels": 16})
    config["data"]["sources"] = [{"generated": {"count": 2, "seed": 3, "width": 160,
                                                "height": 128, "num_frames": 50,
                                                "target_size": [24, 16]}}]
    config["data"]["negative_pair_probability"] = 0.0
    config["trainer"].update({"batch_size": 2, "iterations_per_epoch": 2})
    return config


def test_training_samples_put_positives_on_the_target_and_a_step_lowers_nothing_to_nan(tmp_path):
    task = SiamRGBTTraining(_small_config(tmp_path))
    dataset = task.build_dataset("train")
    item = dataset[0]
    assert item["search_rgb"].shape == (3, 127, 127) and item["template_thermal"].shape == (1, 63, 63)
    labels, box = item["labels"].numpy(), item["search_box"].numpy()
    rows, cols = np.nonzero(labels == 1)
    assert rows.size > 0
    points_x = 63 - 4 * 8 + 8 * cols        # the point grid of a 9x9 map at stride 8
    points_y = 63 - 4 * 8 + 8 * rows
    assert np.all(np.abs(points_x - (box[0] + box[2] / 2)) < box[2] / 4)
    assert np.all(np.abs(points_y - (box[1] + box[3] / 2)) < box[3] / 4)
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    model = task.build_model()
    optimizers = task.build_optimizers(model)
    before = model.head.cls.head[1].weight.detach().clone()
    losses = task.train_step(model, batch, optimizers, lambda m: None, 10.0)
    assert set(losses) == {"total", "cls", "loc"} and np.isfinite(losses["total"])
    assert not torch.equal(before, model.head.cls.head[1].weight)
