"""The conditional U-shaped network: time embedding by hand, any spatial size, the split
stem equal to one 1x1 convolution on the concatenated input, and its errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rgbt_tracking.nn.fusion.unet import ConditionalUNet, sinusoidal_time_embedding

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_unet(**kwargs) -> ConditionalUNet:
    torch.manual_seed(0)
    options = dict(in_channels=4, condition_channels=6, out_channels=4, base_channels=8,
                   levels=2, time_embedding_dim=8)
    options.update(kwargs)
    return ConditionalUNet(**options)


def test_sinusoidal_embedding_by_hand():
    embedding = sinusoidal_time_embedding(torch.tensor([0, 1, 7]), 4)
    # dim 4: frequencies 10000 ** (-0/2) = 1 and 10000 ** (-1/2) = 0.01.
    expected = [[0.0, 0.0, 1.0, 1.0],
                [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01)],
                [math.sin(7), math.sin(0.07), math.cos(7), math.cos(0.07)]]
    torch.testing.assert_close(embedding, torch.tensor(expected), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_time_embedding(torch.tensor([1]), 5)


@pytest.mark.parametrize("size", [(1, 1), (7, 7), (25, 25), (31, 31), (6, 13)])
def test_any_size_is_padded_inside_and_cropped_back(size):
    unet = small_unet().double()  # float64: a 1x1 input pads to constant maps (GroupNorm)
    height, width = size
    x = torch.randn(2, 4, height, width, dtype=torch.float64)
    conditions = torch.randn(2, 6, height, width, dtype=torch.float64)
    t = torch.tensor([3, 800])
    out = unet(x, conditions, t)
    assert out.shape == (2, 4, height, width)
    # Same as padding the input by hand (replicate, bottom/right, to a multiple of 4).
    pad = (0, (-width) % 4, 0, (-height) % 4)
    padded = unet(F.pad(x, pad, mode="replicate"), F.pad(conditions, pad, mode="replicate"), t)
    torch.testing.assert_close(out, padded[:, :, :height, :width], rtol=1e-9, atol=1e-9)


def test_split_stem_is_one_1x1_convolution_on_the_concatenation():
    unet = small_unet()
    x, conditions = torch.randn(1, 4, 5, 5), torch.randn(1, 6, 5, 5)
    weight = torch.cat([unet.stem_inputs.weight, unet.stem_conditions.weight], dim=1)
    direct = F.conv2d(torch.cat([x, conditions], dim=1), weight, unet.stem_conditions.bias)
    split = unet.prepare_conditions(conditions).stem_term + unet.stem_inputs(x)
    torch.testing.assert_close(split, direct, rtol=1e-5, atol=1e-6)
    # A prepared condition gives the same output as the raw one.
    t = torch.tensor([10])
    torch.testing.assert_close(unet(x, unet.prepare_conditions(conditions), t),
                               unet(x, conditions, t))


def test_the_time_step_changes_the_output():
    unet = small_unet()
    x, conditions = torch.randn(1, 4, 7, 7), torch.randn(1, 6, 7, 7)
    early, late = unet(x, conditions, torch.tensor([1])), unet(x, conditions, torch.tensor([900]))
    assert (early - late).abs().max() > 1e-3


def test_network_without_inputs_or_time():
    unet = small_unet(in_channels=0, time_embedding_dim=None)
    assert unet(None, torch.randn(1, 6, 3, 9)).shape == (1, 4, 3, 9)
    assert unet.stem_inputs is None and not hasattr(unet, "time_mlp")


def test_errors_name_the_problem():
    unet = small_unet()
    with pytest.raises(ValueError, match="conditions must be"):
        unet(torch.randn(1, 4, 5, 5), torch.randn(1, 5, 5, 5), torch.tensor([1]))
    with pytest.raises(ValueError, match="inputs must be"):
        unet(torch.randn(1, 3, 5, 5), torch.randn(1, 6, 5, 5), torch.tensor([1]))
    with pytest.raises(ValueError, match="time_steps"):
        unet(torch.randn(1, 4, 5, 5), torch.randn(1, 6, 5, 5))
    no_time = small_unet(time_embedding_dim=None)
    with pytest.raises(ValueError, match="no time embedding"):
        no_time(torch.randn(1, 4, 5, 5), torch.randn(1, 6, 5, 5), torch.tensor([1]))
    with pytest.raises(ValueError, match="levels"):
        small_unet(levels=-1)
