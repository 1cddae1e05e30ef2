"""The multi-modal multi-margin structured loss against a hand-computed example (Eq. 4-15)."""
from __future__ import annotations

import math

import pytest
import torch

from rgbt_tracking.trackers.m5l.mmsl_loss import (MMSLLoss, ModalityEmbeddings, anchor_distances,
                                                  mine_confusing, mmsl_loss, pair_loss)

# alpha = 1.6, beta = 0.1, m = 0.2, delta = m = 0.2; raw 2-D embeddings (normalize=False) so
# that every distance is a 3-4-5-style number.
#
# RGB, anchor (0, 0):
#   positives (1, 0) d=1.0 | (1.2, 1.6) d=2.0 | (0, 1.8) d=1.8
#   negatives (3, 4) d=5.0 | (1.2, 0.9) d=1.5 | (0.6, 0.8) d=1.0 | (0, 2) d=2.0
# Eq. 4: P*^r = {d > 1.6} = {2.0, 1.8};  N*^r = {d < 1.8} = {1.5, 1.0}
# Eq. 6, positive: |d - 1.5| + |d - 1.6|:  2.0 -> 0.5 + 0.4 = 0.9;  1.8 -> 0.3 + 0.2 = 0.5
# Eq. 8: L_P^r = (0.9 + 0.5) / 2 = 0.7
# Eq. 6, negative: |1.8 - d| + |1.9 - d|:  1.5 -> 0.3 + 0.4 = 0.7;  1.0 -> 0.8 + 0.9 = 1.7
# Eq. 9: L_N^r = (0.7 + 1.7) / 2 = 1.2
# Eq. 13: L_rgb = 1.9
#
# Thermal, anchor (1, 1):
#   positives (1, 2.7) d=1.7 | (1.3, 1.4) d=0.5
#   negatives (2.5, 3) d=2.5 | (1, 2.9) d=1.9 | (2.05, 2.4) d=sqrt(1.05^2 + 1.4^2)=1.75
# Eq. 5: P*^t = {1.7};  N*^t = {1.75}  (1.9 >= 1.8 is a normal negative)
# Eq. 10: L_P^t = |1.7 - 1.5| + |1.7 - 1.6| = 0.3
# Eq. 11: L_N^t = |1.8 - 1.75| + |1.9 - 1.75| = 0.2
# Eq. 14: L_t = 0.5
#
# Eq. 12: min d^t(N_t) = 1.75; RGB positives: max(d - 1.75 + 0.2, 0) = 0, 0.45, 0.25 -> mean 0.7 / 3
#         min d^r(N_r) = 1.0; thermal positives: max(d - 1.0 + 0.2, 0) = 0.9, 0 -> mean 0.45
#         L_cross = 0.7 / 3 + 0.45
# Eq. 15: L_MMSL = 1.9 + 0.5 + 0.7 / 3 + 0.45
RGB = ModalityEmbeddings(
    torch.tensor([0.0, 0.0], dtype=torch.float64),
    torch.tensor([[1.0, 0.0], [1.2, 1.6], [0.0, 1.8]], dtype=torch.float64),
    torch.tensor([[3.0, 4.0], [1.2, 0.9], [0.6, 0.8], [0.0, 2.0]], dtype=torch.float64))
THERMAL = ModalityEmbeddings(
    torch.tensor([1.0, 1.0], dtype=torch.float64),
    torch.tensor([[1.0, 2.7], [1.3, 1.4]], dtype=torch.float64),
    torch.tensor([[2.5, 3.0], [1.0, 2.9], [2.05, 2.4]], dtype=torch.float64))


def test_hand_computed_example_every_term():
    terms = mmsl_loss(RGB, THERMAL, normalize=False)
    torch.testing.assert_close(terms["rgb_positive_distances"],
                               torch.tensor([1.0, 2.0, 1.8], dtype=torch.float64))
    torch.testing.assert_close(terms["thermal_negative_distances"],
                               torch.tensor([2.5, 1.9, 1.75], dtype=torch.float64))
    assert terms["rgb_positive_mined"].tolist() == [False, True, True]
    assert terms["rgb_negative_mined"].tolist() == [False, True, True, False]
    assert terms["thermal_positive_mined"].tolist() == [True, False]
    assert terms["thermal_negative_mined"].tolist() == [False, False, True]
    expected = {"rgb_positive": 0.7, "rgb_negative": 1.2, "rgb": 1.9,
                "thermal_positive": 0.3, "thermal_negative": 0.2, "thermal": 0.5,
                "cross": 0.7 / 3 + 0.45, "total": 1.9 + 0.5 + 0.7 / 3 + 0.45}
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, abs=1e-12), key


def test_gradient_pushes_confusing_negatives_out_and_pulls_confusing_positives_in():
    negatives = RGB.negatives.clone().requires_grad_(True)
    positives = RGB.positives.clone().requires_grad_(True)
    terms = mmsl_loss(ModalityEmbeddings(RGB.anchor, positives, negatives), THERMAL, normalize=False)
    terms["rgb_negative"].backward(retain_graph=True)
    # dL_N/dn = (1 / |N*|) * dL/dd * (n - a) / d, dL/dd = -2 below alpha + m:
    # for (0.6, 0.8) at d = 1: 1/2 * -2 * (0.6, 0.8) = (-0.6, -0.8): descent moves it away.
    torch.testing.assert_close(negatives.grad[2], torch.tensor([-0.6, -0.8], dtype=torch.float64))
    assert torch.count_nonzero(negatives.grad[[0, 3]]) == 0     # normal negatives: no gradient
    terms["rgb_positive"].backward()
    # for (1.2, 1.6) at d = 2 above alpha: 1/2 * +2 * (0.6, 0.8): descent pulls it in.
    torch.testing.assert_close(positives.grad[1], torch.tensor([0.6, 0.8], dtype=torch.float64))
    assert torch.count_nonzero(positives.grad[0]) == 0


def test_pair_loss_is_flat_on_the_target_intervals():
    inside_positive = torch.tensor([1.5, 1.55, 1.6], dtype=torch.float64)
    inside_negative = torch.tensor([1.8, 1.85, 1.9], dtype=torch.float64)
    torch.testing.assert_close(pair_loss(inside_positive, True), torch.full((3,), 0.1, dtype=torch.float64))
    torch.testing.assert_close(pair_loss(inside_negative, False), torch.full((3,), 0.1, dtype=torch.float64))
    # below the positive interval (too close): |1.2 - 1.5| + |1.2 - 1.6| = 0.7
    assert pair_loss(torch.tensor(1.2), True).item() == pytest.approx(0.7)


def test_mining_boundaries_are_strict():
    positive, negative = mine_confusing(torch.tensor([1.6, 1.61]), torch.tensor([1.79, 1.8]))
    assert positive.tolist() == [False, True]
    assert negative.tolist() == [True, False]


def test_normalised_distances_by_hand():
    # (2, 0) -> (1, 0); (0, 3) -> (0, 1): sqrt(2); (-1, 0): 2; (3, 3) -> (1, 1)/sqrt 2:
    # |(1 - 1/sqrt2, -1/sqrt2)| = sqrt(2 - sqrt 2)
    anchor = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    samples = torch.tensor([[[0.0, 3.0], [-1.0, 0.0], [3.0, 3.0]]], dtype=torch.float64)
    got = anchor_distances(anchor, samples)[0]
    want = [math.sqrt(2), 2.0, math.sqrt(2 - math.sqrt(2))]
    assert got.tolist() == pytest.approx(want)
    squared = anchor_distances(anchor, samples, squared=True)[0]
    assert squared.tolist() == pytest.approx([w * w for w in want])


def test_empty_mining_sets_give_zero_and_cross_margin_option():
    # every positive close, every negative far: nothing is confusing, and with delta = 0 the
    # cross term is 0 too (max positive 0.5 < min negative 3 in both modalities).
    easy = ModalityEmbeddings(torch.zeros(2), torch.tensor([[0.5, 0.0]]), torch.tensor([[3.0, 0.0]]))
    terms = MMSLLoss(normalize=False, cross_margin=0.0)(easy, easy)
    assert terms["total"].item() == 0.0
    # delta = 2.6: max(0.5 - 3 + 2.6, 0) = 0.1 per modality
    terms = mmsl_loss(easy, easy, normalize=False, cross_margin=2.6)
    assert terms["cross"].item() == pytest.approx(0.2)


def test_frames_are_averaged():
    shifted = ModalityEmbeddings(RGB.anchor + 1, RGB.positives + 1, RGB.negatives + 1)
    stacked_rgb = ModalityEmbeddings(*(torch.stack([a, b]) for a, b in zip(RGB, shifted)))
    stacked_thermal = ModalityEmbeddings(*(torch.stack([t, t]) for t in THERMAL))
    terms = mmsl_loss(stacked_rgb, stacked_thermal, normalize=False)
    # translating a modality leaves its distances unchanged: both frames equal the example
    assert terms["total"].item() == pytest.approx(1.9 + 0.5 + 0.7 / 3 + 0.45)
    assert terms["rgb_negative_mined"].shape == (2, 4)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="positives"):
        mmsl_loss(ModalityEmbeddings(torch.zeros(2), torch.zeros(3, 5), torch.zeros(1, 2)), THERMAL)
    with pytest.raises(ValueError, match="at least one"):
        mmsl_loss(ModalityEmbeddings(torch.zeros(2), torch.zeros(0, 2), torch.zeros(1, 2)), THERMAL)
    with pytest.raises(ValueError, match="beta"):
        MMSLLoss(alpha=0.1, beta=0.2)
    with pytest.raises(ValueError, match="frames"):
        stacked = ModalityEmbeddings(torch.zeros(2, 2), torch.zeros(2, 1, 2), torch.zeros(2, 1, 2))
        mmsl_loss(stacked, THERMAL)
