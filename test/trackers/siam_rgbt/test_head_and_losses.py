"""SiamBAN head (depth-wise correlation, shapes) and losses against direct computations."""
import math

import pytest
import torch

from rgbt_tracking.trackers.siam_rgbt.head import BANHead, xcorr_depthwise
from rgbt_tracking.trackers.siam_rgbt.losses import iou_loss, select_cross_entropy_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_xcorr_depthwise_matches_a_direct_sum():
    torch.manual_seed(0)
    search, kernel = torch.randn(2, 3, 6, 5), torch.randn(2, 3, 2, 3)
    out = xcorr_depthwise(search, kernel)
    assert out.shape == (2, 3, 5, 3)
    b, c, i, j = 1, 2, 3, 1
    direct = sum(search[b, c, i + u, j + v] * kernel[b, c, u, v]
                 for u in range(2) for v in range(3))
    assert float(out[b, c, i, j]) == pytest.approx(float(direct), abs=1e-5)
    with pytest.raises(ValueError, match="agree"):
        xcorr_depthwise(search, torch.randn(2, 4, 2, 2))


def test_ban_head_gives_25x25_maps_for_siamban_sizes_and_positive_distances():
    head = BANHead(16, 8, feature_stride=8).eval()
    cls, loc = head(torch.randn(1, 16, 7, 7), torch.randn(1, 16, 31, 31))
    assert cls.shape == (1, 2, 25, 25) and loc.shape == (1, 4, 25, 25)
    assert bool((loc > 0).all())


def test_cross_entropy_averages_positives_and_negatives_separately():
    logits = torch.zeros(1, 2, 1, 3)
    logits[0, 1, 0, 0] = math.log(3.0)     # p(fg) = 3/4 at the positive
    logits[0, 1, 0, 1] = math.log(1 / 4)   # p(bg) = 4/5 at the negative
    labels = torch.tensor([[[1, 0, -1]]])
    expected = 0.5 * -math.log(0.75) + 0.5 * -math.log(0.8)
    assert float(select_cross_entropy_loss(logits, labels)) == pytest.approx(expected, rel=1e-5)
    only_negative = torch.tensor([[[0, -1, -1]]])
    assert float(select_cross_entropy_loss(logits, only_negative)) == pytest.approx(
        0.5 * -math.log(0.25), rel=1e-5)


def test_iou_loss_against_a_hand_computed_pair_of_boxes():
    # target box 10 x 10 around the point (l=t=r=b=5); prediction 6 x 10 (l=1, r=5, t=b=5):
    # intersection 60, union 100 -> -log(61/101); a second point is ignored (label 0).
    target = torch.tensor([5.0, 5.0, 5.0, 5.0]).reshape(1, 4, 1, 1).repeat(1, 1, 1, 2)
    pred = torch.tensor([1.0, 5.0, 5.0, 5.0]).reshape(1, 4, 1, 1).repeat(1, 1, 1, 2)
    pred[0, :, 0, 1] = 100.0
    labels = torch.tensor([[[1, 0]]])
    assert float(iou_loss(pred, target, labels)) == pytest.approx(-math.log(61 / 101), rel=1e-6)
    assert float(iou_loss(target, target, labels)) == pytest.approx(0.0, abs=1e-7)
    assert float(iou_loss(pred, target, torch.zeros(1, 1, 2, dtype=torch.long))) == 0.0
