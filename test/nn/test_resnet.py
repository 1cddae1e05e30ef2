"""ResNet trunks: output shapes and strides, torchvision naming, v1.5 blocks, input helpers."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rgbt_tracking.nn.resnet import (IMAGENET_MEAN, IMAGENET_STD, Bottleneck, ResNet,
                                     adapt_state_dict_in_channels, build_resnet,
                                     expand_first_conv_weight, normalize_image, resnet18, resnet50,
                                     thermal_to_three_channels)

ALL_LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4")
CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048)}


def halve(size: int, times: int) -> int:
    """Output length of `times` stride-2 stages (7x7/pad 3 conv, 3x3/pad 1 pool or conv)."""
    for _ in range(times):
        size = (size - 1) // 2 + 1
    return size


@pytest.fixture(scope="module", params=["resnet18", "resnet50"])
def trunk(request) -> ResNet:
    torch.manual_seed(0)
    return build_resnet(request.param, output_layers=ALL_LAYERS).eval()


@pytest.mark.parametrize("height, width", [(288, 288), (97, 130)])
def test_every_output_layer_has_the_documented_shape(trunk, height, width):
    with torch.no_grad():
        outputs = trunk(torch.randn(1, 3, height, width))
    assert list(outputs) == list(ALL_LAYERS)
    for index, name in enumerate(ALL_LAYERS):
        stages = index + 1   # conv1: 1 stride-2 stage, layer1: 2 (max pool), layerN: N + 1
        expected = (1, CHANNELS[trunk.arch][index], halve(height, stages), halve(width, stages))
        assert tuple(outputs[name].shape) == expected, name
        assert trunk.out_channels[name] == CHANNELS[trunk.arch][index]
        assert trunk.strides[name] == 2 ** (index + 1)
    if height == 288:
        assert outputs["layer3"].shape[-1] == 18 and outputs["layer4"].shape[-1] == 9


def test_forward_stops_after_the_deepest_requested_layer():
    net = resnet18(output_layers=("layer2",)).eval()
    ran = []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        getattr(net, name).register_forward_hook(lambda module, inputs, output, name=name: ran.append(name))
    outputs = net(torch.randn(1, 3, 64, 64))
    assert list(outputs) == ["layer2"] and ran == ["layer1", "layer2"]
    assert "layer4.1.conv2.weight" in net.state_dict()   # built even though not run
    conv1_only = resnet18(output_layers=("conv1",))
    conv1_only.layer1.register_forward_hook(lambda *args: ran.append("again"))
    assert tuple(conv1_only(torch.randn(2, 3, 32, 32))["conv1"].shape) == (2, 64, 16, 16)
    assert "again" not in ran


def test_state_dict_uses_torchvision_names_and_no_fc():
    net18, net50 = resnet18(), resnet50()
    r18, r50 = net18.state_dict(), net50.state_dict()
    for key in ("conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer4.1.bn2.running_var",
                "layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias"):
        assert key in r18, key
    for key in ("layer3.5.conv3.weight", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var",
                "layer4.2.bn3.weight"):
        assert key in r50, key
    assert "layer1.0.downsample.0.weight" not in r18          # 64 -> 64, stride 1: no projection
    assert not any(key.startswith("fc.") for key in list(r18) + list(r50))
    # torchvision's totals with fc: 62 / 161 parameter tensors, 11,689,512 / 25,557,032 weights.
    assert len(list(net18.parameters())) == 62 - 2
    assert len(list(net50.parameters())) == 161 - 2
    assert sum(p.numel() for p in net18.parameters()) == 11_689_512 - (512 * 1000 + 1000)
    assert sum(p.numel() for p in net50.parameters()) == 25_557_032 - (2048 * 1000 + 1000)
    assert tuple(r50["layer3.5.conv3.weight"].shape) == (1024, 256, 1, 1)


def test_bottleneck_strides_on_its_3x3_convolution_v1_5():
    block = ResNet(Bottleneck, (1, 1, 1, 1)).layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)
    torch.manual_seed(3)
    for bn in (block.bn1, block.bn2, block.bn3, block.downsample[1]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    block.eval()
    x = torch.randn(1, 256, 9, 9)

    def bn(t, m):
        return (t - m.running_mean[:, None, None]) / torch.sqrt(m.running_var[:, None, None] + m.eps) \
            * m.weight[:, None, None] + m.bias[:, None, None]

    out = F.relu(bn(F.conv2d(x, block.conv1.weight), block.bn1))
    out = F.relu(bn(F.conv2d(out, block.conv2.weight, stride=2, padding=1), block.bn2))
    out = bn(F.conv2d(out, block.conv3.weight), block.bn3)
    shortcut = bn(F.conv2d(x, block.downsample[0].weight, stride=2), block.downsample[1])
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.relu(out + shortcut), rtol=1e-4, atol=1e-4)


def test_four_channel_trunk_and_first_conv_expansion():
    net = resnet18(in_channels=4, output_layers=("layer3",)).eval()
    assert tuple(net.conv1.weight.shape) == (64, 4, 7, 7)
    with torch.no_grad():
        assert tuple(net(torch.randn(1, 4, 288, 288))["layer3"].shape) == (1, 256, 18, 18)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        net(torch.randn(1, 3, 64, 64))
    rgb = torch.randn(64, 3, 7, 7)
    grown = expand_first_conv_weight(rgb)
    assert tuple(grown.shape) == (64, 4, 7, 7)
    torch.testing.assert_close(grown[:, :3], rgb)
    torch.testing.assert_close(grown[:, 3], (rgb[:, 0] + rgb[:, 1] + rgb[:, 2]) / 3)
    # A thermal image equal to the grey mean of an RGB image adds the same response as the RGB part.
    image = torch.randn(1, 3, 16, 16)
    grey = image.mean(1, keepdim=True)
    rgb_response = F.conv2d(grey.expand(-1, 3, -1, -1), rgb)
    torch.testing.assert_close(F.conv2d(torch.cat([torch.zeros_like(image), grey], 1), grown),
                               rgb_response / 3, rtol=1e-4, atol=1e-4)
    adapted = adapt_state_dict_in_channels({"conv1.weight": rgb, "bn1.weight": torch.ones(64)}, 4)
    torch.testing.assert_close(adapted["conv1.weight"], grown)
    assert adapt_state_dict_in_channels({"conv1.weight": rgb}, 3)["conv1.weight"] is rgb
    with pytest.raises(ValueError, match="3 input channels to 5"):
        adapt_state_dict_in_channels({"conv1.weight": rgb}, 5)
    with pytest.raises(ValueError, match="conv1.weight"):
        adapt_state_dict_in_channels({"fc.weight": rgb}, 4)


def test_normalisation_and_thermal_replication():
    image = torch.tensor([255 * m for m in IMAGENET_MEAN]).view(1, 3, 1, 1).expand(2, 3, 4, 5)
    torch.testing.assert_close(normalize_image(image), torch.zeros(2, 3, 4, 5))
    white = normalize_image(torch.full((1, 3, 2, 2), 255.0))
    torch.testing.assert_close(white[0, :, 0, 0], torch.tensor([(1 - m) / s for m, s in
                                                               zip(IMAGENET_MEAN, IMAGENET_STD)]))
    assert normalize_image(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)).dtype == torch.float32
    thermal = torch.arange(6.0).view(1, 1, 2, 3)
    three = thermal_to_three_channels(thermal)
    assert tuple(three.shape) == (1, 3, 2, 3)
    assert all(torch.equal(three[:, c:c + 1], thermal) for c in range(3))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        thermal_to_three_channels(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        normalize_image(torch.zeros(3, 2, 2))


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="resnet34"):
        build_resnet("resnet34")
    with pytest.raises(ValueError, match="layer5"):
        resnet18(output_layers=("layer5",))
    assert resnet18(output_layers="layer1").output_layers == ("layer1",)
    assert build_resnet("resnet50").arch == "resnet50"
