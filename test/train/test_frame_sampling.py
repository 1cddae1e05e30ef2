"""Train/test frame sets (DiMP causal mode), Siamese pairs, sequence choice."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracking.train.frame_sampling import pick_sequence, sample_frame_sets, sample_pair


def test_frame_sets_respect_order_gap_and_validity():
    rng = np.random.default_rng(0)
    valid = rng.random(200) > 0.3
    valid[50:90] = False
    for _ in range(300):
        train, test = sample_frame_sets(valid, rng, num_train=3, num_test=2, max_gap=10)
        assert len(train) == 3 and len(test) == 2
        assert all(valid[i] for i in train + test)
        assert max(train) < min(test)
        base = max(train)            # the base is the last train frame
        assert min(train) >= base - 10 and max(test) <= base + 10
        if valid[base + 1:base + 11].sum() >= 2:
            assert len(set(test)) == 2   # enough frames: no repeats


def test_frame_sets_repeat_frames_only_when_too_few_are_valid():
    valid = np.zeros(30, dtype=bool)
    valid[[10, 12]] = True           # one base (10) with one valid frame after it
    rng = np.random.default_rng(1)
    for _ in range(20):
        train, test = sample_frame_sets(valid, rng, num_train=3, num_test=3, max_gap=5)
        assert train == [10, 10, 10] and test == [12, 12, 12]


def test_frame_sets_impossible_give_none():
    rng = np.random.default_rng(2)
    assert sample_frame_sets(np.zeros(20, dtype=bool), rng, 1, 1, 5) is None
    assert sample_frame_sets(np.array([True]), rng, 1, 1, 5) is None
    far = np.zeros(40, dtype=bool)
    far[[3, 20]] = True              # valid frames 17 apart, gap 10
    assert sample_frame_sets(far, rng, 2, 2, 10) is None
    assert sample_frame_sets(far, rng, 2, 2, 17) == ([3, 3], [20, 20])


def test_frame_set_arguments_are_checked():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="bool"):
        sample_frame_sets(np.ones(5), rng, 1, 1, 2)
    with pytest.raises(ValueError, match="num_test must be an integer >= 1"):
        sample_frame_sets(np.ones(5, dtype=bool), rng, 1, 0, 2)
    with pytest.raises(ValueError, match="1-D"):
        sample_pair(np.ones((2, 2), dtype=bool), rng, 2)


def test_pairs_are_two_valid_frames_within_the_gap_in_both_orders():
    rng = np.random.default_rng(4)
    valid = rng.random(100) > 0.5
    orders = set()
    for _ in range(300):
        template, search = sample_pair(valid, rng, max_gap=4)
        assert valid[template] and valid[search] and template != search
        assert abs(template - search) <= 4
        orders.add(search > template)
    assert orders == {True, False}
    lonely = np.zeros(30, dtype=bool)
    lonely[[2, 20]] = True
    assert sample_pair(lonely, rng, 10) is None
    assert sample_pair(lonely, rng, 18) in ((2, 20), (20, 2))


def test_sequences_are_picked_in_proportion_to_their_length():
    rng = np.random.default_rng(5)
    picks = np.bincount([pick_sequence([100, 300, 0, 600], rng) for _ in range(4000)],
                        minlength=4) / 4000
    assert picks[2] == 0
    np.testing.assert_allclose(picks, [0.1, 0.3, 0.0, 0.6], atol=0.03)
    with pytest.raises(ValueError, match="length 0"):
        pick_sequence([0, 0], rng)
    with pytest.raises(ValueError, match=">= 0"):
        pick_sequence([3, -1], rng)
