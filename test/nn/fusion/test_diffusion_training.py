"""Slow: a short training of the diffusion block on a synthetic fusion task, comparing the
two parameterisations of the noise estimate (see rgbt_tracking/nn/fusion/diffusion.py).

The target fused feature is a fixed function of the two conditions, tanh(conv3x3(concat)).
After a few hundred Adam steps, DDIM samples with U predicting v stay within the target's
scale, while with U predicting the noise directly the x_0 estimate at t = T is amplified
~157 times and the samples are off by orders of magnitude.
"""
from __future__ import annotations

import pytest
import torch

from rgbt_tracking.nn.fusion import build_generative_fusion

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

CHANNELS, SIZE, ITERATIONS = 16, 7, 300


def synthetic_batch(mixer, batch, generator):
    f_rgb = torch.randn(batch, CHANNELS, SIZE, SIZE, generator=generator)
    f_thermal = torch.randn(batch, CHANNELS, SIZE, SIZE, generator=generator)
    with torch.no_grad():
        target = torch.tanh(mixer(torch.cat([f_rgb, f_thermal], dim=1)))
    return f_rgb, f_thermal, target


def sample_errors(prediction):
    """Relative MSE (MSE / target variance) of DDIM samples with 1 and 4 steps."""
    torch.manual_seed(0)
    mixer = torch.nn.Conv2d(2 * CHANNELS, CHANNELS, 3, padding=1)
    block = build_generative_fusion("diffusion", CHANNELS,
                                    {"unet_channels": 16, "prediction": prediction})
    optimizer = torch.optim.Adam(block.generator_parameters(), lr=1e-3)
    data = torch.Generator().manual_seed(1)
    for _ in range(ITERATIONS):
        f_rgb, f_thermal, target = synthetic_batch(mixer, 8, data)
        _, losses = block.generator_losses(f_rgb, f_thermal, target)
        optimizer.zero_grad()
        losses["gen"].backward()
        optimizer.step()
    f_rgb, f_thermal, target = synthetic_batch(mixer, 32, torch.Generator().manual_seed(2))
    errors = {}
    with torch.no_grad():
        for steps in (1, 4):
            block.sampling_steps = steps
            fused = block(f_rgb, f_thermal, torch.Generator().manual_seed(3))
            errors[steps] = ((fused - target) ** 2).mean().item() / target.var().item()
    return errors


def test_v_prediction_samples_stay_on_scale_where_noise_prediction_blows_up():
    v_errors = sample_errors("v")
    epsilon_errors = sample_errors("epsilon")
    print(f"relative MSE of DDIM samples: v {v_errors}, epsilon {epsilon_errors}")
    assert v_errors[1] < 4.0 and v_errors[4] < 4.0
    assert epsilon_errors[1] > 50 * v_errors[1]
    assert epsilon_errors[4] > 50 * v_errors[4]
