"""Backbone geometry and the network's branches."""
import pytest
import torch

from rgbt_tracking.trackers.mmnet.backbone import AlexNetBackbone, conv5_size
from rgbt_tracking.trackers.mmnet.model_loading import network_from_config, seeded_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"channels": [8, 16, 16, 16, 8], "crop_size": 159, "template_cells": 6,
        "num_classes": 3}


def test_unpadded_alexnet_sizes_and_stride():
    assert conv5_size(255) == 22 and conv5_size(175) == 12
    with pytest.raises(ValueError, match="87 \\+ 8k"):
        conv5_size(256)
    backbone = AlexNetBackbone([8, 16, 16, 16, 8]).eval()
    conv3, conv5 = backbone(torch.zeros(1, 1, 255, 255))
    assert conv3.shape == (1, 16, 26, 26) and conv5.shape == (1, 8, 22, 22)
    # total stride 8: moving the input by 8 px moves conv5 by one cell
    image = torch.rand(1, 1, 183, 183)
    _, a = backbone(image[..., :175, :175])
    _, b = backbone(image[..., 8:183, :175])
    torch.testing.assert_close(a[..., 1:, :], b[..., :-1, :])
    with pytest.raises(ValueError, match="even"):
        AlexNetBackbone([8, 15, 16, 16, 8])


def test_branches_share_one_grid_and_centre():
    torch.manual_seed(0)
    # a weak ridge penalty: with eval-mode batch norm of an untrained network the features
    # are small, and lambda = 10 would flatten the maps
    net = network_from_config({**TINY, "cf_regularization": 1e-3}).eval()
    assert net.response_size == 5
    z = torch.rand(2, 1, 159, 159) * 255
    out = net(z, z)
    assert out["dis"].shape == (2, 1, 5, 5) and out["fin"].shape == (2, 1, 5, 5)
    assert out["logits"].shape == (2, 3)
    # the exemplar matched against itself peaks at the centre in both branches
    for key in ("dis", "fin"):
        flat = int(out[key][0, 0].argmax())
        assert (flat // 5, flat % 5) == (2, 2)
    with pytest.raises(ValueError, match="unknown keys"):
        network_from_config({**TINY, "depth": 3})


def test_seeded_networks_are_reproducible_and_leave_the_global_generator_alone():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a, b = seeded_network(TINY, 3), seeded_network(TINY, 3)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    c = seeded_network(TINY, 4)
    assert not torch.equal(a.backbone.conv3[0].weight, c.backbone.conv3[0].weight)
