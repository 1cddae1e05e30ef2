"""IoU-Net (ATOM / DiMP, mfDiMP Eq. 2): shapes for both backbones, box refinement."""
import pytest
import torch

from rgbt_tracking.trackers.mfdimp.fusion_spec import parse_fusion
from rgbt_tracking.trackers.mfdimp.iou_net import IoUNet, boxes_to_rois, refine_boxes
from rgbt_tracking.trackers.mfdimp.network import MfDiMPNet

torch.manual_seed(0)


def test_boxes_to_rois_numbers_the_images_and_converts_corners():
    boxes = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]])
    rois = boxes_to_rois(boxes)
    assert rois.tolist() == [[0, 1, 2, 4, 6], [1, 5, 6, 12, 14]]


@pytest.mark.parametrize("backbone,dims,size", [("resnet18", (128, 256), 96),
                                                ("resnet50", (512, 1024), 64)])
def test_shapes_at_every_stage(backbone, dims, size):
    net = MfDiMPNet(parse_fusion({"fusion": "feature"}), backbone,
                    classifier={"feature_dim": 64 if backbone == "resnet18" else 128,
                                "num_dist_bins": 10}).eval()
    assert net.iou_net.conv3_1r[0].in_channels == 2 * dims[0]
    assert net.iou_net.conv4_1r[0].in_channels == 2 * dims[1]
    n_train, n_test, n_seq, m = 2, 1, 2, 5
    rgb = torch.rand(n_train, n_seq, 3, size, size) * 255
    thermal = torch.rand(n_train, n_seq, 1, size, size) * 255
    boxes = torch.tensor([size / 3, size / 3, size / 4, size / 5]).repeat(n_train, n_seq, 1)
    proposals = boxes[:1].unsqueeze(2).repeat(1, 1, m, 1)
    with torch.no_grad():
        feats = net.extract_backbone_features(rgb.reshape(-1, 3, size, size),
                                              thermal.reshape(-1, 1, size, size))
        assert feats["rgb"]["layer2"].shape == (n_train * n_seq, dims[0], size // 8, size // 8)
        assert feats["thermal"]["layer3"].shape == (n_train * n_seq, dims[1], size // 16,
                                                    size // 16)
        clf = net.classification_features(feats)["fused"]
        assert clf.shape[1:] == (net.classifiers["fused"].filter_initializer.filter_conv
                                 .in_channels, size // 16, size // 16)
        out = net(rgb, thermal, rgb[:n_test], thermal[:n_test], boxes, proposals, num_iter=2)
    score_side = size // 16 + 1
    assert len(out["scores"]) == 3
    assert out["scores"][0].shape == (n_test, n_seq, score_side, score_side)
    assert out["iou"].shape == (n_test, n_seq, m)


def test_refinement_increases_the_predicted_iou():
    net = IoUNet(input_dim=(8, 16), pred_input_dim=(16, 16), pred_inter_dim=(16, 16)).eval()
    with torch.no_grad():   # a predictor with a clear optimum: larger outputs
        net.iou_predictor.weight.normal_(0.0, 0.5)
    feats = (torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8))
    ref_box = torch.tensor([[40.0, 40.0, 30.0, 30.0]])
    with torch.no_grad():
        modulation = net.modulation(feats, ref_box)
        test = net.test_features(feats)
    start = torch.tensor([[[35.0, 42.0, 28.0, 33.0], [50.0, 30.0, 20.0, 40.0],
                           [20.0, 20.0, 50.0, 40.0]]])
    with torch.no_grad():
        before = net.predict_iou(modulation, test, start)
    refined, after = refine_boxes(net, modulation, test, start, steps=5,
                                  step_length=(0.1, 0.1, 0.1, 0.1))
    assert refined.shape == start.shape and not refined.requires_grad
    assert torch.all(after >= before - 1e-6)
    assert float((after - before).max()) > 0
    with torch.no_grad():   # the returned IoU is the prediction of the returned boxes
        assert torch.allclose(net.predict_iou(modulation, test, refined), after, atol=1e-5)
