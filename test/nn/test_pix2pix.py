"""pix2pix networks: U-Net shapes and layer sizes from the paper, the PatchGAN's 70x70
receptive field measured by back-propagation, and the RGB -> thermal inference helper."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgbt_tracking.nn.pix2pix import (PatchDiscriminator, UNetGenerator,
                                      translate_rgb_to_thermal, working_size)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_generator(**kwargs) -> UNetGenerator:
    torch.manual_seed(0)
    options = dict(num_downs=6, base_channels=8)
    options.update(kwargs)
    return UNetGenerator(**options)


def test_small_generator_maps_rgb_to_one_channel_in_tanh_range():
    generator = small_generator()
    out = generator(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert out.shape == (2, 1, 64, 64)
    assert out.abs().max() <= 1.0


def test_default_generator_256_matches_the_paper_layer_list():
    generator = UNetGenerator()
    out = generator(torch.zeros(1, 3, 256, 256))
    assert out.shape == (1, 1, 256, 256)
    # Paper (Sec. 6.1.1): encoder C64-C128-C256-C512-C512-C512-C512-C512, decoder
    # CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 (U-Net inputs, doubled by the skips),
    # then a convolution to the output channels. 4x4 kernels, batch norm everywhere except
    # the first encoder layer; no bias before a norm.
    encoder_in = [3, 64, 128, 256, 512, 512, 512, 512]
    encoder_out = [64, 128, 256, 512, 512, 512, 512, 512]
    decoder_in = [512, 1024, 1024, 1024, 1024, 512, 256]
    decoder_out = [512, 512, 512, 512, 256, 128, 64]
    expected = 0
    for i, (cin, cout) in enumerate(zip(encoder_in, encoder_out)):
        has_norm = 0 < i < 7
        expected += cin * cout * 16 + (2 * cout if has_norm else cout)
    for cin, cout in zip(decoder_in, decoder_out):
        expected += cin * cout * 16 + 2 * cout
    expected += 128 * 1 * 16 + 1
    assert sum(p.numel() for p in generator.parameters()) == expected
    dropouts = [m for m in generator.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3 and all(m.p == 0.5 for m in dropouts)


def test_dropout_is_active_in_training_mode_only():
    generator = small_generator()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    generator.train()
    assert not torch.allclose(generator(x), generator(x))
    generator.eval()
    assert torch.equal(generator(x), generator(x))


def test_instance_norm_generator_has_no_running_statistics():
    generator = small_generator(norm="instance")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())
    assert generator(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_weights_initialised_from_normal_0_002():
    generator = UNetGenerator(num_downs=5, base_channels=32)
    weights = torch.cat([m.weight.detach().flatten() for m in generator.modules()
                         if isinstance(m, torch.nn.Conv2d)])
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("kwargs, message", [
    (dict(norm="group"), "norm must be one of"),
    (dict(num_downs=1), "num_downs must be an integer >= 2"),
    (dict(base_channels=0), "base_channels must be"),
])

def test_generator_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNetGenerator(**kwargs)


def test_generator_rejects_sizes_not_divisible_by_two_to_num_downs():
    generator = small_generator()
    with pytest.raises(ValueError, match="divisible by 64, got 48x64"):
        generator(torch.zeros(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r"expects \(B, 3, H, W\)"):
        generator(torch.zeros(1, 1, 64, 64))


def test_patch_discriminator_receptive_field_is_70_by_backpropagation():
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(base_channels=8).eval()
    assert discriminator.receptive_field() == 70
    image = torch.rand(1, 4, 128, 128, requires_grad=True)
    logits = discriminator(image)
    assert logits.shape == (1, 1, 14, 14)
    logits[0, 0, 7, 7].backward()
    rows = torch.nonzero(image.grad.abs().sum(dim=(0, 1)).sum(dim=1)).flatten()
    cols = torch.nonzero(image.grad.abs().sum(dim=(0, 1)).sum(dim=0)).flatten()
    assert int(rows.max() - rows.min() + 1) == 70
    assert int(cols.max() - cols.min() + 1) == 70
    # total stride 8, padding offset 1 + 2 + 4 + 8 + 8 = 23 -> patch starts at 7 * 8 - 23
    assert int(rows.min()) == 33 and int(cols.min()) == 33


@pytest.mark.parametrize("size, expected", [(256, 30), (64, 6), (70, 6), (72, 7)])
def test_patch_discriminator_output_size(size, expected):
    discriminator = PatchDiscriminator(base_channels=4)
    out = discriminator(torch.zeros(1, 4, size, size))
    assert out.shape == (1, 1, expected, expected)
    assert discriminator.output_size(size, size) == (expected, expected)


def test_patch_discriminator_layer_widths_and_input_check():
    discriminator = PatchDiscriminator()
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert convs[0].in_channels == 4
    with pytest.raises(ValueError, match=r"expects \(B, 4, H, W\)"):
        discriminator(torch.zeros(1, 3, 64, 64))


def test_working_size_rounds_to_nearest_multiple():
    assert working_size(50, 70, 16) == (48, 64)
    assert working_size(5, 300, 16) == (16, 304)
    assert working_size(1080, 1920, 256, short_side=286) == (256, 512)


def test_translate_maps_images_to_minus_one_one_and_back():
    generator = small_generator(num_downs=4)
    # Output layer forced to the constant tanh(atanh(0.5)) = 0.5 -> (0.5 + 1) * 127.5 = 191.25
    final = generator.output[1]
    torch.nn.init.zeros_(final.weight)
    torch.nn.init.constant_(final.bias, math.atanh(0.5))
    seen = []
    generator.encoder[0].register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    rgb = np.zeros((50, 70, 3), np.uint8)
    rgb[:, 35:] = 255
    generator.train()
    thermal = translate_rgb_to_thermal(generator, rgb)
    assert thermal.shape == (50, 70) and thermal.dtype == np.uint8
    assert np.all(thermal == 191)
    assert seen[0].shape == (1, 3, 48, 64)
    assert float(seen[0].min()) == -1.0 and float(seen[0].max()) == 1.0
    assert generator.training, "train mode must be restored"


def test_translate_is_deterministic_and_checks_input():
    generator = small_generator(num_downs=4)
    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    first = translate_rgb_to_thermal(generator, rgb)
    assert np.array_equal(first, translate_rgb_to_thermal(generator, rgb))
    assert first.std() > 0
    with pytest.raises(ValueError, match="H x W x 3 uint8.*float32"):
        translate_rgb_to_thermal(generator, rgb.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(40, 40\)"):
        translate_rgb_to_thermal(generator, rgb[:, :, 0])
    with pytest.raises(ValueError, match="map 3 channels to 1"):
        translate_rgb_to_thermal(UNetGenerator(out_channels=3, num_downs=3, base_channels=4), rgb)
