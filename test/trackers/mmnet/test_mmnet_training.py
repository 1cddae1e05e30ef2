"""MMNet training: samples, class labels, strategies (frozen parts), checkpoints."""
import copy

import numpy as np
import pytest
import torch
import yaml

from rgbt_tracking import build_tracker
from rgbt_tracking.core.config import find_config_file
from rgbt_tracking.train.checkpoint import build_checkpoint, save_checkpoint
from rgbt_tracking.train.loop import run_training
from rgbt_tracking.trackers.mmnet.training import (MMNetPairs, MMNetTraining,
                                                   frozen_parameter_names,
                                                   open_labelled_sources, sequence_class)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL_GEN = {"count": 1, "width": 160, "height": 128, "num_frames": 50,
             "target_size": [20, 14]}


def tiny_config():
    config = yaml.safe_load(find_config_file("training/mmnet_generated.yaml").read_text())
    config["trainer"].update(epochs=1, iterations_per_epoch=1, batch_size=2)
    config["model"].update(channels=[8, 16, 16, 16, 8], crop_size=159)
    config["data"]["sources"] = [
        {"generated": {**SMALL_GEN, "seed": 300, "target_size": [16, 12]},
         "class": "small_vehicle", "domain": "thermal"},
        {"generated": {**SMALL_GEN, "seed": 301, "target_size": [24, 16]},
         "class": "large_vehicle", "domain": "thermal"},
        {"generated": {**SMALL_GEN, "seed": 302, "target_size": [20, 14]},
         "class": None, "domain": "grayscale"}]
    config["validation"] = {"tracking_sources": [], "tracker": {}}
    return config


class SquareSequence:
    """A bright square moving on a dark thermal background (exact ground truth)."""

    name = "square_A_001"

    def __init__(self, count=12):
        self._boxes = np.array([[40.0 + 3 * i, 50.0 + 2 * i, 20.0, 14.0] for i in range(count)])

    def __len__(self):
        return len(self._boxes)

    @property
    def boxes(self):
        return self._boxes

    def frame(self, index):
        thermal = np.full((120, 160), 20, dtype=np.uint8)
        x, y, w, h = self._boxes[index].astype(int)
        thermal[y:y + h, x:x + w] = 220
        return None, thermal


def test_samples_put_the_target_at_the_labelled_offset():
    config = tiny_config()
    sequence = SquareSequence()
    dataset = MMNetPairs([(sequence, "thermal", 1)], config["data"], config["model"], 0.0,
                         length=6, seed=0)
    for index in range(6):
        item = dataset[index]
        assert item["exemplar"].shape == (1, 159, 159) and item["search"].shape == (1, 159, 159)
        assert int(item["class"]) == 1 and float(item["grayscale"]) == 0.0
        search = item["search"][0].numpy()
        rows, cols = np.nonzero(search > 120)                  # the square's pixels
        centre = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
        expected = 79.5 + 8 * item["target_offset"].numpy()    # crop centre + offset cells
        np.testing.assert_allclose(centre, expected, atol=1.0)
        rows, cols = np.nonzero(item["exemplar"][0].numpy() > 120)   # centred up to the
        np.testing.assert_allclose([cols.mean() + 0.5, rows.mean() + 0.5], [79.5, 79.5],
                                   atol=2.0)     # crop's whole-pixel rounding (x2.3 zoom)
    assert float(dataset[0]["target_offset"].abs().max()) > 0.3   # the search is jittered
    assert torch.equal(dataset[3]["search"], dataset[3]["search"])   # reproducible


def test_grayscale_samples_come_from_the_rgb_image():
    config = tiny_config()
    config["multi_domain"]["grayscale_fraction"] = 1.0
    item = MMNetTraining(config).build_dataset("train")[0]
    assert float(item["grayscale"]) == 1.0 and int(item["class"]) == -1


def test_class_labels_from_names_and_unknown_classes():
    assert sequence_class("car_S_003") == "car"
    spec = [{"generated": {**SMALL_GEN, "seed": 1}}]     # name "synthetic-seed1-..."
    with pytest.raises(ValueError, match="sequence 'synthetic-seed1-.*name prefix"):
        open_labelled_sources(spec, ["car"])
    with pytest.raises(ValueError, match="not in data.classes"):
        open_labelled_sources([{"generated": {**SMALL_GEN, "seed": 1}, "class": "boat"}],
                              ["car"])
    labelled = open_labelled_sources([{"generated": {**SMALL_GEN, "seed": 1}, "class": "car",
                                       "domain": "grayscale"}], ["person", "car"])
    assert [(d, c) for _, d, c in labelled] == [("grayscale", 1)]
    with pytest.raises(ValueError, match="domain"):
        open_labelled_sources([{"generated": {**SMALL_GEN, "seed": 1}, "domain": "rgb"}], [])


def test_finetuning_freezes_conv1_to_3_and_the_fine_grained_branch(tmp_path):
    config = tiny_config()
    config["multi_domain"]["strategy"] = "scratch"
    stage1 = MMNetTraining(config).build_model()      # stands for the grayscale VID stage
    path = save_checkpoint(tmp_path, build_checkpoint("mmnet", config, 1, stage1, {}, {}, {},
                                                      {}))
    config["multi_domain"].update(strategy="finetune", init_checkpoint=str(path))
    task = MMNetTraining(config)
    model = task.build_model().train()
    saved = torch.load(path, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    frozen = frozen_parameter_names(model, "finetune")
    assert "backbone.conv3.0.weight" in frozen and "fanet.fuse.weight" in frozen
    assert "backbone.conv4.0.weight" not in frozen
    before = copy.deepcopy(model.state_dict())
    batch = torch.utils.data.default_collate([task.build_dataset("train")[i] for i in (0, 1)])
    task.train_step(model, batch, task.build_optimizers(model), lambda m: None)
    after = model.state_dict()
    for key in before:
        if key.startswith(("backbone.conv1.", "backbone.conv2.", "backbone.conv3.", "fanet.",
                           "adjust_fin.")):
            assert torch.equal(before[key], after[key]), key      # weights and BN statistics
    assert not torch.equal(before["backbone.conv4.0.weight"], after["backbone.conv4.0.weight"])
    config["multi_domain"]["init_checkpoint"] = ""
    with pytest.raises(ValueError, match="init_checkpoint"):
        MMNetTraining(config).build_model()


def test_mix_training_freezes_the_classifier_only():
    config = tiny_config()
    model = MMNetTraining(config).build_model()
    assert frozen_parameter_names(model, "mix") == ["classifier.weight", "classifier.bias"]
    assert not model.classifier.weight.requires_grad and model.backbone.conv4[0].weight.requires_grad
    config["model"]["num_classes"] = 5
    with pytest.raises(ValueError, match="num_classes"):
        MMNetTraining(config).build_model()


def test_a_short_run_writes_a_checkpoint_the_tracker_loads(tmp_path):
    config = tiny_config()
    config["multi_domain"]["strategy"] = "scratch"
    summary = run_training(MMNetTraining(config), tmp_path / "run", progress=False)
    assert set(summary.last_losses) >= {"total", "dis", "fin", "cls"}
    tracker = build_tracker("mmnet", checkpoint=str(summary.checkpoint))
    saved = torch.load(summary.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in tracker.net.state_dict().items())
    assert tracker.net.crop_size == 159                  # the checkpoint's architecture wins
    rng = np.random.default_rng(0)
    thermal = rng.integers(0, 255, (100, 120), dtype=np.uint8)
    tracker.initialize(None, thermal, (50, 40, 16, 12))
    assert tracker.track(None, thermal).response.shape == (5, 5)
