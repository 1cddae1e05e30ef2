import numpy as np
import pytest
import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.train.checkpoint import build_checkpoint, save_checkpoint
from rgbt_tracking.trackers.mdnet_rgbt.model_loading import seeded_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIGHT = dict(fc_channels=32, embedding_dim=8, target_px=40, roi_padding=2.2, n_samples=16,
             n_pos_init=8, n_neg_init=16, n_bbreg=8, maxiter_init=2, batch_pos=4, batch_neg=4,
             batch_neg_cand=8, n_pos_update=4, n_neg_update=8, maxiter_update=1,
             max_crop_px=160)
MODEL = {"fusion": "m5l", "fc_channels": 32, "embedding_dim": 8, "target_px": 40,
         "roi_padding": 2.2}


def _pair():
    rng = np.random.default_rng(1)
    return (rng.integers(0, 255, (96, 112, 3)).astype(np.uint8),
            rng.integers(0, 255, (96, 112)).astype(np.uint16))


def test_m5l_builds_with_attention_fusion_and_tracks_a_16_bit_thermal():
    tracker = build_tracker("m5l", **LIGHT)
    assert tracker.net.fusion_name == "m5l" and "untrained" in tracker.weights_origin
    tracker.initialize(*_pair(), (40, 30, 20, 16))
    result = tracker.track(*_pair())
    assert np.isfinite(result.box).all() and result.state in ("tracking", "uncertain")
    only_rgb = tracker.track(_pair()[0], None)
    assert only_rgb.state == "uncertain" and only_rgb.info["missing_thermal"] == 1.0


def test_checkpoint_weights_reach_the_tracker(tmp_path):
    net = seeded_network(MODEL, 3, num_domains=4)
    with torch.no_grad():
        net.fc4[0].bias.fill_(0.25)
    config = {"model": MODEL, "trainer": {"epochs": 1, "batch_size": 1}}
    path = save_checkpoint(tmp_path, build_checkpoint("m5l", config, 1, net, {}, {}, {},
                                                      {"tracker": "m5l"}))
    tracker = build_tracker("m5l", checkpoint=str(path), **{k: v for k, v in LIGHT.items()
                                                            if k not in MODEL})
    assert tracker.net.num_domains == 4 and "checkpoint" in tracker.weights_origin
    torch.testing.assert_close(tracker.net.fc4[0].bias, torch.full((32,), 0.25))
    assert tracker.target_px == 40
    cmi = save_checkpoint(tmp_path / "cmi", build_checkpoint("cmi", config, 1, net, {}, {}, {}, {}))
    with pytest.raises(ValueError, match="expected 'm5l'"):
        build_tracker("m5l", checkpoint=str(cmi))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_tracker("m5l", checkpoint=str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError):
        build_tracker("m5l", vggm_weights=str(tmp_path / "vggm.pth"))
