import pytest
import torch

from rgbt_tracking.nn.roi_align import roi_align
from rgbt_tracking.trackers.mdnet_rgbt.model_loading import network_from_config, seeded_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"fc_channels": 16, "embedding_dim": 8}


@pytest.mark.parametrize("config, channels", [({"fusion": "m5l"}, 1024),
                                              ({"fusion": "cmi", "interaction": "pixel"}, 2048),
                                              ({"fusion": "cmi", "interaction": "both"}, 3072),
                                              ({"fusion": "concat"}, 1024)])
def test_shapes_per_fusion(config, channels):
    net = seeded_network({**SMALL, **config}, 0, num_domains=3).eval()
    rgb, thermal = torch.randn(1, 3, 91, 99), torch.randn(1, 1, 91, 99)
    rois = torch.tensor([[0, 0.0, 0.0, 16.0, 16.0], [0, 8.0, 4.0, 20.0, 12.0]])
    with torch.no_grad():
        out = net(rgb, thermal, rois)
        hidden = out["hidden"]
        every = net.all_branch_logits(hidden)
        chosen = net.branch_logits(hidden, torch.tensor([2, 1]))
    assert net.fused_channels == channels
    assert out["features"].shape == (2, channels * 9) and out["logits"].shape == (2, 2)
    assert every.shape == (2, 3, 2)
    torch.testing.assert_close(chosen, torch.stack([every[0, 2], every[1, 1]]))


def test_missing_modality_gives_zero_maps_and_pooling_matches_roi_align():
    net = seeded_network({**SMALL, "fusion": "concat"}, 0).eval()
    with torch.no_grad():
        rgb_map, thermal_map = net.conv_features(torch.randn(1, 3, 91, 91), None)
        assert thermal_map.shape == rgb_map.shape and not thermal_map.any()
        fused = net.fuse(rgb_map, thermal_map)
        rois = torch.tensor([[0, 0.0, 0.0, 24.0, 16.0]] * 300)
        pooled = net.pool(fused, rois)     # in chunks of 256
        direct = roi_align(fused, rois[:1], 3, 0.125, reduction="max").flatten(1)
    torch.testing.assert_close(pooled[299:], direct)
    with pytest.raises(ValueError, match="both modalities"):
        net.conv_features(None, None)


def test_embedding_only_for_m5l_and_config_errors():
    m5l = network_from_config({**SMALL, "fusion": "m5l"})
    m5l.eval()
    f_r, f_t = m5l.embed(torch.randn(4, 512 * 9), torch.randn(4, 512 * 9))
    assert f_r.shape == f_t.shape == (4, 8)
    cmi = network_from_config({**SMALL, "fusion": "cmi", "interaction": "relation"})
    with pytest.raises(ValueError, match="embedding"):
        cmi.embed(torch.randn(2, 512 * 9), torch.randn(2, 512 * 9))
    with pytest.raises(ValueError, match="unknown keys"):
        network_from_config({"fusion": "m5l", "layers": 3})
    with pytest.raises(ValueError, match="fusion"):
        network_from_config({"fusion": "sum"})


def test_seeded_network_is_reproducible_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a = seeded_network({**SMALL, "fusion": "m5l"}, 5)
    b = seeded_network({**SMALL, "fusion": "m5l"}, 5)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(a.fc4[0].weight, b.fc4[0].weight)
