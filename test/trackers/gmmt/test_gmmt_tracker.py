"""The GMMT tracker: fixed per-sequence noise (no jitter), sampling steps, checkpoints."""
import numpy as np
import pytest
import torch
from conftest import SMALL_GENERATIVE, SMALL_MODEL

from rgbt_tracking import build_tracker

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scene(shift: int = 0):
    rgb = np.full((120, 160, 3), 40, np.uint8)
    thermal = np.full((120, 160), 30, np.uint8)
    rgb[50:70, 60 + shift:90 + shift] = 220
    thermal[50:70, 60 + shift:90 + shift] = 200
    return rgb, thermal


def _tracker(kind="diffusion", **overrides):
    params = {**SMALL_MODEL, "fusion_model": kind, "generative": dict(SMALL_GENERATIVE)}
    params.update(overrides)
    return build_tracker("gmmt", **params)


def test_the_same_frame_gives_the_same_box_and_the_same_fused_feature():
    tracker = _tracker()
    rgb, thermal = _scene()
    tracker.initialize(rgb, thermal, (60, 50, 30, 20))
    template = tracker.template.clone()
    frame = _scene(4)
    state = (tracker.center, tracker.size)
    first = tracker.track(*frame).box
    tracker.center, tracker.size = state
    second = tracker.track(*frame).box
    assert first == second
    f_rgb, f_thermal = torch.randn(1, 8, 15, 15), torch.randn(1, 8, 15, 15)
    with torch.inference_mode():
        assert torch.equal(tracker._fuse(f_rgb, f_thermal), tracker._fuse(f_rgb, f_thermal))
        tracker.initialize(rgb, thermal, (60, 50, 30, 20))   # a new sequence: a new seed
        assert torch.equal(tracker.template, tracker.template)
    assert not torch.equal(template, tracker.template)


def test_sampling_steps_and_seed_come_from_the_preset():
    tracker = _tracker(generative={"sampling_steps": 3}, sampling_seed=5)
    assert tracker.net.generative.sampling_steps == 3
    rgb, thermal = _scene()
    boxes = []
    for _ in range(2):
        torch.manual_seed(0)              # the same untrained weights; the noise is the seed's
        same = _tracker(generative={"sampling_steps": 3}, sampling_seed=5)
        same.initialize(rgb, thermal, (60, 50, 30, 20))
        boxes.append(same.track(*_scene(2)).box)
    assert boxes[0] == boxes[1]


def test_raw_fusion_tracks_and_checkpoint_weights_are_the_net_entries(tmp_path,
                                                                       stage_one_checkpoint):
    from rgbt_tracking.train.checkpoint import build_checkpoint, save_checkpoint
    from rgbt_tracking.train.registry import load_training_config
    from rgbt_tracking.trackers.gmmt.training import GMMTTraining

    config = load_training_config("gmmt_generated")
    config["stage_one_checkpoint"] = str(stage_one_checkpoint)
    config["model"] = {**SMALL_MODEL, "fusion_model": "raw",
                       "generative": dict(SMALL_GENERATIVE)}
    model = GMMTTraining(config).build_model()
    path = save_checkpoint(tmp_path, build_checkpoint("gmmt", config, 1, model, {}, {}, {}, {}))
    tracker = build_tracker("gmmt", checkpoint=str(path))
    assert tracker.net.fusion_model == "raw" and not hasattr(tracker.net, "original_fusion")
    assert torch.equal(tracker.net.head.loc.head[1].weight, model.net.head.loc.head[1].weight)
    rgb, thermal = _scene()
    tracker.initialize(rgb, thermal, (60, 50, 30, 20))
    assert tracker.track(*_scene(3)).response.shape == (9, 9)
    with pytest.raises(FileNotFoundError):
        build_tracker("gmmt", checkpoint=str(tmp_path / "absent.pth"))
