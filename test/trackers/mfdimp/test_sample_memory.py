"""DiMP's sample memory: decaying weights, replacement, protected first-frame samples."""
import pytest
import torch

from rgbt_tracking.trackers.mfdimp.sample_memory import SampleMemory


def test_weights_decay_and_the_first_frame_is_kept():
    memory = SampleMemory(capacity=6, min_initial_weight=0.3)
    memory.initialise(torch.zeros(2, 1, 2, 2), torch.zeros(2, 4))
    for step in range(20):
        slot = memory.add(torch.full((1, 2, 2), float(step + 1)), torch.ones(4), 0.2)
        assert slot >= 2     # the two first-frame samples are never replaced
        features, boxes, weights = memory.samples()
        assert float(weights.sum()) == pytest.approx(1.0)
        assert float(weights[:2].sum()) >= 0.3 - 1e-6
    assert memory.count == 6
    # the newest sample has the largest weight among the later ones
    newest = int(torch.nonzero(features[:, 0, 0, 0] == 20.0)[0])
    assert weights[newest] == weights[2:].max()
    # the oldest later samples were replaced: values 1..16 are gone
    assert set(features[2:, 0, 0, 0].tolist()) == {17.0, 18.0, 19.0, 20.0}


def test_capacity_must_exceed_the_initial_samples():
    with pytest.raises(ValueError, match="do not fit"):
        SampleMemory(3).initialise(torch.zeros(3, 1, 1, 1), torch.zeros(3, 4))
