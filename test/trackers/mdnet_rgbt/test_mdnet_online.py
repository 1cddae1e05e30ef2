import numpy as np
import pytest
import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.core.box import iou
from rgbt_tracking.nn.roi_align import roi_align
from rgbt_tracking.trackers.mdnet_rgbt.online import network_images
from rgbt_tracking.core.images import validate_pair
from rgbt_tracking.trackers.mdnet_rgbt.scene import boxes_to_rois, plan_crop

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIGHT = dict(fc_channels=64, embedding_dim=8, target_px=40, roi_padding=2.2, n_samples=32,
             n_pos_init=16, n_neg_init=32, n_bbreg=16, maxiter_init=30, lr_init=0.003, batch_pos=8,
             batch_neg=8, batch_neg_cand=16, n_pos_update=8, n_neg_update=16,
             maxiter_update=1, long_interval=2, max_crop_px=200)
BOX = (50.0, 40.0, 24.0, 20.0)


def _pair(shift=0):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 60, (112, 128, 3)).astype(np.uint8)
    thermal = rng.integers(0, 60, (112, 128)).astype(np.uint8)
    rgb[40:60, 50 + shift:74 + shift] = (220, 180, 40)
    thermal[40:60, 50 + shift:74 + shift] = 230
    return rgb, thermal


@pytest.fixture(scope="module")
def tracker():
    t = build_tracker("m5l", **LIGHT)
    t.initialize(*_pair(), BOX)
    return t


def test_batched_scoring_equals_per_candidate_scoring(tracker):
    images = network_images(validate_pair(*_pair()))
    samples = tracker.sampler(np.array(BOX), 12, (128, 112), np.random.default_rng(3))
    with torch.no_grad():
        batched = tracker.head(tracker.features(images, samples))
        crop = plan_crop(samples, BOX[2:], tracker.target_px, tracker.roi_padding, 200)
        maps = tracker.net.conv_features(tracker._crop_tensor(images[0], crop),
                                         tracker._crop_tensor(images[1], crop))
        fused = tracker.net.fuse(*maps)
        rois = torch.from_numpy(boxes_to_rois(crop.boxes_to_crop(samples), tracker.roi_padding))
        for i in range(len(samples)):
            alone = roi_align(fused, rois[i:i + 1].float(), 3, 0.125, reduction="max")
            torch.testing.assert_close(tracker.head(alone.flatten(1))[0], batched[i],
                                       rtol=1e-4, atol=1e-4)


def test_same_frame_twice_gives_the_same_box_with_a_fixed_seed():
    results = []
    for _ in range(2):
        t = build_tracker("m5l", **LIGHT)
        t.initialize(*_pair(), BOX)
        results.append(t.track(*_pair()))
    assert results[0].box == results[1].box and results[0].score == results[1].score
    assert iou(np.array(results[0].box), np.array(BOX)) > 0.3
    assert results[0].state == "tracking"


def test_missing_modality_is_uncertain_and_learns_nothing():
    t = build_tracker("m5l", **LIGHT)
    t.initialize(*_pair(), BOX)
    weights = [p.detach().clone() for p in t.head.parameters()]
    memories = (len(t.positives), len(t.negatives))
    rgb, _ = _pair(2)
    for _ in range(2):          # the second frame would be a long-term update
        result = t.track(rgb, None)
        assert result.state == "uncertain" and result.info["missing_thermal"] == 1.0
        assert result.info["updated"] == 0.0
    assert (len(t.positives), len(t.negatives)) == memories
    for before, after in zip(weights, t.head.parameters()):
        assert torch.equal(before, after)
    assert iou(np.array(result.box), np.array([52.0, 40.0, 24.0, 20.0])) > 0.3


def test_long_term_update_and_failure_widen_the_search():
    t = build_tracker("m5l", **LIGHT)
    t.initialize(*_pair(), BOX)
    first = t.track(*_pair(1))
    second = t.track(*_pair(2))
    assert first.info["updated"] == 0.0 and second.info["updated"] == 2.0   # long_interval 2
    assert len(t.positives) == 3
    failing = build_tracker("m5l", success_threshold=1e9, **LIGHT)
    failing.initialize(*_pair(), BOX)
    result = failing.track(*_pair(1))
    assert result.state == "uncertain" and result.info["updated"] == 1.0   # short-term
    assert result.info["search_trans"] == pytest.approx(0.6 * 1.1)
    for _ in range(12):
        result = failing.track(*_pair(1))
    assert result.info["search_trans"] == pytest.approx(1.5)               # trans_limit
