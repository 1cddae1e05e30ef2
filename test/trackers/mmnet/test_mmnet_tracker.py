"""The online procedure of mmnet: outputs, thermal-only input, missing frames, weights."""
import logging

import numpy as np
import pytest
import torch

from rgbt_tracking import build_tracker, list_trackers
from rgbt_tracking.data.synthetic import generate_sequence

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"channels": [8, 16, 16, 16, 8], "crop_size": 159, "num_classes": 2}


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(num_frames=50, width=192, height=160, target_size=(24, 16), seed=5)


def test_registered_and_tracks_with_the_summed_response(sequence):
    assert "mmnet" in list_trackers()
    tracker = build_tracker("mmnet", **SMALL)
    assert tracker.weights_origin.startswith("untrained")
    tracker.initialize(None, sequence.thermal[0], sequence.boxes[0])
    for i in range(1, 4):
        result = tracker.track(None, sequence.thermal[i])
        assert np.isfinite(result.box).all() and result.box[2] > 0
        assert result.state == "tracking"
        assert result.response.dtype == np.float32 and result.response.shape == (5, 5)
        assert result.score == pytest.approx(float(result.response.max()))


def test_classification_branch_is_never_run(sequence, monkeypatch):
    tracker = build_tracker("mmnet", **SMALL)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the classification branch ran while tracking")

    monkeypatch.setattr(tracker.net, "classify", refuse)
    monkeypatch.setattr(tracker.net.classifier, "forward", refuse)
    tracker.initialize(None, sequence.thermal[0], sequence.boxes[0])
    tracker.track(None, sequence.thermal[1])


def test_rgb_is_ignored_and_said_once(sequence, caplog):
    with_rgb = build_tracker("mmnet", **SMALL)
    without = build_tracker("mmnet", **SMALL)
    with caplog.at_level(logging.INFO, logger="rgbt_tracking.trackers.mmnet"):
        with_rgb.initialize(sequence.rgb[0], sequence.thermal[0], sequence.boxes[0])
        a = [with_rgb.track(sequence.rgb[i], sequence.thermal[i]) for i in (1, 2)]
    without.initialize(None, sequence.thermal[0], sequence.boxes[0])
    b = [without.track(None, sequence.thermal[i]) for i in (1, 2)]
    assert [r.box for r in a] == [r.box for r in b]
    notes = [r for r in caplog.records if "RGB image is ignored" in r.getMessage()]
    assert len(notes) == 1 and notes[0].name == "rgbt_tracking.trackers.mmnet"


def test_missing_thermal(sequence):
    tracker = build_tracker("mmnet", **SMALL)
    with pytest.raises(ValueError, match="thermal image"):
        tracker.initialize(sequence.rgb[0], None, sequence.boxes[0])
    tracker.initialize(None, sequence.thermal[0], sequence.boxes[0])
    first = tracker.track(None, sequence.thermal[1])
    templates = [t.clone() for t in tracker.templates]
    lost = tracker.track(sequence.rgb[2], None)
    assert lost.state == "lost" and lost.score == 0.0 and lost.box == first.box
    assert all(torch.equal(a, b) for a, b in zip(templates, tracker.templates))
    assert tracker.track(None, sequence.thermal[2]).state == "tracking"


def test_sixteen_bit_thermal_is_stretched_like_eight_bit(sequence):
    eight = build_tracker("mmnet", **SMALL)
    sixteen = build_tracker("mmnet", **SMALL)
    frames = [t.astype(np.uint16) * 40 + 1000 for t in sequence.thermal[:3]]
    eight.initialize(None, sequence.thermal[0], sequence.boxes[0])
    sixteen.initialize(None, frames[0], sequence.boxes[0])
    a = eight.track(None, sequence.thermal[1]).box
    b = sixteen.track(None, frames[1]).box
    assert np.allclose(a, b, atol=3.0)


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        build_tracker("mmnet", checkpoint=str(tmp_path / "nothere.pth"))
