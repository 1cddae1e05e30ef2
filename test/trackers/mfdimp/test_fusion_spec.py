"""Each fusion level is wired as Table 1 of the mfDiMP paper says."""
import pytest
import torch

from rgbt_tracking.trackers.mfdimp.fusion_spec import parse_fusion
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet

ROWS = [
    # (params, backbones, classifier branches, iou input)
    ({"fusion": "none", "modality": "rgb"}, ("rgb",), ("rgb",), "rgb"),
    ({"fusion": "none", "modality": "thermal"}, ("thermal",), ("thermal",), "thermal"),
    ({"fusion": "pixel"}, ("rgbt",), ("rgbt",), "rgbt"),
    ({"fusion": "response", "iou_input": "rgb"}, ("rgb", "thermal"), ("rgb", "thermal"), "rgb"),
    ({"fusion": "response", "iou_input": "thermal"}, ("rgb", "thermal"), ("rgb", "thermal"),
     "thermal"),
    ({"fusion": "feature", "classifier_input": "fused", "iou_input": "rgb"},
     ("rgb", "thermal"), ("fused",), "rgb"),
    ({"fusion": "feature", "classifier_input": "fused", "iou_input": "thermal"},
     ("rgb", "thermal"), ("fused",), "thermal"),
    ({"fusion": "feature", "classifier_input": "rgb", "iou_input": "fused"},
     ("rgb", "thermal"), ("rgb",), "fused"),
    ({"fusion": "feature", "classifier_input": "thermal", "iou_input": "fused"},
     ("rgb", "thermal"), ("thermal",), "fused"),
    ({"fusion": "feature", "classifier_input": "fused", "iou_input": "fused"},
     ("rgb", "thermal"), ("fused",), "fused"),
]


@pytest.mark.parametrize("params,backbones,branches,iou", ROWS)
def test_table_1_rows(params, backbones, branches, iou):
    spec = parse_fusion(params)
    assert spec.backbones == backbones
    assert spec.classifier_inputs == branches
    assert spec.iou_input == iou


def test_auto_iou_input_is_the_levels_best_row():
    assert parse_fusion({"fusion": "feature", "iou_input": "auto"}).iou_input == "fused"
    assert parse_fusion({"fusion": "response", "iou_input": "auto"}).iou_input == "thermal"


@pytest.mark.parametrize("params,message", [
    ({"fusion": "late"}, "fusion must be one of"),
    ({"fusion": "response", "iou_input": "fused"}, "iou_input"),
    ({"fusion": "feature", "classifier_input": "rgb", "iou_input": "thermal"}, "'fused'"),
    ({"fusion": "none", "modality": "depth"}, "modality"),
])
def test_undefined_combinations_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        parse_fusion(params)


def _net(params):
    return MfDiMPNet(parse_fusion(params), "resnet18",
                     classifier={"feature_dim": 32, "num_dist_bins": 10}).eval()


def test_feature_level_concatenates_block_features_into_each_component():
    net = _net({"fusion": "feature", "classifier_input": "fused", "iou_input": "fused"})
    assert net.classifiers["fused"].feature_extractor[0].in_channels == 2 * 256
    assert net.iou_net.conv3_1r[0].in_channels == 2 * 128
    assert net.iou_net.conv4_1r[0].in_channels == 2 * 256
    rgb = torch.rand(1, 3, 64, 64) * 255
    thermal = torch.rand(1, 1, 64, 64) * 255
    with torch.no_grad():
        feats = net.extract_backbone_features(rgb, thermal)
        fused = net.select(feats, "fused", "layer3")
        assert torch.equal(fused[:, :256], feats["rgb"]["layer3"])
        assert torch.equal(fused[:, 256:], feats["thermal"]["layer3"])
        # a missing camera: its half of the fused features is zeros (documented default)
        only_rgb = net.extract_backbone_features(rgb, None)
        fused_missing = net.select(only_rgb, "fused", "layer3")
        assert torch.count_nonzero(fused_missing[:, 256:]) == 0


def test_pixel_level_uses_one_four_channel_backbone():
    net = _net({"fusion": "pixel"})
    assert list(net.backbones) == ["rgbt"]
    assert net.backbones["rgbt"].conv1.in_channels == 4


def test_response_level_sums_the_branch_scores():
    net = _net({"fusion": "response", "iou_input": "thermal"})
    assert set(net.classifiers) == {"rgb", "thermal"}
    assert net.iou_net.conv3_1r[0].in_channels == 128
    train = torch.rand(2, 1, 3, 64, 64) * 255, torch.rand(2, 1, 1, 64, 64) * 255
    test = torch.rand(1, 1, 3, 64, 64) * 255, torch.rand(1, 1, 1, 64, 64) * 255
    boxes = torch.tensor([20.0, 22.0, 20.0, 18.0]).repeat(2, 1, 1)
    proposals = torch.tensor([20.0, 22.0, 20.0, 18.0]).repeat(1, 1, 3, 1)
    with torch.no_grad():
        out = net(*train[:1], train[1], *test[:1], test[1], boxes, proposals, num_iter=1)
        total = out["scores"][-1]
        parts = []
        for name in ("rgb", "thermal"):
            clf = net.classifiers[name]
            images = {"rgb": (train[0], test[0]), "thermal": (train[1], test[1])}[name]
            tr = clf.extract_features(net.extract_backbone_features(
                *( (images[0].reshape(-1, 3, 64, 64), None) if name == "rgb"
                   else (None, images[0].reshape(-1, 1, 64, 64)) ))[name]["layer3"])
            te = clf.extract_features(net.extract_backbone_features(
                *( (images[1].reshape(-1, 3, 64, 64), None) if name == "rgb"
                   else (None, images[1].reshape(-1, 1, 64, 64)) ))[name]["layer3"])
            f, _ = clf.predict_filter(tr.reshape(2, 1, *tr.shape[1:]), boxes, num_iter=1)
            parts.append(clf.scores(te.reshape(1, 1, *te.shape[1:]), f))
    assert torch.allclose(total, parts[0] + parts[1], atol=1e-5)
    assert out["iou"].shape == (1, 1, 3)
