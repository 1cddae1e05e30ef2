import pytest
import torch

from rgbt_tracking import build_tracker, list_trackers
from rgbt_tracking.core.config import merge_overrides
from rgbt_tracking.core.tracker import Tracker


def test_list_and_build():
    assert "dcf" in list_trackers()
    tracker = build_tracker("dcf", device="cpu", fusion="feature")
    assert isinstance(tracker, Tracker) and tracker.params["fusion"] == "feature"


def test_unknown_tracker_lists_available():
    with pytest.raises(ValueError, match="available: .*dcf"):
        build_tracker("no_such_tracker")


def test_unknown_parameter_lists_valid_keys():
    with pytest.raises(ValueError, match="unknown parameter 'fusoin'.*valid keys"):
        build_tracker("dcf", fusoin="pixel")


def test_bad_fusion_level_is_rejected():
    with pytest.raises(ValueError, match="fusion must be one of"):
        build_tracker("dcf", fusion="late")


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        build_tracker("dcf", device="cuda")


def test_nested_overrides_merge_key_by_key():
    merged = merge_overrides({"a": {"x": 1, "y": 2}, "b": 3}, {"a": {"y": 5}})
    assert merged == {"a": {"x": 1, "y": 5}, "b": 3}
    with pytest.raises(ValueError, match="a mapping"):
        merge_overrides({"a": {"x": 1}}, {"a": 4})


def test_track_before_initialize():
    with pytest.raises(RuntimeError, match="before initialize"):
        build_tracker("dcf").track(None, torch.zeros(1).numpy())
