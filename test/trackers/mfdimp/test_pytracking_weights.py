"""Loading DiMP weights of the public pytracking release by renaming their parameters."""
import collections

import pytest
import torch

from rgbt_tracking import build_tracker
from rgbt_tracking.trackers.mfdimp.fusion_spec import parse_fusion
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet
from rgbt_tracking.trackers.mfdimp.pytracking_weights import (
    load_pytracking_state_dict,
    map_pytracking_state_dict,
    pytracking_backbone_name,
)


class NetConstructor:
    """Stands for pytracking's pickled constructor (not importable where weights load)."""

    def __init__(self):
        self.fun_name = "dimpnet18"


def dimp18_state_dict(feature_dim=256):
    """A state dict with pytracking DiMP-18 names and shapes, built from our single-modality
    network: feature_extractor.* / classifier.* / bb_regressor.*."""
    net = MfDiMPNet(parse_fusion({"fusion": "none", "modality": "rgb"}), "resnet18",
                    classifier={"feature_dim": feature_dim})
    out = collections.OrderedDict()
    for key, value in net.state_dict().items():
        if key.startswith("backbones.rgb."):
            if ".layer4." in key:
                continue   # pytracking's DiMP stops at layer3
            out["feature_extractor." + key[len("backbones.rgb."):]] = torch.randn_like(
                value.float()).to(value.dtype) if value.is_floating_point() else value
        elif key.startswith("classifiers.rgb."):
            out["classifier." + key[len("classifiers.rgb."):]] = torch.randn_like(value)
        elif key.startswith("iou_net."):
            out["bb_regressor." + key[len("iou_net."):]] = (
                torch.randn_like(value) if value.is_floating_point() else value)
    return out


def test_names_are_those_of_pytracking():
    state = dimp18_state_dict()
    for name in ["feature_extractor.conv1.weight", "feature_extractor.layer3.1.bn2.running_var",
                 "classifier.feature_extractor.0.weight",
                 "classifier.filter_initializer.filter_conv.weight",
                 "classifier.filter_initializer.filter_conv.bias",
                 "classifier.filter_optimizer.log_step_length",
                 "classifier.filter_optimizer.filter_reg",
                 "classifier.filter_optimizer.label_map_predictor.weight",
                 "classifier.filter_optimizer.target_mask_predictor.0.weight",
                 "classifier.filter_optimizer.spatial_weight_predictor.weight",
                 "bb_regressor.conv3_1r.0.weight", "bb_regressor.conv3_1t.1.running_mean",
                 "bb_regressor.fc3_1r.0.weight", "bb_regressor.fc34_3r.0.weight",
                 "bb_regressor.fc3_rt.linear.weight", "bb_regressor.fc4_rt.bn.weight",
                 "bb_regressor.iou_predictor.weight"]:
        assert name in state, name
    assert state["classifier.filter_optimizer.label_map_predictor.weight"].shape == (1, 100, 1, 1)
    assert state["bb_regressor.fc3_rt.linear.weight"].shape == (256, 256 * 5 * 5)
    assert pytracking_backbone_name(state) == "resnet18"


def save_like_pytracking(state, path):
    torch.save({"epoch": 50, "actor_type": "DiMPActor", "net_type": "DiMPnet",
                "net": state, "constructor": NetConstructor(), "net_info": None}, path)


def test_mapping_copies_one_dimp_into_every_branch():
    state = dimp18_state_dict()
    mapped = map_pytracking_state_dict(state, ("rgb", "thermal"), ("rgb", "thermal"))
    assert torch.equal(mapped["backbones.thermal.conv1.weight"],
                       state["feature_extractor.conv1.weight"])
    assert torch.equal(mapped["classifiers.rgb.filter_optimizer.filter_reg"],
                       state["classifier.filter_optimizer.filter_reg"])
    assert torch.equal(mapped["iou_net.iou_predictor.weight"],
                       state["bb_regressor.iou_predictor.weight"])


@pytest.mark.parametrize("fusion", [{"fusion": "none", "modality": "thermal"},
                                    {"fusion": "response", "iou_input": "rgb"}])
def test_tracker_runs_on_pytracking_weights(tmp_path, fusion):
    state = dimp18_state_dict()
    path = tmp_path / "dimp18.pth"
    save_like_pytracking(state, path)
    loaded = load_pytracking_state_dict(path)
    assert set(loaded) == set(state)
    tracker = build_tracker("mfdimp", pytracking_weights=str(path), image_sample_size=96,
                            **fusion)
    assert "pytracking" in tracker.weights_origin
    for branch in tracker.net.classifiers.values():
        assert torch.equal(branch.filter_initializer.filter_conv.weight,
                           state["classifier.filter_initializer.filter_conv.weight"])
    assert torch.equal(tracker.net.iou_net.fc4_rt.linear.weight,
                       state["bb_regressor.fc4_rt.linear.weight"])
    rgb = torch.randint(0, 255, (120, 160, 3), dtype=torch.uint8).numpy()
    thermal = torch.randint(0, 255, (120, 160), dtype=torch.uint8).numpy()
    tracker.initialize(rgb, thermal, (60, 40, 24, 20))
    result = tracker.track(rgb, thermal)
    assert len(result.box) == 4 and result.response is not None


def test_clear_errors(tmp_path):
    missing = tmp_path / "dimp50.pth"
    with pytest.raises(FileNotFoundError, match="dimp50.pth"):
        build_tracker("mfdimp", fusion="none", pytracking_weights=str(missing))
    other = tmp_path / "other.pth"
    torch.save({"net": {"layer.weight": torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match="pytracking DiMP checkpoint"):
        load_pytracking_state_dict(other)
    path = tmp_path / "dimp18.pth"
    save_like_pytracking(dimp18_state_dict(), path)
    with pytest.raises(ValueError, match="single-modality and response-level"):
        build_tracker("mfdimp", fusion="feature", pytracking_weights=str(path))
