"""Weight files: torchvision-named state dicts round-trip, fc is ignored, errors are clear."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rgbt_tracking.nn.resnet import resnet18
from rgbt_tracking.nn.weights import (LoadReport, load_imagenet_backbone, load_matching,
                                      load_state_dict_file)


def torchvision_like_state_dict(seed: int = 0, counters: bool = True) -> dict:
    """Random tensors under every torchvision ResNet-18 key (taken from our module), plus fc."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in resnet18().state_dict().items():
        if key.endswith("num_batches_tracked"):
            if counters:
                state[key] = torch.tensor(1234)
        else:
            state[key] = torch.rand(value.shape, generator=generator) + 0.1
    state["fc.weight"] = torch.randn(1000, 512, generator=generator)
    state["fc.bias"] = torch.randn(1000, generator=generator)
    return state


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18-f37072fd.pth"
    state = torchvision_like_state_dict()
    torch.save(state, path)
    return path, state


def test_round_trip_through_a_file_ignores_fc(weights_file):
    path, state = weights_file
    assert "layer4.1.bn2.running_var" in state and "fc.weight" in state
    net = resnet18()
    report = load_imagenet_backbone(net, path)
    assert report.complete and sorted(report.ignored) == ["fc.bias", "fc.weight"]
    loaded = net.state_dict()
    assert set(loaded) == set(state) - {"fc.weight", "fc.bias"}
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key


def test_four_channel_trunk_gets_the_mean_rgb_filter_for_thermal(weights_file):
    path, state = weights_file
    net = resnet18(in_channels=4)
    load_imagenet_backbone(net, path)
    rgb = state["conv1.weight"]
    torch.testing.assert_close(net.conv1.weight[:, :3], rgb)
    torch.testing.assert_close(net.conv1.weight[:, 3], rgb.mean(dim=1))
    torch.testing.assert_close(net.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])


@pytest.mark.parametrize("entry", ["state_dict", "net", "model"])
def test_checkpoint_wrappers_are_unpacked(tmp_path, entry):
    state = {"a.weight": torch.ones(2, 3)}
    path = tmp_path / "checkpoint.pth"
    torch.save({entry: state, "epoch": 7}, path)
    loaded = load_state_dict_file(path)
    assert list(loaded) == ["a.weight"] and torch.equal(loaded["a.weight"], state["a.weight"])


def test_missing_file_names_the_path_and_where_weights_come_from(tmp_path):
    missing = tmp_path / "nowhere" / "resnet50-0676ba61.pth"
    with pytest.raises(FileNotFoundError) as error:
        load_state_dict_file(missing)
    assert str(missing) in str(error.value) and "nothing is downloaded" in str(error.value)
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth"):
        load_imagenet_backbone(resnet18(), tmp_path / "absent.pth")


def test_not_a_checkpoint_or_not_tensors_is_a_value_error(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights")
    with pytest.raises(ValueError, match="notes.pth is not a torch checkpoint"):
        load_state_dict_file(text)
    mixed = tmp_path / "mixed.pth"
    torch.save({"w": torch.zeros(1), "name": "resnet"}, mixed)
    with pytest.raises(ValueError, match="not tensors: name"):
        load_state_dict_file(mixed)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(ValueError, match="expected a non-empty state dict"):
        load_state_dict_file(listed)


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
    state = torchvision_like_state_dict()
    state["layer3.0.conv2.weight"] = torch.zeros(256, 256, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    net = resnet18()
    before = net.conv1.weight.detach().clone()
    with pytest.raises(ValueError) as error:
        load_imagenet_backbone(net, path)
    message = str(error.value)
    assert "layer3.0.conv2.weight" in message
    assert "expected [256, 256, 3, 3]" in message and "got [256, 256, 1, 1]" in message
    assert torch.equal(net.conv1.weight, before)          # strict failure copies nothing


def test_non_strict_reports_and_loads_what_matches():
    net = resnet18()
    state = torchvision_like_state_dict(counters=False)
    del state["layer1.0.bn1.bias"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    state["bn1.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"1 missing: layer1.0.bn1.bias[\s\S]*1 unexpected: layer5"):
        load_matching(net, state)
    report = load_matching(net, state, strict=False)
    assert isinstance(report, LoadReport) and not report.complete
    assert report.missing == ["layer1.0.bn1.bias"]
    assert report.unexpected == ["layer5.0.conv1.weight"]
    assert report.shape_mismatches == [("bn1.weight", (64,), (3,))]
    assert len(report.defaulted) == 20 and all(k.endswith("num_batches_tracked") for k in report.defaulted)
    assert torch.equal(net.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
    assert torch.equal(net.bn1.weight, torch.ones(64))    # mis-shaped entry left alone


def test_prefix_selects_a_sub_network():
    head = nn.Linear(3, 2)
    state = {"head.weight": torch.full((2, 3), 4.0), "head.bias": torch.ones(2),
             "backbone.conv1.weight": torch.zeros(1)}
    report = load_matching(head, state, prefix="head.", ignore=())
    assert report.complete and report.ignored == ["backbone.conv1.weight"]
    assert torch.equal(head.weight, torch.full((2, 3), 4.0))
