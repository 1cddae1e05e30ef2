"""VGG-M conv1-3 (RT-MDNet): geometry, LRN formula, weight loading and thermal adaptation."""
from __future__ import annotations

import pytest
import torch

from rgbt_tracking.nn.vgg_m import (RECEPTIVE_FIELD, TOTAL_STRIDE, VGGMBackbone, adapt_first_layer,
                                    build_vgg_m, conv3_size, load_vgg_m_weights)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rt_mdnet_like_state(generator: torch.Generator) -> dict:
    """Tensors with the names and shapes of RT-MDNet's shared layers (plus its fc4/fc5)."""
    shapes = {"conv1.0.weight": (96, 3, 7, 7), "conv1.0.bias": (96,),
              "conv2.0.weight": (256, 96, 5, 5), "conv2.0.bias": (256,),
              "conv3.0.weight": (512, 256, 3, 3), "conv3.0.bias": (512,),
              "fc4.0.weight": (512, 4608), "fc4.0.bias": (512,),
              "fc5.1.weight": (512, 512), "fc5.1.bias": (512,)}
    return {key: torch.randn(shape, generator=generator) * 0.01 for key, shape in shapes.items()}


@pytest.mark.parametrize("size, cells", [(107, 5), (75, 1), (83, 2), (203, 17)])
def test_conv3_size_matches_the_network(size, cells):
    # stride 8 and receptive field 75: S pixels give (S - 75) // 8 + 1 cells when S - 75 is
    # a multiple of 8; 107 (MDNet's crop) gives 5 x 5 with RT-MDNet's dense conv3.
    assert conv3_size(size) == cells
    net = VGGMBackbone().eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 512, cells, cells)


def test_stride_and_receptive_field_by_hand():
    # r = 1 + 6*1 (conv1) + 2*2 (pool1) + 4*4 (conv2) + 6*8 (conv3: 3x3 dilated 3 = 7 wide)
    assert 1 + 6 + 2 * 2 + 4 * 4 + 6 * 8 == RECEPTIVE_FIELD == 75
    assert TOTAL_STRIDE == 2 * 2 * 2
    with pytest.raises(ValueError, match="too small"):
        conv3_size(74)


def test_receptive_field_and_stride_of_a_cell():
    # The gradient of conv3 cell (0, 0) w.r.t. the input is non-zero exactly on 75 x 75 px,
    # and that of cell (0, 1) on the window shifted by 8 px. The max pooling sends gradient
    # to one pixel of its window only, so it is swapped for an average pooling of the same
    # geometry (same receptive field, gradient to every pixel of the window).
    net = VGGMBackbone().eval()
    net.conv1[3] = torch.nn.AvgPool2d(3, stride=2)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.constant_(module.weight, 0.01)
            torch.nn.init.constant_(module.bias, 0.1)
    image = torch.ones(1, 3, 91, 91, requires_grad=True)
    out = net(image)
    for column, start in ((0, 0), (1, 8)):
        (grad,) = torch.autograd.grad(out[0, 0, 0, column], image, retain_graph=True)
        support = grad[0, 0].abs() > 0
        rows = support.any(dim=1).nonzero().flatten()
        cols = support.any(dim=0).nonzero().flatten()
        assert (rows.min().item(), rows.max().item()) == (0, 74)
        assert (cols.min().item(), cols.max().item()) == (start, start + 74)


def test_lrn_is_mdnets_formula():
    x = torch.randn(2, 8, 3, 3) * 20
    lrn = VGGMBackbone().conv1[2]
    squares = torch.nn.functional.pad(x ** 2, (0, 0, 0, 0, 2, 2))
    window = sum(squares[:, shift:shift + 8] for shift in range(5))
    want = x / (2.0 + 1e-4 * window) ** 0.75
    torch.testing.assert_close(lrn(x), want)


def test_loads_rt_mdnet_checkpoint_layout(tmp_path):
    state = rt_mdnet_like_state(torch.Generator().manual_seed(0))
    path = tmp_path / "rt_mdnet.pth"
    torch.save({"shared_layers": state}, path)
    net = build_vgg_m(3, path)
    torch.testing.assert_close(net.conv3[0].weight, state["conv3.0.weight"])
    torch.testing.assert_close(net.conv1[0].bias, state["conv1.0.bias"])


def test_loads_prefixed_whole_model_and_custom_prefix(tmp_path):
    state = rt_mdnet_like_state(torch.Generator().manual_seed(1))
    whole = {f"layers.{key}": value for key, value in state.items()}
    whole["branches.0.1.weight"] = torch.zeros(2, 512)
    torch.save(whole, tmp_path / "model.pth")
    net = VGGMBackbone()
    report = load_vgg_m_weights(net, tmp_path / "model.pth")
    assert sorted(report.loaded) == sorted(k for k in state if k.startswith("conv"))
    two_stream = {f"layers_i.{key}": value for key, value in state.items()}
    torch.save(two_stream, tmp_path / "two_stream.pth")
    load_vgg_m_weights(net, tmp_path / "two_stream.pth", prefix="layers_i.")
    torch.testing.assert_close(net.conv2[0].weight, state["conv2.0.weight"])


def test_thermal_network_equals_rgb_network_on_replicated_grey(tmp_path):
    state = rt_mdnet_like_state(torch.Generator().manual_seed(2))
    torch.save(state, tmp_path / "vggm.pth")
    rgb, thermal = build_vgg_m(3, tmp_path / "vggm.pth").eval(), build_vgg_m(1, tmp_path / "vggm.pth").eval()
    torch.testing.assert_close(thermal.conv1[0].weight[:, 0], state["conv1.0.weight"].sum(dim=1))
    grey = torch.rand(1, 1, 83, 91, generator=torch.Generator().manual_seed(3)) * 255 - 128
    with torch.no_grad():
        torch.testing.assert_close(thermal(grey), rgb(grey.expand(1, 3, 83, 91)), rtol=1e-4, atol=1e-5)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        build_vgg_m(3, tmp_path / "nowhere.pth")
    (tmp_path / "imagenet-vgg-m.mat").write_bytes(b"MATLAB 5.0")
    with pytest.raises(ValueError, match="MATLAB"):
        build_vgg_m(3, tmp_path / "imagenet-vgg-m.mat")
    torch.save({"conv1.0.weight": torch.zeros(96, 3, 5, 5)}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="shape"):
        build_vgg_m(3, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="in_channels"):
        VGGMBackbone(4)
    with pytest.raises(ValueError, match="cannot adapt"):
        adapt_first_layer({"conv1.0.weight": torch.zeros(96, 2, 7, 7)}, 1)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        VGGMBackbone()(torch.zeros(1, 1, 80, 80))
