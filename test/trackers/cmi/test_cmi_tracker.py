import numpy as np
import pytest

from rgbt_tracking import build_tracker

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIGHT = dict(fc_channels=32, target_px=40, roi_padding=2.2, n_samples=16, n_pos_init=8,
             n_neg_init=16, n_bbreg=8, maxiter_init=2, batch_pos=4, batch_neg=4,
             batch_neg_cand=8, n_pos_update=4, n_neg_update=8, maxiter_update=1,
             max_crop_px=160, key_channels=32)


@pytest.mark.parametrize("mode, channels", [("pixel", 2048), ("relation", 2048), ("both", 3072)])
def test_interaction_modes(mode, channels):
    tracker = build_tracker("cmi", interaction=mode, **LIGHT)
    assert tracker.net.fusion.mode == mode and tracker.net.fused_channels == channels
    assert tracker.net.fusion.key_channels == 32


def test_cmi_tracks_and_reports_a_missing_rgb_image():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 255, (96, 112, 3)).astype(np.uint8)
    thermal = rng.integers(0, 255, (96, 112)).astype(np.uint8)
    tracker = build_tracker("cmi", interaction="pixel", **LIGHT)
    tracker.initialize(rgb, thermal, (40, 30, 20, 16))
    result = tracker.track(None, thermal)
    assert result.state == "uncertain" and result.info["missing_rgb"] == 1.0
    assert np.isfinite(result.box).all()
    with pytest.raises(ValueError, match="interaction|mode"):
        build_tracker("cmi", interaction="channel", **LIGHT)
